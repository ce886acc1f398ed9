"""`manage.py seed_demo [--seed N]`: load the demo data set once (see demo.builder)."""

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from customers.models import Customer
from cxm.lib.progress import Progress, format_count, format_seconds
from demo.builder import DemoBuilder
from demo.seed_surveys import CSAT_SURVEY
from demo.shape import DEMO_PASSWORD, DEMO_PREFIX
from surveys.models import Survey


class Command(BaseCommand):
    help = _lazy("Load the demo data (customers, purchases, teams, agents, tickets, surveys) once.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=1, help=_("Same seed, same data."))
        parser.add_argument(
            "--customers", type=int, default=200, help=_("How many customers to create.")
        )
        parser.add_argument(
            "--tickets", type=int, default=2400, help=_("How many tickets to create.")
        )
        parser.add_argument(
            "--anchor",
            default="",
            help=_("YYYY-MM-DD: the data ends at this day's midnight (default: today)."),
        )

    def handle(
        self, *args, seed: int, customers: int, tickets: int, anchor: str, **options
    ) -> None:
        if customers < 1 or tickets < 0:
            raise CommandError(_("--customers must be at least 1 and --tickets at least 0."))
        today = timezone.localdate()
        try:
            anchor = date.fromisoformat(anchor) if anchor else today
        except ValueError as exc:
            raise CommandError(_("--anchor must be a date as YYYY-MM-DD.")) from exc
        if anchor > today:
            raise CommandError(_("--anchor cannot be in the future."))
        started = time.monotonic()
        midnight = datetime(
            anchor.year, anchor.month, anchor.day, tzinfo=ZoneInfo(settings.TIME_ZONE)
        )
        builder = DemoBuilder(
            seed=seed, customers=customers, tickets=tickets, anchor=midnight, out=self.stdout
        )
        if Customer.objects.filter(external_id__startswith=DEMO_PREFIX).exists():
            if Survey.objects.filter(name=CSAT_SURVEY).exists():
                self.stdout.write(_("The demo data is already loaded: nothing to do."))
            else:
                # A demo loaded before it had surveys gets them now.
                with transaction.atomic():
                    self._seed_surveys(builder)
            return
        with transaction.atomic():
            builder.build_users()
            builder.build_teams()
            with Progress(customers, _("Demo customers"), self.stdout, summary=False) as progress:
                builder.build_customers(progress)
            with Progress(tickets, _("Demo tickets"), self.stdout, summary=False) as progress:
                builder.build_tickets(progress)
            self._seed_surveys(builder)
        counts = builder.counts
        self.stdout.write(
            _(
                "Demo data loaded in %(time)s: %(users)s users, %(teams)s teams, "
                "%(customers)s customers, %(purchases)s purchases, %(events)s customer events, "
                "%(tickets)s tickets, %(messages)s messages, %(ticket_events)s ticket events. "
                "Logins: admin, manager, agent (password “%(password)s”)."
            )
            % {
                "time": format_seconds(time.monotonic() - started),
                "users": format_count(counts.users),
                "teams": format_count(counts.teams),
                "customers": format_count(counts.customers),
                "purchases": format_count(counts.purchases),
                "events": format_count(counts.customer_events),
                "tickets": format_count(counts.tickets),
                "messages": format_count(counts.messages),
                "ticket_events": format_count(counts.ticket_events),
                "password": DEMO_PASSWORD,
            }
        )

    def _seed_surveys(self, builder: DemoBuilder) -> None:
        with Progress(None, _("Demo surveys"), self.stdout, summary=False) as progress:
            builder.build_surveys(progress)
        counts = builder.counts
        self.stdout.write(
            _(
                "Demo surveys: %(surveys)s surveys, %(invitations)s invitations, "
                "%(responses)s responses, %(follow_ups)s follow-up tickets."
            )
            % {
                "surveys": format_count(counts.surveys),
                "invitations": format_count(counts.invitations),
                "responses": format_count(counts.responses),
                "follow_ups": format_count(counts.follow_ups),
            }
        )
