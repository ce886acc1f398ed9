"""Breakdowns: the main KPIs side by side for each team, agent, channel, category or
customer segment over a period.

A row is one value of the dimension that has data in the period: tickets received
(created) or resolved (solved) in it, or answers given in it (and, for segments, any
customer of that segment, whose churn and CLV can be measured). Each cell is computed by
the KPI function itself (analytics.kpis.REGISTRY) with the row's value as a KpiFilter
dimension, so a breakdown always agrees with the overview and the API.

Cells are read like the overview (analytics.selectors: rollups for past clean days, raw
rows for the rest). Query count: one query to find the rows, then a few per KPI per row:
it grows with the number of groups (teams, agents…), not with the number of tickets or
answers.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer
from surveys.models import Response
from tickets.models import Team, Ticket

from .filters import KpiFilter
from .kpis.customers import shared_lifecycle
from .selectors import KpiReader

DIMENSIONS: dict[str, Promise] = {
    "team": _("Team"),
    "agent": _("Agent"),
    "channel": _("Channel"),
    "category": _("Category"),
    "segment": _("Segment"),
}
DEFAULT_DIMENSION = "team"

# Short column headings; the glossary explains each one in full.
COLUMNS: dict[str, Promise] = {
    "nps": _("NPS"),
    "csat": _("CSAT"),
    "ces": _("CES"),
    "first_response_time": _("First response (median)"),
    "first_response_time_business": _("First response, business hours (median)"),
    "resolution_time": _("Resolution time (median)"),
    "resolution_time_business": _("Resolution time, business hours (median)"),
    "resolution_rate": _("Resolution rate"),
    "fcr_rate": _("First contact resolution"),
    "sla_compliance": _("SLA compliance"),
    "churn_rate": _("Churn rate"),
    "clv": _("CLV (historical)"),
}
SUPPORT_KPIS = (
    "nps",
    "csat",
    "ces",
    "first_response_time",
    "first_response_time_business",
    "resolution_time",
    "resolution_time_business",
    "resolution_rate",
    "fcr_rate",
    "sla_compliance",
)
# Customer KPIs only follow the segment filter, so they only make sense on segment rows.
SEGMENT_KPIS = (*SUPPORT_KPIS, "churn_rate", "clv")
TIME_KPIS = frozenset(
    {
        "first_response_time",
        "first_response_time_business",
        "resolution_time",
        "resolution_time_business",
    }
)
PERCENT_KPIS = frozenset({"csat", "resolution_rate", "fcr_rate", "sla_compliance", "churn_rate"})

SORT_BY_LABEL = "label"


@dataclass(frozen=True)
class Cell:
    kpi: str
    value: float | None  # seconds for the time KPIs (their median)
    n: int
    small_sample: bool

    @property
    def is_time(self) -> bool:
        return self.kpi in TIME_KPIS

    @property
    def is_percent(self) -> bool:
        return self.kpi in PERCENT_KPIS

    @property
    def duration(self) -> str:
        """A time KPI's median for people: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
        if self.value is None:
            return ""
        if self.value < 60:
            return gettext("%(seconds)d s") % {"seconds": round(self.value)}
        hours, minutes = divmod(round(self.value / 60), 60)
        days, hours = divmod(hours, 24)
        if days:
            return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
        if hours:
            return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
        return gettext("%(minutes)d min") % {"minutes": minutes}


@dataclass(frozen=True)
class BreakdownRow:
    key: int | str
    label: str
    cells: tuple[Cell, ...]

    def cell(self, kpi: str) -> Cell:
        return next(cell for cell in self.cells if cell.kpi == kpi)


@dataclass(frozen=True)
class Breakdown:
    by: str
    columns: tuple[str, ...]
    rows: tuple[BreakdownRow, ...]
    sort: str
    descending: bool


def breakdown_columns(by: str) -> tuple[str, ...]:
    return SEGMENT_KPIS if by == "segment" else SUPPORT_KPIS


def breakdown_sort_keys(by: str) -> tuple[str, ...]:
    return (SORT_BY_LABEL, *breakdown_columns(by))


def _activity(f: KpiFilter) -> tuple[Q, Q]:
    """Tickets received or resolved in the period; answers given in it."""
    tickets = Q(created_at__gte=f.start, created_at__lt=f.end) | Q(
        solved_at__gte=f.start, solved_at__lt=f.end
    )
    answers = Q(answered_at__gte=f.start, answered_at__lt=f.end)
    return tickets, answers


def _distinct(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _no_value_label(by: str) -> str:
    return str(_("(no channel)") if by == "channel" else _("(none)"))


def breakdown_groups(by: str, f: KpiFilter) -> list[tuple[int | str, str]]:
    """The rows of a breakdown: (the KpiFilter value, a label), for every value of the
    dimension with data in the period. Tickets without a team and answers without an
    agent have no row (a KpiFilter of None means "no filter"); an empty channel,
    category or segment has its own row."""
    tickets, answers = _activity(f)
    active_tickets = Ticket.objects.filter(tickets).order_by()
    active_answers = Response.objects.filter(answers).order_by()
    if by == "team":
        teams = Team.objects.filter(
            Q(pk__in=active_tickets.values("team_id")) | Q(pk__in=active_answers.values("team_id"))
        ).order_by("name")
        return [(team.pk, team.name) for team in teams]
    if by == "agent":
        # Agent credit as in the ticket KPIs: whoever solved it, else its assignee.
        agents = get_user_model().objects.filter(
            Q(pk__in=active_tickets.values("solved_by_id"))
            | Q(pk__in=active_tickets.filter(solved_by__isnull=True).values("assignee_id"))
            | Q(pk__in=active_answers.values("agent_id"))
        )
        agents = agents.order_by("first_name", "last_name", "username")
        return [(user.pk, user.get_full_name() or user.get_username()) for user in agents]
    if by == "channel":
        values = _distinct(
            [
                *active_tickets.values_list("channel", flat=True).distinct(),
                *active_answers.values_list("channel", flat=True).distinct(),
            ]
        )
        labels = dict(Channel.choices)
        return [(value, str(labels.get(value, value)) or _no_value_label(by)) for value in values]
    if by == "category":
        values = _distinct(
            [
                *active_tickets.values_list("category", flat=True).distinct(),
                *active_answers.values_list("category", flat=True).distinct(),
            ]
        )
        return [(value, value or _no_value_label(by)) for value in values]
    if by == "segment":
        values = _distinct(
            [
                *active_tickets.values_list("customer__segment", flat=True).distinct(),
                *active_answers.values_list("segment", flat=True).distinct(),
                *Customer.objects.order_by().values_list("segment", flat=True).distinct(),
            ]
        )
        return [(value, value or _no_value_label(by)) for value in values]
    raise ValueError(f"unknown breakdown dimension {by!r}")


def _cell(read: KpiReader, kpi: str, f: KpiFilter) -> Cell:
    figures = read(kpi, f)
    value = figures["median_s"] if kpi in TIME_KPIS else figures["value"]
    return Cell(kpi=kpi, value=value, n=figures["n"], small_sample=figures["small_sample"])


def breakdown_table(
    *, by: str, f: KpiFilter, sort: str = SORT_BY_LABEL, descending: bool = False
) -> Breakdown:
    """The breakdown of the main KPIs by `by` over the filter's period, sorted by the
    row label or by a KPI column's value. Rows without a value ("no data") sort last in
    either direction; ties keep the label order."""
    if by not in DIMENSIONS:
        raise ValueError(f"unknown breakdown dimension {by!r}")
    columns = breakdown_columns(by)
    if sort not in breakdown_sort_keys(by):
        raise ValueError(f"cannot sort a {by} breakdown by {sort!r}")
    read = KpiReader(upto=f.date_to)
    with shared_lifecycle():
        rows = [
            BreakdownRow(
                key=key,
                label=label,
                cells=tuple(_cell(read, kpi, replace(f, **{by: key})) for kpi in columns),
            )
            for key, label in breakdown_groups(by, f)
        ]
    rows.sort(key=lambda row: row.label.casefold())
    if sort == SORT_BY_LABEL:
        if descending:
            rows.reverse()
    else:
        with_value = [row for row in rows if row.cell(sort).value is not None]
        without = [row for row in rows if row.cell(sort).value is None]
        with_value.sort(key=lambda row: row.cell(sort).value, reverse=descending)
        rows = with_value + without
    return Breakdown(by=by, columns=columns, rows=tuple(rows), sort=sort, descending=descending)
