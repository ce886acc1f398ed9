"""Drivers: what pulls NPS and CSAT down, and views joining answers with tickets and
customers.

- driver_tables: NPS or CSAT per category, team and channel, each group's detractor (or
  low-CSAT) share and its "impact": how many points the overall score would rise if the
  group scored the overall score. With overall score O over N answers and a group
  scoring g over n of them, the overall with the group at O is (O·N - g·n + O·n) ÷ N, so
  impact = that - O = (O - g)·n ÷ N. One grouped query per dimension.
- poor_comments: free text left in responses with a detractor NPS (0-6) or a low CSAT
  (1-2), newest first, a page at a time (page_size + 1 rows fetched, never a COUNT).
- csat_by_first_response: CSAT by how long the ticket waited for its first reply.
- customers_by_latest_nps: churn rate and historical CLV by the group of each customer's
  latest NPS answer.

Answers count on the local day they were given and carry the dimensions copied from the
ticket (as in analytics.kpis.surveys).
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer, Purchase
from surveys.models import Answer, Question

from .filters import KpiFilter
from .kpis import SMALL_SAMPLE
from .kpis.customers import Stage, latest_change_before, lifecycle_changes, stage_before
from .kpis.surveys import response_filter

NPS = "nps"
CSAT = "csat"
METRICS: dict[str, Promise] = {NPS: _("NPS"), CSAT: _("CSAT")}

DETRACTOR_MAX = 6
LOW_CSAT_MAX = 2

# Dimension → (the Response field grouped on, the field giving its label).
DIMENSIONS: dict[str, tuple[Promise, str, str]] = {
    "category": (_("Category"), "response__category", "response__category"),
    "team": (_("Team"), "response__team_id", "response__team__name"),
    "channel": (_("Channel"), "response__channel", "response__channel"),
}


@dataclass(frozen=True)
class DriverRow:
    key: int | str | None
    label: str
    n: int
    score: float | None  # NPS (-100..100) or CSAT % (0..100); None without answers
    poor_share: float | None  # % detractors or % CSAT 1-2
    impact: float | None  # points the overall score would rise with this group at it

    @property
    def small_sample(self) -> bool:
        return self.n < SMALL_SAMPLE


@dataclass(frozen=True)
class DriverTable:
    dimension: str
    label: Promise
    metric: str
    overall: float | None
    n: int
    rows: tuple[DriverRow, ...]


def impact(*, overall: float, total: int, score: float, n: int) -> float:
    """Points the overall score would rise if a group of n answers scoring `score` scored
    the overall instead: ((overall·total - score·n + overall·n) ÷ total) - overall."""
    return (overall * total - score * n + overall * n) / total - overall


def _score(metric: str, good: int, poor: int, n: int) -> float | None:
    if not n:
        return None
    if metric == NPS:
        return 100 * (good - poor) / n
    return 100 * good / n


def _group_label(dimension: str, key: object, name: object) -> str:
    if dimension == "team":
        return str(name) if name else str(_("(no team)"))
    if dimension == "channel":
        return str(dict(Channel.choices).get(key, key)) if key else str(_("(no channel)"))
    return str(key) if key else str(_("(none)"))


def driver_table(*, dimension: str, metric: str, f: KpiFilter) -> DriverTable:
    """One dimension's drivers for NPS or CSAT over the filter, sorted by impact,
    largest first (groups without answers are not rows). One query."""
    label, key_field, name_field = DIMENSIONS[dimension]
    question_type = Question.Type.NPS if metric == NPS else Question.Type.CSAT
    good = Q(score__gte=9) if metric == NPS else Q(score__gte=4)
    poor = Q(score__lte=DETRACTOR_MAX) if metric == NPS else Q(score__lte=LOW_CSAT_MAX)
    groups = (
        Answer.objects.filter(
            response_filter(f, prefix="response__"),
            question_type=question_type,
            score__isnull=False,
        )
        .order_by()
        .values(key_field, name_field)
        .annotate(n=Count("id"), good=Count("id", filter=good), poor=Count("id", filter=poor))
    )
    groups = list(groups)
    total = sum(group["n"] for group in groups)
    overall = _score(
        metric,
        sum(group["good"] for group in groups),
        sum(group["poor"] for group in groups),
        total,
    )
    rows = []
    for group in groups:
        score = _score(metric, group["good"], group["poor"], group["n"])
        rows.append(
            DriverRow(
                key=group[key_field],
                label=_group_label(dimension, group[key_field], group[name_field]),
                n=group["n"],
                score=score,
                poor_share=100 * group["poor"] / group["n"],
                impact=impact(overall=overall, total=total, score=score, n=group["n"]),
            )
        )
    rows.sort(key=lambda row: (-row.impact, row.label.casefold()))
    return DriverTable(
        dimension=dimension, label=label, metric=metric, overall=overall, n=total, rows=tuple(rows)
    )


def driver_tables(*, metric: str, f: KpiFilter) -> list[DriverTable]:
    return [driver_table(dimension=dimension, metric=metric, f=f) for dimension in DIMENSIONS]


# --- Comments of detractors and low CSAT ------------------------------------------------

POOR_KINDS: dict[str, Promise] = {
    "": _("Detractors and low CSAT"),
    NPS: _("Detractors (NPS 0-6)"),
    CSAT: _("Low CSAT (1-2)"),
}


def _scores(question_type: str) -> QuerySet[Answer]:
    return Answer.objects.filter(
        response=OuterRef("response"), question_type=question_type, score__isnull=False
    )


def poor_comments(*, f: KpiFilter, kind: str = "", page: int = 1, page_size: int = 25) -> dict:
    """Answers with text in responses given in the period (matching the filter) that
    scored NPS 0-6 or CSAT 1-2 (`kind` "nps" or "csat" keeps one), newest first. Returns
    {"comments": the page's answers (with nps_score / csat_score), "has_next": bool}."""
    detractor = Exists(_scores(Question.Type.NPS).filter(score__lte=DETRACTOR_MAX))
    low_csat = Exists(_scores(Question.Type.CSAT).filter(score__lte=LOW_CSAT_MAX))
    if kind == NPS:
        poor = Q(detractor=True)
    elif kind == CSAT:
        poor = Q(low_csat=True)
    else:
        poor = Q(detractor=True) | Q(low_csat=True)
    answers = (
        Answer.objects.filter(response_filter(f, prefix="response__"))
        .exclude(text="")
        .alias(detractor=detractor, low_csat=low_csat)
        .filter(poor)
        .annotate(
            nps_score=Subquery(_scores(Question.Type.NPS).values("score")[:1]),
            csat_score=Subquery(_scores(Question.Type.CSAT).values("score")[:1]),
        )
        .select_related("response__customer")
        .order_by("-response__answered_at", "-id")
    )
    offset = (page - 1) * page_size
    rows = list(answers[offset : offset + page_size + 1])
    return {"comments": rows[:page_size], "has_next": len(rows) > page_size}


# --- CSAT by first-response-time bucket -----------------------------------------------

FRT_BUCKETS: tuple[tuple[Promise, timedelta | None], ...] = (
    (_("Under 1 h"), timedelta(hours=1)),
    (_("1-4 h"), timedelta(hours=4)),
    (_("4-24 h"), timedelta(hours=24)),
    (_("Over 24 h"), None),
)


@dataclass(frozen=True)
class BucketRow:
    label: Promise
    n: int
    csat: float | None
    mean: float | None

    @property
    def small_sample(self) -> bool:
        return self.n < SMALL_SAMPLE


def with_frt_bucket(answers: QuerySet[Answer]) -> QuerySet[Answer]:
    """The answers whose ticket had a first reply, annotated with frt_bucket: the index
    in FRT_BUCKETS of how long that reply took."""
    created = F("response__ticket__created_at")
    whens = [
        When(Q(response__ticket__first_response_at__lt=created + limit), then=Value(index))
        for index, (_label, limit) in enumerate(FRT_BUCKETS)
        if limit is not None
    ]
    return answers.exclude(response__ticket__first_response_at__isnull=True).annotate(
        frt_bucket=Case(*whens, default=Value(len(FRT_BUCKETS) - 1), output_field=IntegerField())
    )


def csat_by_first_response(f: KpiFilter) -> list[BucketRow]:
    """CSAT (% 4-5 and mean) of the CSAT answers given in the period, by the first
    response time of the answer's ticket (first_response_at - created_at): under 1 h,
    1 h to under 4 h, 4 h to under 24 h, 24 h or more. Answers without a ticket, or
    whose ticket never had a first reply, are left out. One query."""
    answers = Answer.objects.filter(
        response_filter(f, prefix="response__"),
        question_type=Question.Type.CSAT,
        score__isnull=False,
    )
    groups = (
        with_frt_bucket(answers)
        .order_by()
        .values("frt_bucket")
        .annotate(n=Count("id"), satisfied=Count("id", filter=Q(score__gte=4)), total=Sum("score"))
    )
    by_bucket = {group["frt_bucket"]: group for group in groups}
    rows = []
    for index, (label, _limit) in enumerate(FRT_BUCKETS):
        group = by_bucket.get(index, {"n": 0, "satisfied": 0, "total": 0})
        n = group["n"]
        rows.append(
            BucketRow(
                label=label,
                n=n,
                csat=100 * group["satisfied"] / n if n else None,
                mean=group["total"] / n if n else None,
            )
        )
    return rows


# --- Churn and CLV by the customer's latest NPS group ---------------------------------

NPS_GROUPS: dict[str, Promise] = {
    "promoter": _("Promoters (9-10)"),
    "passive": _("Passives (7-8)"),
    "detractor": _("Detractors (0-6)"),
    "none": _("No NPS answer"),
}


@dataclass(frozen=True)
class NpsGroupRow:
    key: str
    label: Promise
    churn_base: int  # customers at the start of the period
    churn_rate: float | None
    buyers: int
    clv: float | None  # historical: margin up to the period's end ÷ buyers

    @property
    def small_sample(self) -> bool:
        return self.churn_base < SMALL_SAMPLE


def latest_nps_group(f: KpiFilter, customer_ref: str) -> tuple[Case, Subquery]:
    """The group of the customer's latest NPS answer given before the period's end (of
    the filter's survey, if any), "none" without one; and the score itself, to be
    aliased as `latest_nps` where the group is used."""
    latest = Answer.objects.filter(
        response__customer=OuterRef(customer_ref),
        response__answered_at__lt=f.end,
        question_type=Question.Type.NPS,
        score__isnull=False,
    )
    if f.survey is not None:
        latest = latest.filter(response__survey_id=f.survey)
    score = Subquery(latest.order_by("-response__answered_at", "-id").values("score")[:1])
    return Case(
        When(Q(latest_nps__gte=9), then=Value("promoter")),
        When(Q(latest_nps__gte=7), then=Value("passive")),
        When(Q(latest_nps__isnull=False), then=Value("detractor")),
        default=Value("none"),
    ), score


def customers_by_latest_nps(f: KpiFilter) -> list[NpsGroupRow]:
    """Churn rate (as the churn_rate KPI: customers active at the start who churned
    during the period ÷ customers active at the start) and historical CLV (margin of
    every purchase up to the period's end ÷ customers who bought) per group of each
    customer's latest NPS answer before the period's end. Honours `segment` and
    `survey`; the ticket dimensions do not describe customers and are ignored. Two
    queries."""
    group, score = latest_nps_group(f, "pk")
    start, end = f.start, f.end
    in_period = {"occurred_at__gte": start, "occurred_at__lt": end}
    customers = Customer.objects.all()
    if f.segment is not None:
        customers = customers.filter(segment=f.segment)
    customers = customers.alias(
        latest_nps=score,
        join_logged=Exists(lifecycle_changes(from_stage=Stage.LEAD, to_stage=Stage.CUSTOMER)),
        churn_logged=Exists(lifecycle_changes(to_stage=Stage.CHURNED)),
        churned_in_period=Exists(lifecycle_changes(to_stage=Stage.CHURNED, **in_period)),
        start_change_at=Subquery(latest_change_before(start).values("occurred_at")[:1]),
        start_change_to=Subquery(latest_change_before(start).values("to_stage")[:1]),
    ).alias(nps_group=group, start_stage=stage_before("start", start))
    active_at_start = Q(start_stage=Stage.CUSTOMER)
    churned = Q(churned_in_period=True) | Q(
        churn_logged=False, churned_at__gte=start, churned_at__lt=end
    )
    churn = customers.aggregate(
        **{
            f"{key}_{figure}": Count("pk", filter=Q(nps_group=key) & condition)
            for key in NPS_GROUPS
            for figure, condition in (
                ("base", active_at_start),
                ("lost", active_at_start & churned),
            )
        }
    )

    purchase_group, purchase_score = latest_nps_group(f, "customer_id")
    purchases = Purchase.objects.filter(occurred_at__lt=end)
    if f.segment is not None:
        purchases = purchases.filter(customer__segment=f.segment)
    money = {
        row["nps_group"]: row
        for row in purchases.alias(latest_nps=purchase_score)
        .annotate(nps_group=purchase_group)
        .order_by()
        .values("nps_group")
        .annotate(buyers=Count("customer", distinct=True), total=Sum("margin"))
    }
    rows = []
    for key, label in NPS_GROUPS.items():
        base, lost = churn[f"{key}_base"], churn[f"{key}_lost"]
        figures = money.get(key, {"buyers": 0, "total": Decimal(0)})
        buyers = figures["buyers"]
        rows.append(
            NpsGroupRow(
                key=key,
                label=label,
                churn_base=base,
                churn_rate=100 * lost / base if base else None,
                buyers=buyers,
                clv=float(figures["total"] / buyers) if buyers else None,
            )
        )
    return rows
