"""`manage.py customer_erase EXTERNAL_ID [--yes] [--reason TEXT]`: erase a customer's
personal data for good (a GDPR erasure request). Asks the operator to type the external
id again unless --yes is given."""

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from cxm.lib.exceptions import ApplicationError

from ...services import customer_erase
from ..lookup import customer_by_external_id


def _operator() -> str:
    try:
        return f"manage.py ({getpass.getuser()})"
    except (OSError, KeyError):  # no login name in some containers
        return "manage.py"


class Command(BaseCommand):
    help = _lazy(
        "Erase a customer's personal data for good, keeping the figures the KPIs count "
        "(GDPR erasure request)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("external_id", help=_("The customer's external id."))
        parser.add_argument("--yes", action="store_true", help=_("Do not ask for confirmation."))
        parser.add_argument(
            "--reason",
            default="",
            help=_("Why, for the audit log (default: the customer asked for it)."),
        )

    def handle(self, *args, external_id: str, yes: bool, reason: str, **options) -> None:
        customer = customer_by_external_id(external_id)
        if not yes:
            self.stdout.write(
                _(
                    "This erases the personal data of %(name)s <%(email)s> (external id "
                    "“%(id)s”): name, contact details, ticket subjects and messages, survey "
                    "comments. It cannot be undone."
                )
                % {"name": customer.name, "email": customer.email, "id": customer.external_id}
            )
            try:
                typed = input(_("Type the external id to confirm: "))
            except EOFError:
                typed = ""
            if typed.strip() != customer.external_id:
                raise CommandError(_("Not confirmed: nothing was erased."))
        try:
            record = customer_erase(
                customer=customer,
                actor=None,
                actor_name=_operator(),
                reason=reason or _("The customer asked for their data to be erased."),
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Erased: customer #%(id)s, %(tickets)d tickets, %(messages)d messages, "
                    "%(answers)d comments. Audit record #%(record)s."
                )
                % {
                    "id": record.customer_pk,
                    "tickets": record.counts["tickets"],
                    "messages": record.counts["messages"],
                    "answers": record.counts["answers"],
                    "record": record.pk,
                }
            )
        )
