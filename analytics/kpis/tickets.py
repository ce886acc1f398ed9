"""Support KPIs over tickets: response and resolution times (in calendar time and in
business hours), resolution, first contact resolution, reopenings and SLA compliance.

Which tickets a KPI reads, and on which local day (settings.TIME_ZONE) each one counts:

- "received": tickets created in the period (counted on the day of created_at);
- "resolved": tickets whose current resolution (solved_at) falls in the period. Reopening
  a ticket clears its solved_at, so a ticket reopened and solved again counts once, on
  the day of its last resolution, and a ticket still open after a reopening is not
  resolved at all.

Dimensions: team, channel, category and segment (the customer's) filter the tickets. The
agent filter gives each ticket to the agent credited with it: for KPIs over resolved
tickets the agent assigned when it was solved (Ticket.solved_by); for KPIs over received
tickets (first response time, the denominator of the resolution rate) that same agent if
the ticket is solved, else its current assignee. The survey filter does not apply to
tickets and is ignored. Imported tickets count like native ones.

Every answer carries `n`, its sample size, and `small_sample` (n below SMALL_SAMPLE);
percentages are 0-100 with full precision; a KPI with no tickets answers None, never 0.
"""

from collections.abc import Callable

from django.db.models import Count, Expression, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

import analytics.kpis
from analytics.filters import KpiFilter
from analytics.kpis._stats import SecondsBetween, distribution
from tickets.models import Message, Ticket


def _small(n: int) -> bool:
    # Read at call time: the package defines SMALL_SAMPLE after importing this module.
    return n < analytics.kpis.SMALL_SAMPLE


def tickets_in_scope(f: KpiFilter) -> QuerySet[Ticket]:
    """Tickets matching the filter's dimensions other than the agent."""
    tickets = Ticket.objects.order_by()
    if f.team is not None:
        tickets = tickets.filter(team_id=f.team)
    if f.channel is not None:
        tickets = tickets.filter(channel=f.channel)
    if f.category is not None:
        tickets = tickets.filter(category=f.category)
    if f.segment is not None:
        tickets = tickets.filter(customer__segment=f.segment)
    return tickets


def received_in_period(f: KpiFilter) -> Q:
    q = Q(created_at__gte=f.start, created_at__lt=f.end)
    if f.agent is not None:
        # Solved tickets belong to whoever solved them; the others to their assignee.
        q &= Q(solved_by_id=f.agent) | Q(solved_by__isnull=True, assignee_id=f.agent)
    return q


def _resolved(f: KpiFilter) -> Q:
    q = Q(solved_at__gte=f.start, solved_at__lt=f.end)
    if f.agent is not None:
        q &= Q(solved_by_id=f.agent)
    return q


def first_responded_tickets(f: KpiFilter) -> QuerySet[Ticket]:
    """Tickets received in the period that have had a first response: those
    kpi_first_response_time measures."""
    return tickets_in_scope(f).filter(received_in_period(f), first_response_at__isnull=False)


def resolved_tickets(f: KpiFilter) -> QuerySet[Ticket]:
    """Tickets resolved in the period: the base of the resolution time, first contact
    resolution, reopen rate and SLA compliance."""
    return tickets_in_scope(f).filter(_resolved(f))


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _times(tickets: QuerySet[Ticket], end: str) -> dict:
    return _durations(tickets, SecondsBetween(end, "created_at"))


def _durations(tickets: QuerySet[Ticket], seconds: str | Expression) -> dict:
    figures = distribution(tickets, seconds)
    n = figures["n"]
    return {
        "median_s": figures["median"],
        "mean_s": figures["mean"],
        "p90_s": figures["p90"],
        "n": n,
        "small_sample": _small(n),
    }


def kpi_first_response_time(f: KpiFilter) -> dict:
    """First response time: the time from a ticket's creation to the first public reply
    of an agent (Ticket.first_response_at), in seconds: its median, mean and 90th
    percentile (interpolated as PostgreSQL's percentile_cont).

    Over the tickets created in the period (each counts on the day it was created) that
    have had a first response; tickets still waiting for one are left out, not counted
    as zero. Calendar time, not business hours. n: the tickets measured."""
    return _times(first_responded_tickets(f), "first_response_at")


def kpi_resolution_time(f: KpiFilter) -> dict:
    """Resolution time: the time from a ticket's creation to its resolution (solved_at),
    in seconds: its median, mean and 90th percentile (as percentile_cont).

    Over the tickets resolved in the period, each counted on the day it was resolved; a
    reopened ticket is measured to its last resolution. Calendar time, not business
    hours; time spent pending on the customer is included. n: the tickets measured."""
    return _times(resolved_tickets(f), "solved_at")


def business_first_responded_tickets(f: KpiFilter) -> QuerySet[Ticket]:
    """The tickets kpi_first_response_time_business measures."""
    return tickets_in_scope(f).filter(
        received_in_period(f), first_response_business_s__isnull=False
    )


def business_resolved_tickets(f: KpiFilter) -> QuerySet[Ticket]:
    """The tickets kpi_resolution_time_business measures."""
    return resolved_tickets(f).filter(resolution_business_s__isnull=False)


def kpi_first_response_time_business(f: KpiFilter) -> dict:
    """First response time in business hours: the working time of the ticket's business
    calendar from its creation to the first public reply of an agent, in seconds: its
    median, mean and 90th percentile (as percentile_cont).

    The tickets of kpi_first_response_time (created in the period, each counted on the
    day it was created, that have had a first response), but only those with a business
    value (Ticket.first_response_business_s): recorded at the first reply in the calendar
    of the ticket's SLA policy; tickets whose policy counts calendar hours, or that have
    no policy, are left out. Nights, weekends and holidays do not count. n: the tickets
    measured."""
    return _durations(business_first_responded_tickets(f), F("first_response_business_s"))


def kpi_resolution_time_business(f: KpiFilter) -> dict:
    """Resolution time in business hours: the working time of the ticket's business
    calendar from its creation to its resolution, in seconds: its median, mean and 90th
    percentile (as percentile_cont).

    The tickets of kpi_resolution_time (resolved in the period, each counted on the day
    it was resolved), but only those with a business value (Ticket.resolution_business_s):
    recorded at the resolution in the calendar of the ticket's SLA policy, cleared by a
    reopening and recorded again at the next resolution; tickets without a business
    calendar are left out. Time pending on the customer within business hours is
    included. n: the tickets measured."""
    return _durations(business_resolved_tickets(f), F("resolution_business_s"))


def kpi_resolution_rate(f: KpiFilter) -> dict:
    """Resolution rate = tickets resolved in the period ÷ tickets received (created) in
    the period * 100.

    The two sets differ: a ticket received earlier and resolved now counts above the
    line only, so the rate can pass 100 when a backlog is being cleared. n: tickets
    received; resolved: tickets resolved. No ticket received → value None."""
    received, resolved = received_in_period(f), _resolved(f)
    counts = (
        tickets_in_scope(f)
        .filter(received | resolved)
        .aggregate(
            received=Count("pk", filter=received),
            resolved=Count("pk", filter=resolved),
        )
    )
    n = counts["received"]
    return {
        "value": _percent(counts["resolved"], n),
        "n": n,
        "resolved": counts["resolved"],
        "small_sample": _small(n),
    }


def public_agent_replies() -> Coalesce:
    """How many public replies agents wrote on the outer ticket."""
    replies = (
        Message.objects.filter(ticket=OuterRef("pk"), kind=Message.Kind.REPLY, from_customer=False)
        .order_by()
        .values("ticket")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(replies, output_field=IntegerField()), 0)


# A resolved ticket resolved at first contact (over tickets annotated with
# public_replies=public_agent_replies()); see kpi_fcr_rate.
FIRST_CONTACT = Q(reopen_count=0) & (
    Q(public_replies=1) | Q(public_replies=0, first_response_at__isnull=False)
)


def kpi_fcr_rate(f: KpiFilter) -> dict:
    """First contact resolution = resolved tickets with exactly one public agent reply
    and never reopened (reopen_count 0) ÷ resolved tickets * 100.

    Over the tickets resolved in the period (counted on their resolution day). Internal
    notes and the customer's messages are not replies. Imported tickets bring their
    timestamps but not their conversation: one answered (first_response_at set) with no
    stored message counts as one reply, the only one known. n: resolved tickets;
    first_contact: those resolved at first contact."""
    counts = (
        resolved_tickets(f)
        .annotate(public_replies=public_agent_replies())
        .aggregate(n=Count("pk"), first_contact=Count("pk", filter=FIRST_CONTACT))
    )
    n = counts["n"]
    return {
        "value": _percent(counts["first_contact"], n),
        "n": n,
        "first_contact": counts["first_contact"],
        "small_sample": _small(n),
    }


REOPENED = Q(reopen_count__gt=0)  # a ticket reopened at least once


def kpi_reopen_rate(f: KpiFilter) -> dict:
    """Reopen rate = resolved tickets that were reopened at least once (reopen_count > 0)
    ÷ resolved tickets * 100, over the tickets resolved in the period (counted on their
    last resolution day). n: resolved tickets; reopened: those reopened."""
    counts = resolved_tickets(f).aggregate(n=Count("pk"), reopened=Count("pk", filter=REOPENED))
    n = counts["n"]
    return {
        "value": _percent(counts["reopened"], n),
        "n": n,
        "reopened": counts["reopened"],
        "small_sample": _small(n),
    }


# A ticket with an SLA target, and one that missed it; see kpi_sla_compliance.
SLA_WITH_TARGET = Q(first_response_due_at__isnull=False) | Q(resolution_due_at__isnull=False)
SLA_MISSED = (
    Q(first_response_breached=True)
    | Q(resolution_breached=True)
    | Q(first_response_at__gt=F("first_response_due_at"))
    | Q(first_response_at__isnull=True, solved_at__gt=F("first_response_due_at"))
    | Q(solved_at__gt=F("resolution_due_at"))
)


def kpi_sla_compliance(f: KpiFilter) -> dict:
    """SLA compliance = tickets meeting both their first-response and their resolution
    target ÷ tickets with a target * 100, over the tickets resolved in the period
    (counted on their resolution day).

    A ticket has a target when its SLA policy gave it a due time (first response or
    resolution); tickets without one, imported tickets among them, are left out. A
    target is missed when the SLA clock flagged it breached, when the first reply or the
    resolution came after its due time, or when the ticket was resolved without any
    reply after the first-response due time. Due times are the stored ones, in the
    policy's business hours with time pending on the customer added. n: tickets with a
    target; met: those meeting both."""
    counts = (
        resolved_tickets(f)
        .filter(SLA_WITH_TARGET)
        .aggregate(n=Count("pk"), missed=Count("pk", filter=SLA_MISSED))
    )
    n = counts["n"]
    met = n - counts["missed"]
    return {
        "value": _percent(met, n),
        "n": n,
        "met": met,
        "small_sample": _small(n),
    }


KPIS: dict[str, Callable[[KpiFilter], dict]] = {
    "first_response_time": kpi_first_response_time,
    "first_response_time_business": kpi_first_response_time_business,
    "resolution_time": kpi_resolution_time,
    "resolution_time_business": kpi_resolution_time_business,
    "resolution_rate": kpi_resolution_rate,
    "fcr_rate": kpi_fcr_rate,
    "reopen_rate": kpi_reopen_rate,
    "sla_compliance": kpi_sla_compliance,
}
