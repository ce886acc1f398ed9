"""What the rollups hold: one Family per rollup table, saying which raw rows it sums, on
which local day each row counts, what each dimension is for it, and which counts and sums
it keeps. The same query serves the nightly build (grouped by day, written to the table)
and the live read of the days the table cannot serve yet (today, dirty days), so a figure
read from the rollups and one read live are the same sums of the same rows.

The days and the dimensions are the KPI modules' own (analytics.kpis): answers count on
the day they were given with the dimensions copied onto their Response; invitations on
the day they were sent, with their ticket's dimensions; tickets received on the day they
were created (agent: who solved them, else their assignee), tickets resolved on the day
of their current resolution (agent: who solved them); purchases on the day they occurred,
with the customer's segment.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    Expression,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate

from analytics.kpis._stats import SecondsBetween
from analytics.kpis.tickets import (
    FIRST_CONTACT,
    SLA_MISSED,
    SLA_WITH_TARGET,
    public_agent_replies,
)
from analytics.models import (
    AnswerDay,
    Dimension,
    DurationDay,
    InvitationDay,
    LoopDay,
    PurchaseDay,
    ReceivedDay,
    ResolvedDay,
)
from customers.models import Purchase
from surveys.models import Answer, Invitation, Question, Response
from tickets.models import Ticket

from .histogram import bucket_expression

# Dimensions whose values are ids (stored as text in the rollups).
ID_DIMENSIONS = {Dimension.TEAM, Dimension.AGENT, Dimension.SURVEY}

# The names the queries annotate; no source model has fields so named.
DAY, DIM = "rollup_day", "rollup_value"


def zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone())


Runs = Sequence[tuple[date | None, date]]
"""Inclusive runs of local days; a run starting at None reaches back to the first row."""


@dataclass(frozen=True)
class Family:
    name: str
    model: type[Model]
    source: Callable[[], QuerySet]
    timestamp: str
    dimensions: Mapping[str, str | Expression]
    measures: Callable[[], Mapping[str, Expression]]
    keys: Mapping[str, str] = field(default_factory=dict)  # rollup field -> source field
    metric: str = ""  # DurationDay rows: which duration

    def dimension_expression(self, dimension: str) -> Expression:
        if dimension == Dimension.ALL:
            return Value("")
        expression = self.dimensions[dimension]
        return F(expression) if isinstance(expression, str) else expression

    def in_runs(self, runs: Runs) -> Q:
        """Rows counting on the local days of `runs`."""
        q = Q(pk__in=[])
        for first, last in runs:
            bounds = {f"{self.timestamp}__lt": day_start(last + timedelta(days=1))}
            if first is not None:
                bounds[f"{self.timestamp}__gte"] = day_start(first)
            q |= Q(**bounds)
        return q

    def live(
        self, runs: Runs, dimension: str, value: object | None, *, by_day: bool = False
    ) -> QuerySet | list[dict]:
        """The rollup's figures computed from the raw rows of `runs`, for one value of a
        dimension (or every value, when `value` is None: the build), summed per key (and
        per day with by_day)."""
        rows = self.source().order_by().filter(self.in_runs(runs))
        rows = rows.annotate(**{DIM: self.dimension_expression(dimension)})
        if value is not None:
            rows = rows.filter(**{DIM: value})
        elif dimension != Dimension.ALL:
            rows = rows.filter(**{f"{DIM}__isnull": False})
        group = [*self.keys.values()]
        if by_day:
            rows = rows.annotate(**{DAY: TruncDate(self.timestamp, tzinfo=zone())})
            group.append(DAY)
        if value is None:
            group.append(DIM)
        if not group:  # one row of totals (values() with no field would group by them all)
            return [rows.aggregate(**self.measures())]
        return rows.values(*group).annotate(**self.measures())

    def fine(self, runs: Runs) -> tuple[QuerySet, dict[str, str]]:
        """The raw rows of `runs` summed per day, key and value of every dimension at
        once (the finest grouping the rollups are sums of), with the column name of each
        dimension."""
        columns = {dimension: f"rollup_by_{dimension}" for dimension in self.dimensions}
        rows = (
            self.source()
            .order_by()
            .filter(self.in_runs(runs))
            .annotate(
                **{DAY: TruncDate(self.timestamp, tzinfo=zone())},
                **{columns[d]: self.dimension_expression(d) for d in self.dimensions},
            )
        )
        group = [DAY, *columns.values(), *self.keys.values()]
        return rows.values(*group).annotate(**self.measures()), columns

    def dimension_names(self) -> list[str]:
        return [Dimension.ALL, *self.dimensions]

    def daily_dimensions(self) -> list[str]:
        """The dimensions kept per day: all of them, except for durations (see
        DurationDay), kept per day for the whole company only."""
        return [Dimension.ALL] if self.metric else self.dimension_names()


def _counted(q: Q | None = None) -> Count:
    return Count("pk", filter=q) if q is not None else Count("pk")


def _answers() -> QuerySet:
    return Answer.objects.filter(
        score__isnull=False,
        response__answered_at__isnull=False,
        question_type__in=[Question.Type.NPS, Question.Type.CSAT, Question.Type.CES],
    )


_RESPONSE_DIMENSIONS = {
    Dimension.TEAM: "team_id",
    Dimension.AGENT: "agent_id",
    Dimension.CHANNEL: "channel",
    Dimension.CATEGORY: "category",
    Dimension.SEGMENT: "segment",
    Dimension.SURVEY: "survey_id",
}


def _via(prefix: str, dimensions: Mapping[str, str]) -> dict[str, str]:
    return {name: f"{prefix}{path}" for name, path in dimensions.items()}


ANSWERS = Family(
    name="answers",
    model=AnswerDay,
    source=_answers,
    timestamp="response__answered_at",
    dimensions=_via("response__", _RESPONSE_DIMENSIONS),
    keys={"question_id": "question_id", "question_type": "question_type", "score": "score"},
    measures=lambda: {"answers": _counted()},
)

INVITATIONS = Family(
    name="invitations",
    model=InvitationDay,
    source=lambda: Invitation.objects.filter(sent_at__isnull=False),
    timestamp="sent_at",
    dimensions={
        Dimension.TEAM: "ticket__team_id",
        Dimension.AGENT: "ticket__solved_by_id",
        Dimension.CHANNEL: "ticket__channel",
        Dimension.CATEGORY: "ticket__category",
        Dimension.SEGMENT: "customer__segment",
        Dimension.SURVEY: "survey_id",
    },
    measures=lambda: {"sent": _counted(), "answered": _counted(Q(response__isnull=False))},
)

LOOPS = Family(
    name="loops",
    model=LoopDay,
    source=lambda: Response.objects.filter(follow_up_ticket__isnull=False),
    timestamp="answered_at",
    dimensions=_RESPONSE_DIMENSIONS,
    measures=lambda: {
        "follow_ups": _counted(),
        "closed": _counted(Q(loop_closed_at__isnull=False)),
    },
)

_TICKET_DIMENSIONS = {
    Dimension.TEAM: "team_id",
    Dimension.CHANNEL: "channel",
    Dimension.CATEGORY: "category",
    Dimension.SEGMENT: "customer__segment",
}
# Received tickets belong to whoever solved them, else to their assignee.
_RECEIVED_DIMENSIONS = {
    **_TICKET_DIMENSIONS,
    Dimension.AGENT: Coalesce("solved_by_id", "assignee_id"),
}
_RESOLVED_DIMENSIONS = {**_TICKET_DIMENSIONS, Dimension.AGENT: "solved_by_id"}

RECEIVED = Family(
    name="received",
    model=ReceivedDay,
    source=lambda: Ticket.objects.all(),
    timestamp="created_at",
    dimensions=_RECEIVED_DIMENSIONS,
    measures=lambda: {"received": _counted()},
)


def _resolved() -> QuerySet:
    return Ticket.objects.filter(solved_at__isnull=False).alias(
        public_replies=public_agent_replies()
    )


RESOLVED = Family(
    name="resolved",
    model=ResolvedDay,
    source=_resolved,
    timestamp="solved_at",
    dimensions=_RESOLVED_DIMENSIONS,
    measures=lambda: {
        "resolved": _counted(),
        "first_contact": _counted(FIRST_CONTACT),
        "reopened": _counted(Q(reopen_count__gt=0)),
        "sla_targets": _counted(SLA_WITH_TARGET),
        "sla_missed": _counted(SLA_WITH_TARGET & SLA_MISSED),
    },
)


def _earlier_purchase() -> Exists:
    """The outer purchase is not its customer's first (ties broken by id)."""
    return Exists(
        Purchase.objects.filter(customer=OuterRef("customer")).filter(
            Q(occurred_at__lt=OuterRef("occurred_at"))
            | Q(occurred_at=OuterRef("occurred_at"), pk__lt=OuterRef("pk"))
        )
    )


PURCHASES = Family(
    name="purchases",
    model=PurchaseDay,
    source=lambda: Purchase.objects.alias(repeat=_earlier_purchase()),
    timestamp="occurred_at",
    dimensions={Dimension.SEGMENT: "customer__segment"},
    measures=lambda: {
        "purchases": _counted(),
        "upsells": _counted(Q(kind=Purchase.Kind.UPSELL)),
        "cross_sells": _counted(Q(kind=Purchase.Kind.CROSS_SELL)),
        "amount": Coalesce(Sum("amount"), Value(Decimal("0"))),
        "margin": Coalesce(Sum("margin"), Value(Decimal("0"))),
        "first_buyers": _counted(Q(repeat=False)),
    },
)

# Durations: the value measured, in seconds, annotated as DURATION.
DURATION = "rollup_seconds"


def _durations(rows: Callable[[], QuerySet], seconds: Callable[[], Expression]):
    def source() -> QuerySet:
        return (
            rows()
            .alias(**{DURATION: seconds()})
            .filter(**{f"{DURATION}__isnull": False})
            .annotate(rollup_bucket=bucket_expression(F(DURATION)))
        )

    return source


def _duration_measures() -> dict[str, Expression]:
    return {"count": Count(DURATION), "total_s": Sum(DURATION)}


def _duration_family(metric, rows, seconds, timestamp, dimensions) -> Family:
    return Family(
        name=f"durations:{metric}",
        model=DurationDay,
        source=_durations(rows, seconds),
        timestamp=timestamp,
        dimensions=dimensions,
        keys={"bucket": "rollup_bucket"},
        measures=_duration_measures,
        metric=metric,
    )


def _business_seconds(name: str) -> Callable[[], Expression]:
    return lambda: F(name)


DURATIONS = {
    family.metric: family
    for family in (
        _duration_family(
            "first_response",
            lambda: Ticket.objects.filter(first_response_at__isnull=False),
            lambda: SecondsBetween("first_response_at", "created_at"),
            "created_at",
            _RECEIVED_DIMENSIONS,
        ),
        _duration_family(
            "resolution",
            lambda: Ticket.objects.filter(solved_at__isnull=False),
            lambda: SecondsBetween("solved_at", "created_at"),
            "solved_at",
            _RESOLVED_DIMENSIONS,
        ),
        _duration_family(
            "first_response_business",
            lambda: Ticket.objects.filter(first_response_at__isnull=False),
            _business_seconds("first_response_business_s"),
            "created_at",
            _RECEIVED_DIMENSIONS,
        ),
        _duration_family(
            "resolution_business",
            lambda: Ticket.objects.filter(solved_at__isnull=False),
            _business_seconds("resolution_business_s"),
            "solved_at",
            _RESOLVED_DIMENSIONS,
        ),
        _duration_family(
            "closed_loop",
            lambda: Response.objects.filter(
                follow_up_ticket__isnull=False, loop_closed_at__isnull=False
            ),
            lambda: SecondsBetween("loop_closed_at", "answered_at"),
            "answered_at",
            _RESPONSE_DIMENSIONS,
        ),
    )
}

FAMILIES: list[Family] = [
    ANSWERS,
    INVITATIONS,
    LOOPS,
    RECEIVED,
    RESOLVED,
    PURCHASES,
    *DURATIONS.values(),
]


def dimension_value(dimension: str, value: object) -> tuple[str, object]:
    """A filter's value as stored in the rollups (text) and as the live query compares it."""
    if dimension == Dimension.ALL:
        return "", ""
    if dimension in ID_DIMENSIONS:
        return str(value), int(value)
    return str(value), value
