"""manage.py rebuild_kpis [--from YYYY-MM-DD] [--to YYYY-MM-DD]: recompute the daily KPI
rollups from the raw rows, a month per transaction (memory stays bounded however much
data there is), showing progress and ending with a one-line summary."""

import os
import resource
import sys
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from analytics.rollups import build
from cxm.lib.progress import Progress, format_count, format_seconds


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": text}) from None


class Command(BaseCommand):
    help = "Recompute the daily KPI rollups (default: from the first day with data to yesterday)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="date_from", help="first local day (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", help="last local day (YYYY-MM-DD)")
        parser.add_argument(
            "--jobs",
            type=int,
            default=os.cpu_count() or 1,
            help="months recomputed side by side on PostgreSQL (default: one per CPU)",
        )

    def handle(self, *args, date_from=None, date_to=None, jobs=1, **options) -> None:
        first = _date(date_from) if date_from else build.first_day_with_data()
        last = _date(date_to) if date_to else build.yesterday()
        if first is None:
            build.rebuild()  # customers' lifecycle facts only: no day has data
            self.stdout.write(_("Nothing to rebuild: there is no data yet."))
            return
        if first > last:
            raise CommandError(
                _("--from (%(first)s) is after --to (%(last)s).") % {"first": first, "last": last}
            )
        started = time.monotonic()
        total_days = (last - first).days + 1
        rows = 0
        with Progress(
            total_days, _("KPI rollups (days)"), self.stderr, summary=False, log_every=0.0
        ) as progress:

            def advance(chunk_first: date, chunk_last: date, written: int) -> None:
                nonlocal rows
                rows += written
                progress.advance((chunk_last - chunk_first).days + 1)

            build.rebuild(first, last, progress=advance, jobs=max(jobs, 1))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
        self.stdout.write(
            _(
                "Rebuilt the KPI rollups of %(days)s days (%(first)s to %(last)s): "
                "%(rows)s rows in %(time)s, peak memory %(memory)s MB."
            )
            % {
                "days": format_count(total_days),
                "first": first.isoformat(),
                "last": last.isoformat(),
                "rows": format_count(rows),
                "time": format_seconds(time.monotonic() - started),
                "memory": format_count(round(peak_mb)),
            }
        )
