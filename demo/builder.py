"""`manage.py seed_demo [--seed N]`: load a realistic, deterministic demo data set once.

Everything is drawn from one random.Random(seed) (and two Faker instances seeded from
it), so the same seed gives the same names, counts and distributions. Times are placed
relative to an anchor, today's midnight in settings.TIME_ZONE unless --anchor says
otherwise: on another day the same seed gives the same data shifted to that day.

Rows are written with bulk_create, not through the services, so that 2,400 tickets load
in seconds; each ticket's history is replayed step by step (created, assigned, replies,
notes, pending, solved, reopened, closed) so that its messages, audit events and
lifecycle fields agree with each other, and nothing happens after the anchor. No
signals are sent: a historical ticket surveys nobody.
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.utils.text import slugify
from django.utils.translation import gettext as _
from faker import Faker

from accounts.models import User
from cxm import roles
from demo import content
from demo.seed_customers import CustomerHistory
from demo.seed_surveys import SurveyHistory
from demo.seed_tickets import TicketHistory
from demo.shape import (
    CALENDAR_HOURS_PRIORITIES,
    CLOSES,
    DEMO_PASSWORD,
    LOGINS,
    OPENS,
    RESPONSE,
    TEAMS,
)
from tickets.models import BusinessCalendar, SLAPolicy, Tag, Team, Ticket, WorkingHours


@dataclass
class Counts:
    users: int = 0
    teams: int = 0
    customers: int = 0
    lifecycle_changes: int = 0
    purchases: int = 0
    customer_events: int = 0
    tickets: int = 0
    messages: int = 0
    ticket_events: int = 0
    surveys: int = 0
    invitations: int = 0
    responses: int = 0
    follow_ups: int = 0


class DemoBuilder(CustomerHistory, TicketHistory, SurveyHistory):
    def __init__(self, *, seed: int, customers: int, tickets: int, anchor: datetime, out):
        self.seed = seed
        self.rng = random.Random(seed)
        self.fakers = {"es": Faker("es_ES"), "en": Faker("en_US")}
        for faker in self.fakers.values():
            faker.seed_instance(self.rng.getrandbits(32))
        self.customer_total = customers
        self.ticket_total = tickets
        self.anchor = anchor.astimezone(UTC)
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.out = out
        self.counts = Counts()

    # -- time ------------------------------------------------------------------------
    def minutes(self, median: float, sigma: float = 0.9) -> timedelta:
        """A lognormal delay: most near the median, a long tail of slow ones."""
        return timedelta(minutes=self.rng.lognormvariate(math.log(median), sigma))

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` if the desk is open then, else when it next opens."""
        local = moment.astimezone(self.tz)
        if local.weekday() < 5 and OPENS <= local.hour < CLOSES:
            return moment
        day = local.date() + timedelta(days=0 if local.hour < OPENS else 1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        opening = datetime(day.year, day.month, day.day, OPENS, tzinfo=self.tz)
        return opening.astimezone(UTC) + timedelta(minutes=self.rng.uniform(0, 40))

    def local_day_start(self, days_before_anchor: int) -> datetime:
        day = self.anchor.astimezone(self.tz).date() - timedelta(days=days_before_anchor)
        return datetime(day.year, day.month, day.day, tzinfo=self.tz)

    # -- people ----------------------------------------------------------------------
    def build_users(self) -> list[User]:
        password = make_password(DEMO_PASSWORD)
        groups = {group.name: group for group in Group.objects.all()}
        people = list(LOGINS)
        taken = {username for username, *_rest in people}
        while len(people) < len(LOGINS) + 5:
            language = "es" if len(people) % 2 else "en"
            faker = self.fakers[language]
            first, last = faker.first_name(), faker.last_name()
            username = f"{slugify(first)}.{slugify(last)}".replace("-", ".")[:30]
            if username not in taken:
                taken.add(username)
                people.append((username, first, last, language, roles.AGENT))
        self.agents: list[User] = []
        for username, first, last, language, role in people:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@cxm.example",
                    "language": language,
                    "password": password,
                    "is_staff": role == roles.ADMIN,
                    "is_superuser": role == roles.ADMIN,
                },
            )
            if created:
                user.groups.add(groups[role])
                self.counts.users += 1
            else:
                self.out.write(
                    _("User “%(username)s” already existed: left as it was.")
                    % {"username": username}
                )
            if role == roles.AGENT:
                self.agents.append(user)
            elif role == roles.MANAGER:
                self.manager = user
        return self.agents

    def build_teams(self) -> None:
        self.teams: dict[str, Team] = {}
        for index, name in enumerate(TEAMS):
            members = self.agents[2 * index : 2 * index + 2]
            team, created = Team.objects.get_or_create(name=name, defaults={"lead": members[0]})
            team.members.add(*members)
            self.teams[name] = team
            self.counts.teams += int(created)
        # Sorted: the database returns members in no particular order, and the draws must
        # not depend on it.
        self.members = {
            name: sorted(team.members.all(), key=lambda user: user.username)
            for name, team in self.teams.items()
        }
        self.tags = {name: Tag.objects.get_or_create(name=name)[0] for name in content.TAGS}
        desk_hours = self.build_calendar()
        self.sla = {}
        for priority, (_median, first_response, resolution) in RESPONSE.items():
            self.sla[priority] = SLAPolicy.objects.get_or_create(
                priority=priority,
                team=None,
                defaults={
                    "name": _("%(priority)s priority")
                    % {"priority": Ticket.Priority(priority).label},
                    "calendar": None if priority in CALENDAR_HOURS_PRIORITIES else desk_hours,
                    "first_response_minutes": first_response,
                    "resolution_minutes": resolution,
                },
            )[0]

    def build_calendar(self) -> BusinessCalendar:
        """The support desk's business hours, which most SLA targets count in."""
        calendar, created = BusinessCalendar.objects.get_or_create(
            name=_("Support desk hours"), defaults={"time_zone": settings.TIME_ZONE}
        )
        if created:
            WorkingHours.objects.bulk_create(
                WorkingHours(calendar=calendar, weekday=day, opens=time(OPENS), closes=time(CLOSES))
                for day in range(5)
            )
        return calendar
