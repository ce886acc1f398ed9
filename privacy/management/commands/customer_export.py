"""`manage.py customer_export EXTERNAL_ID [--output FILE]`: everything held about one
customer as JSON (a GDPR access request), on the standard output by default."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from ...services import customer_export
from ..lookup import customer_by_external_id


class Command(BaseCommand):
    help = _lazy("Print everything held about a customer as JSON (GDPR access request).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("external_id", help=_("The customer's external id."))
        parser.add_argument(
            "--output",
            "-o",
            default="",
            help=_("Write the JSON to this file instead of the standard output."),
        )

    def handle(self, *args, external_id: str, output: str, **options) -> None:
        customer = customer_by_external_id(external_id)
        document = json.dumps(customer_export(customer=customer), ensure_ascii=False, indent=2)
        if not output:
            self.stdout.write(document)
            return
        try:
            Path(output).write_text(document + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        self.stderr.write(_("Written to %(file)s.") % {"file": output})
