"""Business-time arithmetic for SLA clocks, as pure functions over a Schedule.

A Schedule is a time zone, working intervals per weekday (Monday = 0) and holidays.
No schedule means calendar time: every second counts.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A calendar with working hours cannot go this long without one.
_MAX_DAYS_SCANNED = 3 * 366


@dataclass(frozen=True)
class Schedule:
    time_zone: ZoneInfo
    hours: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not any(self.hours.values()):
            raise ValueError("A business calendar needs working hours on at least one day.")

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        # In UTC: Python subtracts two times of the same zone by their wall clocks,
        # which would be an hour off across a daylight-saving change.
        return [
            (
                datetime.combine(day, start, tzinfo=self.time_zone).astimezone(UTC),
                datetime.combine(
                    day if end != time(0) else day + timedelta(days=1), end, tzinfo=self.time_zone
                ).astimezone(UTC),
            )
            for start, end in sorted(self.hours.get(day.weekday(), ()))
        ]

    def _days_from(self, moment: datetime):
        day = moment.astimezone(self.time_zone).date()
        for offset in range(_MAX_DAYS_SCANNED):
            yield day + timedelta(days=offset)


def add_business_time(start: datetime, seconds: float, schedule: Schedule | None) -> datetime:
    """The moment `seconds` of working time after `start`."""
    if schedule is None:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    cursor = start = start.astimezone(UTC)
    for day in schedule._days_from(start):
        for opens, closes in schedule.intervals_on(day):
            if closes <= cursor:
                continue
            opens = max(opens, cursor)
            available = closes - opens
            if remaining <= available:
                return opens + remaining
            remaining -= available
            cursor = closes
    raise ValueError("The business calendar has no working time in the next three years.")


def business_seconds_between(start: datetime, end: datetime, schedule: Schedule | None) -> float:
    """Working seconds from `start` to `end` (negative if end is before start)."""
    if end < start:
        return -business_seconds_between(end, start, schedule)
    if schedule is None:
        return (end - start).total_seconds()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta()
    for day in schedule._days_from(start):
        if datetime.combine(day, time(0), tzinfo=schedule.time_zone).astimezone(UTC) >= end:
            break
        for opens, closes in schedule.intervals_on(day):
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta():
                total += overlap
    return total.total_seconds()


# --- The clocks on tickets -------------------------------------------------------------
# Due times and breach flags are stored on the ticket whenever something happens to it,
# so the queue sorts and filters on plain columns. The resolution clock stops while the
# ticket is pending on the customer; the working time spent paused extends its target.


def schedule_for(calendar) -> Schedule | None:
    if calendar is None:
        return None
    hours: dict[int, list[tuple[time, time]]] = {}
    for row in calendar.hours.all():
        hours.setdefault(row.weekday, []).append((row.opens, row.closes))
    return Schedule(
        time_zone=ZoneInfo(calendar.time_zone),
        hours={day: tuple(spans) for day, spans in hours.items()},
        holidays=frozenset(calendar.holidays.values_list("date", flat=True)),
    )


def policy_for(ticket):
    """The team's own policy for the ticket's priority, else the default one."""
    from django.db.models import F, Q

    from .models import SLAPolicy

    team_match = Q(team__isnull=True)
    if ticket.team_id:
        team_match |= Q(team_id=ticket.team_id)
    return (
        SLAPolicy.objects.filter(team_match, priority=ticket.priority)
        .select_related("calendar")
        .order_by(F("team").asc(nulls_last=True))
        .first()
    )


def sla_refresh(ticket, *, now: datetime) -> list[str]:
    """Recompute the ticket's policy, due times and breach flags from its facts.
    Returns the names of the fields it set (for save(update_fields=…)).

    A target met or missed is settled here; a target that runs out while nobody acts
    is flagged by the periodic sweep (tickets.services.sla_mark_breaches), which also
    notifies people, so this never raises a flag for an open clock, only keeps it."""
    fields = [
        "sla_policy",
        "first_response_due_at",
        "resolution_due_at",
        "first_response_breached",
        "resolution_breached",
    ]
    policy = policy_for(ticket)
    ticket.sla_policy = policy
    if policy is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        ticket.first_response_breached = ticket.resolution_breached = False
        return fields
    schedule = schedule_for(policy.calendar)
    due = add_business_time(ticket.created_at, policy.first_response_minutes * 60, schedule)
    ticket.first_response_due_at = due
    if ticket.first_response_at is not None:
        ticket.first_response_breached = ticket.first_response_at > due
    else:
        ticket.first_response_breached = ticket.first_response_breached and now > due
    if ticket.sla_paused_at is not None:
        ticket.resolution_due_at = None
        return fields
    due = add_business_time(
        ticket.created_at, policy.resolution_minutes * 60 + ticket.sla_paused_seconds, schedule
    )
    ticket.resolution_due_at = due
    if ticket.solved_at is not None:
        ticket.resolution_breached = ticket.solved_at > due
    else:
        ticket.resolution_breached = ticket.resolution_breached and now > due
    return fields


def sla_pause(ticket, *, now: datetime) -> list[str]:
    if ticket.sla_paused_at is not None:
        return []
    ticket.sla_paused_at = now
    ticket.resolution_due_at = None
    return ["sla_paused_at", "resolution_due_at"]


def sla_resume(ticket, *, now: datetime) -> list[str]:
    if ticket.sla_paused_at is None:
        return []
    schedule = schedule_for(ticket.sla_policy.calendar) if ticket.sla_policy else None
    ticket.sla_paused_seconds += max(
        0.0, business_seconds_between(ticket.sla_paused_at, now, schedule)
    )
    ticket.sla_paused_at = None
    return ["sla_paused_at", "sla_paused_seconds", *sla_refresh(ticket, now=now)]


# --- Response and resolution times in business hours -------------------------------------
# Recorded on the ticket when the first reply and the resolution happen, so the KPIs
# aggregate a plain column instead of walking calendars row by row.


def business_schedule(policy) -> Schedule | None:
    """The business calendar an SLA policy counts in; None when there is no policy or
    its targets count calendar hours (then a ticket has no business-hours times)."""
    if policy is None or policy.calendar_id is None:
        return None
    return schedule_for(policy.calendar)


class BusinessCalendars:
    """The business calendar of each ticket of an import or of the backfill, which the
    services do not measure at the moment it happens. Policies are looked up once per
    team and priority and schedules once per calendar, not once per ticket: use one
    instance for one job only (a calendar edited meanwhile is not seen). A calendar
    without working hours measures nothing (None); its name is kept in `unusable` so the
    job can say so."""

    def __init__(self) -> None:
        self._policies: dict[tuple[int | None, str], object] = {}
        self._schedules: dict[int, Schedule | None] = {}
        self.unusable: set[str] = set()

    def policy(self, ticket):
        """The SLA policy whose calendar the ticket's business-hours times count in: the
        one its SLA clock runs on (Ticket.sla_policy) or, for a ticket that has none
        stored (imports run no SLA clock), the one matching its team and priority."""
        if ticket.sla_policy_id:
            return ticket.sla_policy
        key = (ticket.team_id, ticket.priority)
        if key not in self._policies:
            self._policies[key] = policy_for(ticket)
        return self._policies[key]

    def schedule(self, policy) -> Schedule | None:
        if policy is None or policy.calendar_id is None:
            return None
        if policy.calendar_id not in self._schedules:
            try:
                self._schedules[policy.calendar_id] = business_schedule(policy)
            except ValueError:
                self.unusable.add(policy.calendar.name)
                self._schedules[policy.calendar_id] = None
        return self._schedules[policy.calendar_id]

    def schedule_for_ticket(self, ticket) -> Schedule | None:
        return self.schedule(self.policy(ticket))


def business_seconds_since_created(
    ticket, moment: datetime | None, schedule: Schedule | None
) -> float | None:
    """Working seconds of `schedule` from the ticket's creation to `moment`; None without
    a moment or without a business calendar (never calendar time in disguise).

    Simply the business time between the two instants: time spent pending on the
    customer is included, as in the calendar-time KPIs. Taking out only the paused
    working seconds (Ticket.sla_paused_seconds, which extend the resolution target) would
    make the figure depend on the SLA clock's rules rather than on how long the customer
    waited within business hours."""
    if moment is None or schedule is None:
        return None
    return business_seconds_between(ticket.created_at, moment, schedule)


def business_times_refresh(ticket, schedule: Schedule | None) -> list[str]:
    """Recompute both business-hours times from the ticket's first_response_at and
    solved_at (imports, the backfill, the demo data). Returns the names of the fields
    it set."""
    ticket.first_response_business_s = business_seconds_since_created(
        ticket, ticket.first_response_at, schedule
    )
    ticket.resolution_business_s = business_seconds_since_created(
        ticket, ticket.solved_at, schedule
    )
    return ["first_response_business_s", "resolution_business_s"]
