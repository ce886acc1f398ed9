"""manage.py backfill_business_times [--recompute] [--batch-size N]

Record the business-hours first response and resolution times of tickets answered or
resolved before CXM measured them (see tickets.services.tickets_backfill_business_times).
Run it once after upgrading, and with --recompute after changing a business calendar's
hours or holidays if past tickets should be measured in the new calendar."""

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cxm.lib.progress import format_count, format_seconds
from tickets.services import tickets_backfill_business_times


class Command(BaseCommand):
    help = gettext_lazy(
        "Record the business-hours first response and resolution times of tickets that "
        "lack them, in the calendar of their SLA policy. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recompute",
            action="store_true",
            help=_("Measure every answered or resolved ticket again, not only those missing it."),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help=_("Tickets per transaction (default 500)."),
        )

    def handle(self, *args, recompute: bool, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        started = time.monotonic()
        result = tickets_backfill_business_times(recompute=recompute, batch_size=batch_size)
        for name in sorted(result.unusable_calendars):
            message = _(
                "The business calendar “%(name)s” has no working hours: its tickets have "
                "no business-hours times."
            ) % {"name": name}
            self.stderr.write(self.style.WARNING(message))
        self.stdout.write(
            ngettext(
                "Business-hours times written for %(updated)s of %(examined)s ticket "
                "examined, in %(time)s.",
                "Business-hours times written for %(updated)s of %(examined)s tickets "
                "examined, in %(time)s.",
                result.examined,
            )
            % {
                "updated": format_count(result.updated),
                "examined": format_count(result.examined),
                "time": format_seconds(time.monotonic() - started),
            }
        )
