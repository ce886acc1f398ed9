"""Survey KPIs: NPS, CSAT, CES, survey response rate and the closed loop.

Answers count on the local day they were given (Response.answered_at, company time
zone). Their dimensions (team, agent, channel, category, segment) are the ones copied
onto the Response from the ticket when the customer answered, so a ticket moved to
another team later does not move its answers. `survey` filters on the answer's survey.
Imported answers (source "import") count exactly like answers given on the survey page.
"""

import math
from collections.abc import Callable

from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

import analytics.kpis
from analytics.filters import KpiFilter
from analytics.kpis._stats import SecondsBetween, distribution
from surveys.models import Answer, Invitation, Question, Response

Kpi = Callable[[KpiFilter], dict]

Z_95 = 1.96

# Normalised agreement scale for CES: 1 (strongly disagree) … 7 (strongly agree); the top
# three points (5, 6, 7) are "agree".
CES_POINTS = 7
CES_AGREE_FROM = 5


def _small(n: int) -> bool:
    # Read at call time: the package defines SMALL_SAMPLE after importing this module.
    return n < analytics.kpis.SMALL_SAMPLE


def _share(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def response_filter(f: KpiFilter, prefix: str = "") -> Q:
    """Responses answered in the period that match the filter's dimensions; `prefix`
    reaches the Response from another model (e.g. "response__" from an Answer)."""
    q = Q(**{f"{prefix}answered_at__gte": f.start, f"{prefix}answered_at__lt": f.end})
    for dimension, field in (
        ("team", "team_id"),
        ("agent", "agent_id"),
        ("channel", "channel"),
        ("category", "category"),
        ("segment", "segment"),
        ("survey", "survey_id"),
    ):
        value = getattr(f, dimension)
        if value is not None:
            q &= Q(**{f"{prefix}{field}": value})
    return q


def scored_answers(f: KpiFilter, question_type: str) -> QuerySet[Answer]:
    return Answer.objects.filter(
        response_filter(f, prefix="response__"), question_type=question_type, score__isnull=False
    )


# The answers each NPS and CSAT figure counts, over scored_answers() of their type.
PROMOTERS = Q(score__gte=9)
PASSIVES = Q(score__gte=7, score__lte=8)
DETRACTORS = Q(score__lte=6)
SATISFIED = Q(score__gte=4)


def kpi_nps(f: KpiFilter) -> dict:
    """Net Promoter Score over the 0-10 answers given in the period.

    Promoters score 9-10, passives 7-8, detractors 0-6. NPS = 100 * (promoters -
    detractors) ÷ answers, from -100 to +100. margin95 is the 95% margin of error:
    1.96 * 100 * √((p + d - (p - d)²) ÷ N), p and d the promoter and detractor shares.
    n = answers; no answers → value and margin None.
    """
    counts = scored_answers(f, Question.Type.NPS).aggregate(
        n=Count("id"),
        promoters=Count("id", filter=PROMOTERS),
        passives=Count("id", filter=PASSIVES),
        detractors=Count("id", filter=DETRACTORS),
    )
    return nps_figures(counts["promoters"], counts["passives"], counts["detractors"])


def nps_figures(promoters: int, passives: int, detractors: int) -> dict:
    """The NPS answer from its three counts (shared with the rollups)."""
    n = promoters + passives + detractors
    value = margin = None
    if n:
        p, d = promoters / n, detractors / n
        value = 100 * (promoters - detractors) / n
        # max(0, …) only guards against a rounding residue below zero when p + d is 0 or 1.
        margin = Z_95 * 100 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n)
    return {
        "value": value,
        "n": n,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "margin95": margin,
        "small_sample": _small(n),
    }


def kpi_csat(f: KpiFilter) -> dict:
    """Customer satisfaction over the 1-5 answers given in the period.

    CSAT = 100 * (answers of 4 or 5) ÷ answers; mean = the average score. n = answers;
    no answers → value and mean None.
    """
    figures = scored_answers(f, Question.Type.CSAT).aggregate(
        n=Count("id"),
        satisfied=Count("id", filter=SATISFIED),
        mean=Avg(Cast("score", FloatField())),
    )
    n = figures["n"]
    return {
        "value": _share(figures["satisfied"], n),
        "n": n,
        "mean": figures["mean"] if n else None,
        "small_sample": _small(n),
    }


def kpi_ces(f: KpiFilter) -> dict:
    """Customer effort over the CES answers given in the period, on a common 1-7
    agreement scale ("the company made it easy to handle my issue").

    Each answer is read on its own question's scale (scale_min..scale_max, 1-7 when
    unset). On a reversed question a high score means hard, so the score is flipped
    first (agreement = low + high - score); then the scale is mapped linearly onto 1-7
    (a 1-10 answer a becomes 1 + (a - 1) * 6 ÷ 9). value = the mean of the normalised
    answers; agree_share = % of answers in the top three points (5-7). n = answers; no
    answers → value and agree_share None.
    """
    figures = ces_answers(f).aggregate(
        n=Count("id"),
        mean=Avg(
            1.0 + Cast("agreement_scaled", FloatField()) / Cast("scale_steps", FloatField()),
            output_field=FloatField(),
        ),
        agreeing=Count("id", filter=CES_AGREEING),
    )
    n = figures["n"]
    return {
        "value": figures["mean"] if n else None,
        "n": n,
        "agree_share": _share(figures["agreeing"], n),
        "small_sample": _small(n),
    }


# An agreeing CES answer (top three points of 1-7), over ces_answers(); see kpi_ces.
CES_AGREEING = Q(agreement_scaled__gte=F("agree_threshold"))


def ces_answers(f: KpiFilter) -> QuerySet[Answer]:
    """The CES answers given in the period, annotated with agreement_scaled and
    scale_steps (their normalised agreement is 1 + agreement_scaled ÷ scale_steps) and
    agree_threshold; see kpi_ces."""
    default_low, default_high = Question.DEFAULT_SCALES[Question.Type.CES]
    low = Coalesce("question__scale_min", Value(default_low))
    high = Coalesce("question__scale_max", Value(default_high))
    answers = scored_answers(f, Question.Type.CES).annotate(
        # Points above the bottom of the scale, in the agreeing direction.
        agreement_steps=Case(
            When(question__reversed=True, then=high - F("score")),
            default=F("score") - low,
            output_field=IntegerField(),
        ),
        scale_steps=high - low,
    )
    steps = CES_POINTS - 1
    answers = answers.annotate(
        # Normalised ≥ 5 ⇔ 1 + steps * agreement ÷ scale ≥ 5 ⇔ steps * agreement ≥
        # (5 - 1) * scale: compared in integers, so exact on every database.
        agreement_scaled=F("agreement_steps") * steps,
        agree_threshold=F("scale_steps") * (CES_AGREE_FROM - 1),
    )
    return answers


def _invitation_q(f: KpiFilter) -> Q:
    """Invitations sent in the period matching the filter. An invitation that has not
    been answered has no Response to copy dimensions from, so they come from its
    ticket (agent credit: the agent who solved it) and its customer's segment."""
    q = Q(sent_at__gte=f.start, sent_at__lt=f.end)
    for dimension, field in (
        ("team", "ticket__team_id"),
        ("agent", "ticket__solved_by_id"),
        ("channel", "ticket__channel"),
        ("category", "ticket__category"),
        ("segment", "customer__segment"),
        ("survey", "survey_id"),
    ):
        value = getattr(f, dimension)
        if value is not None:
            q &= Q(**{field: value})
    return q


def invitations_sent(f: KpiFilter) -> QuerySet[Invitation]:
    """The invitations kpi_response_rate counts: sent in the period, matching the filter."""
    return Invitation.objects.filter(_invitation_q(f))


ANSWERED = Q(response__isnull=False)  # an invitation with an answer


def kpi_response_rate(f: KpiFilter) -> dict:
    """Survey response rate: invitations answered ÷ invitations sent * 100.

    The invitations are those sent in the period (each counts on the local day of
    sent_at); one is answered when it has a Response, whenever the answer came. n =
    invitations sent; none sent → None. Ticket dimensions come from the invitation's
    ticket (relationship invitations have none, so a ticket filter leaves them out).
    """
    counts = invitations_sent(f).aggregate(n=Count("id"), answered=Count("id", filter=ANSWERED))
    n = counts["n"]
    return {
        "value": _share(counts["answered"], n),
        "n": n,
        "small_sample": _small(n),
    }


def follow_up_responses(f: KpiFilter) -> QuerySet[Response]:
    """Responses given in the period that opened a follow-up ticket (kpi_closed_loop_rate)."""
    return Response.objects.filter(response_filter(f), follow_up_ticket__isnull=False)


LOOP_CLOSED = Q(loop_closed_at__isnull=False)  # a follow-up whose loop is closed


def kpi_closed_loop_rate(f: KpiFilter) -> dict:
    """Closed-loop rate and time, over the responses given in the period that opened a
    follow-up ticket (poor answers: detractors, CSAT 1-2, the worst CES band).

    value = responses whose loop is closed (loop_closed_at set) ÷ responses with a
    follow-up * 100. median_s and mean_s: time from the answer to the loop being closed,
    in seconds, over the closed loops only (None when none is closed yet). n =
    responses with a follow-up; none → value None.
    """
    responses = follow_up_responses(f)
    counts = responses.aggregate(n=Count("id"), closed=Count("id", filter=LOOP_CLOSED))
    n = counts["n"]
    loop_times = distribution(
        responses.filter(LOOP_CLOSED),
        SecondsBetween("loop_closed_at", "answered_at"),
    )
    return {
        "value": _share(counts["closed"], n),
        "n": n,
        "median_s": loop_times["median"],
        "mean_s": loop_times["mean"],
        "small_sample": _small(n),
    }


KPIS: dict[str, Kpi] = {
    "nps": kpi_nps,
    "csat": kpi_csat,
    "ces": kpi_ces,
    "response_rate": kpi_response_rate,
    "closed_loop_rate": kpi_closed_loop_rate,
}
