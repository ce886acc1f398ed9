"""NPS, CSAT, CES, survey response rate and closed loop, computed by the database."""

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.tests.factories import agent
from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.kpis.surveys import (
    kpi_ces,
    kpi_closed_loop_rate,
    kpi_csat,
    kpi_nps,
    kpi_response_rate,
)
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys.models import Answer, Invitation, Question, Response, Survey
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

MARCH = KpiFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
MID_MARCH = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"


@pytest.fixture
def survey() -> Survey:
    return Survey.objects.create(name="After support")


@pytest.fixture
def someone() -> Customer:
    return CustomerFactory()


def question(survey: Survey, kind: str, **fields) -> Question:
    return Question.objects.create(
        survey=survey, type=kind, text_en="How was it?", text_es="¿Qué tal?", **fields
    )


def answer(
    question: Question,
    score: int | None,
    customer: Customer,
    *,
    at: datetime = MID_MARCH,
    **response_fields,
) -> Answer:
    response = Response.objects.create(
        survey=question.survey, customer=customer, answered_at=at, **response_fields
    )
    return Answer.objects.create(
        response=response, question=question, question_type=question.type, score=score
    )


def answers(question: Question, customer: Customer, *scores: int, **response_fields) -> None:
    for index, score in enumerate(scores):
        answer(
            question,
            score,
            customer,
            at=MID_MARCH + timedelta(minutes=index),
            **response_fields,
        )


def test_every_survey_kpi_is_registered_for_the_api():
    assert REGISTRY["nps"] is kpi_nps
    assert REGISTRY["csat"] is kpi_csat
    assert REGISTRY["ces"] is kpi_ces
    assert REGISTRY["response_rate"] is kpi_response_rate
    assert REGISTRY["closed_loop_rate"] is kpi_closed_loop_rate


# --- NPS -------------------------------------------------------------------------------


def test_nps_matches_bains_worked_example(survey, someone):
    # NPS = % promoters - % detractors (Reichheld, "The One Number You Need to Grow",
    # HBR 2003; Bain & Company). Bain's example: 100 answers, 60 promoters, 25 passives,
    # 15 detractors → NPS = 60% - 15% = 45.
    # Margin (DESIGN.md): 1.96 · 100 · √((0.60 + 0.15 - 0.45²) / 100) = 14.5027 (by hand).
    nps = question(survey, "nps")
    answers(nps, someone, *([10] * 30 + [9] * 30 + [8] * 15 + [7] * 10 + [3] * 10 + [0] * 5))

    result = kpi_nps(MARCH)

    assert result["value"] == pytest.approx(45.0)
    assert (result["n"], result["promoters"], result["passives"], result["detractors"]) == (
        100,
        60,
        25,
        15,
    )
    assert result["margin95"] == pytest.approx(196 * math.sqrt(0.5475 / 100))
    assert result["margin95"] == pytest.approx(14.5027, abs=1e-4)
    assert result["small_sample"] is False


def test_nps_bands_split_at_6_7_and_8_9(survey, someone):
    nps = question(survey, "nps")
    answers(nps, someone, 6, 7, 8, 9)

    result = kpi_nps(MARCH)

    assert (result["detractors"], result["passives"], result["promoters"]) == (1, 2, 1)
    assert result["value"] == 0.0


def test_nps_of_only_promoters_is_100_with_no_margin(survey, someone):
    answers(question(survey, "nps"), someone, 9, 10, 10)

    result = kpi_nps(MARCH)

    assert result["value"] == 100.0
    assert result["margin95"] == 0.0


def test_nps_of_only_detractors_is_minus_100(survey, someone):
    answers(question(survey, "nps"), someone, 0, 3, 6)

    assert kpi_nps(MARCH)["value"] == -100.0


def test_nps_of_one_answer_is_flagged_as_a_small_sample(survey, someone):
    answers(question(survey, "nps"), someone, 8)

    assert kpi_nps(MARCH) == {
        "value": 0.0,
        "n": 1,
        "promoters": 0,
        "passives": 1,
        "detractors": 0,
        "margin95": 0.0,
        "small_sample": True,
    }


def test_nps_of_an_empty_period_is_no_data_rather_than_zero():
    assert kpi_nps(MARCH) == {
        "value": None,
        "n": 0,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
        "margin95": None,
        "small_sample": True,
    }


def test_nps_keeps_full_precision(survey, someone):
    answers(question(survey, "nps"), someone, 10, 8, 8)

    assert kpi_nps(MARCH)["value"] == pytest.approx(100 / 3, abs=1e-12)


def test_an_answer_counts_on_its_local_day_in_madrid(survey, someone):
    # 23:30 UTC on 31 December is 00:30 on 1 January in Madrid.
    answer(question(survey, "nps"), 10, someone, at=datetime(2025, 12, 31, 23, 30, tzinfo=UTC))
    december = KpiFilter(date_from=date(2025, 12, 1), date_to=date(2025, 12, 31))
    new_years_day = KpiFilter(date_from=date(2026, 1, 1), date_to=date(2026, 1, 1))

    assert kpi_nps(december)["n"] == 0
    assert kpi_nps(new_years_day)["n"] == 1


def test_unscored_and_other_kinds_of_answers_do_not_count_towards_nps(survey, someone):
    answers(question(survey, "nps"), someone, 10)
    answer(question(survey, "nps", position=1, required=False), None, someone)
    answers(question(survey, "csat", position=2), someone, 1)

    assert kpi_nps(MARCH)["n"] == 1


def test_imported_answers_count_like_answers_from_the_survey_page(survey, someone):
    nps = question(survey, "nps")
    answer(nps, 10, someone, source=Response.Source.IMPORT)
    answer(nps, 0, someone, at=MID_MARCH + timedelta(hours=1))

    result = kpi_nps(MARCH)

    assert (result["n"], result["value"]) == (2, 0.0)


def test_answer_filters_use_the_dimensions_copied_onto_the_response(survey, someone):
    billing, sales = TeamFactory(name="Billing"), TeamFactory(name="Sales")
    ana = agent(username="ana")
    nps = question(survey, "nps")
    other_survey = Survey.objects.create(name="Relationship")
    answer(
        nps,
        10,
        someone,
        team=billing,
        agent=ana,
        channel="chat",
        category="refunds",
        segment="enterprise",
    )
    answer(
        nps,
        0,
        someone,
        at=MID_MARCH + timedelta(hours=1),
        team=sales,
        channel="email",
        category="billing",
        segment="smb",
    )
    answer(question(other_survey, "nps"), 5, someone, at=MID_MARCH + timedelta(hours=2))

    def nps_for(**dimension) -> tuple[int, float | None]:
        result = kpi_nps(replace(MARCH, **dimension))
        return result["n"], result["value"]

    assert nps_for() == (3, 100 * (1 - 2) / 3)
    assert nps_for(team=billing.pk) == (1, 100.0)
    assert nps_for(agent=ana.pk) == (1, 100.0)
    assert nps_for(channel="email") == (1, -100.0)
    assert nps_for(category="refunds") == (1, 100.0)
    assert nps_for(segment="smb") == (1, -100.0)
    assert nps_for(survey=other_survey.pk) == (1, -100.0)
    assert nps_for(team=billing.pk, channel="email") == (0, None)


# --- CSAT ------------------------------------------------------------------------------


def test_csat_is_the_share_of_4_and_5_with_the_mean(survey, someone):
    # CSAT as usually published (share of "satisfied" 4-5 answers on a 1-5 scale):
    # of 10 answers, 8 are 4 or 5 → CSAT 80%. Mean of 5,5,5,4,4,4,4,4,2,1 = 38 / 10 = 3.8.
    answers(question(survey, "csat"), someone, 5, 5, 5, 4, 4, 4, 4, 4, 2, 1)

    assert kpi_csat(MARCH) == {
        "value": 80.0,
        "n": 10,
        "mean": pytest.approx(3.8),
        "small_sample": True,
    }


def test_csat_of_only_3s_is_zero_not_no_data(survey, someone):
    answers(question(survey, "csat"), someone, 3, 3)

    result = kpi_csat(MARCH)

    assert (result["value"], result["mean"]) == (0.0, 3.0)


def test_csat_of_an_empty_period_or_filter_is_no_data(survey, someone):
    answers(question(survey, "csat"), someone, 5)

    empty = {"value": None, "n": 0, "mean": None, "small_sample": True}
    assert kpi_csat(replace(MARCH, channel="phone")) == empty
    assert kpi_csat(KpiFilter(date_from=date(2026, 4, 1), date_to=date(2026, 4, 30))) == empty


# --- CES -------------------------------------------------------------------------------


def test_ces_on_the_default_1_to_7_agreement_scale(survey, someone):
    # Hand-computed: 7, 5, 4, 2 → mean 4.5; agree (5-7): 2 of 4 = 50%.
    answers(question(survey, "ces"), someone, 7, 5, 4, 2)

    assert kpi_ces(MARCH) == {
        "value": 4.5,
        "n": 4,
        "agree_share": 50.0,
        "small_sample": True,
    }


def test_a_reversed_1_to_10_difficulty_scale_is_flipped_and_mapped_onto_1_to_7(survey, someone):
    # "How difficult was it?" 1-10: difficulty d → agreement 11 - d → 1 + (10 - d) · 6 / 9.
    # d=1 → 7; d=4 → 5 (agrees: the lowest agreeing answer); d=5 → 4.33…; d=10 → 1.
    difficulty = question(survey, "ces", scale_min=1, scale_max=10, reversed=True)
    answers(difficulty, someone, 1, 4, 5, 10)

    result = kpi_ces(MARCH)

    assert result["value"] == pytest.approx((7 + 5 + (1 + 5 * 6 / 9) + 1) / 4)
    assert result["agree_share"] == 50.0


def test_a_1_to_5_agreement_scale_is_stretched_onto_1_to_7(survey, someone):
    # a → 1 + (a - 1) · 6 / 4: 5 → 7, 4 → 5.5 (agrees), 3 → 4 (does not), 1 → 1.
    answers(question(survey, "ces", scale_min=1, scale_max=5), someone, 5, 4, 3, 1)

    result = kpi_ces(MARCH)

    assert result["value"] == pytest.approx((7 + 5.5 + 4 + 1) / 4)
    assert result["agree_share"] == 50.0


def test_a_reversed_question_on_the_default_scale_is_flipped(survey, someone):
    # Reversed 1-7: 1 (very easy) → 7, 7 → 1, 3 → 5 (agrees).
    answers(question(survey, "ces", reversed=True), someone, 1, 7, 3)

    result = kpi_ces(MARCH)

    assert result["value"] == pytest.approx(13 / 3)
    assert result["agree_share"] == pytest.approx(200 / 3)


def test_ces_mixes_questions_with_different_scales_on_one_scale(survey, someone):
    answers(question(survey, "ces"), someone, 7)
    answers(
        question(survey, "ces", position=1, scale_min=1, scale_max=10, reversed=True), someone, 10
    )

    result = kpi_ces(MARCH)

    assert (result["n"], result["value"], result["agree_share"]) == (2, 4.0, 50.0)


def test_ces_of_an_empty_period_is_no_data():
    assert kpi_ces(MARCH) == {"value": None, "n": 0, "agree_share": None, "small_sample": True}


# --- Response rate ---------------------------------------------------------------------


def invite(
    survey: Survey,
    customer: Customer,
    *,
    sent_at: datetime | None = MID_MARCH,
    answered: bool = False,
    **fields,
) -> Invitation:
    status = Invitation.Status.SENT if sent_at else Invitation.Status.SCHEDULED
    invitation = Invitation.objects.create(
        survey=survey, customer=customer, status=status, sent_at=sent_at, **fields
    )
    if answered:
        Response.objects.create(
            invitation=invitation,
            survey=survey,
            customer=customer,
            answered_at=(sent_at or MID_MARCH) + timedelta(days=20),
        )
    return invitation


def test_response_rate_is_answered_invitations_over_sent_ones(survey, someone):
    # Hand-computed: 4 sent in March, 1 answered (in April: still counts) → 25%.
    invite(survey, someone, answered=True)
    for _ in range(3):
        invite(survey, someone)
    invite(survey, someone, sent_at=None)  # not sent yet: not in the denominator
    invite(survey, someone, sent_at=datetime(2026, 2, 27, tzinfo=UTC), answered=True)

    assert kpi_response_rate(MARCH) == {"value": 25.0, "n": 4, "small_sample": True}


def test_response_rate_with_nothing_sent_is_no_data(survey, someone):
    invite(survey, someone, sent_at=None)

    assert kpi_response_rate(MARCH) == {"value": None, "n": 0, "small_sample": True}


def test_an_invitation_counts_on_the_local_day_it_was_sent(survey, someone):
    invite(survey, someone, sent_at=datetime(2025, 12, 31, 23, 30, tzinfo=UTC), answered=True)
    new_years_day = KpiFilter(date_from=date(2026, 1, 1), date_to=date(2026, 1, 1))

    assert kpi_response_rate(new_years_day)["value"] == 100.0
    assert (
        kpi_response_rate(
            replace(new_years_day, date_from=date(2025, 12, 31), date_to=date(2025, 12, 31))
        )["n"]
        == 0
    )


def test_response_rate_filters_by_the_invitations_ticket_customer_and_survey(survey, someone):
    billing = TeamFactory(name="Billing")
    ana = agent(username="ana")
    billing_ticket = TicketFactory(
        customer=someone, team=billing, channel="chat", category="refunds", solved_by=ana
    )
    invite(survey, someone, ticket=billing_ticket, answered=True)
    invite(survey, CustomerFactory(segment="enterprise"), ticket=TicketFactory())
    relationship = Survey.objects.create(name="Relationship", kind=Survey.Kind.RELATIONSHIP)
    invite(relationship, someone)

    def rate_for(**dimension) -> tuple[int, float | None]:
        result = kpi_response_rate(replace(MARCH, **dimension))
        return result["n"], result["value"]

    assert rate_for() == (3, 100 / 3)
    assert rate_for(team=billing.pk) == (1, 100.0)
    assert rate_for(agent=ana.pk) == (1, 100.0)
    assert rate_for(channel="chat") == (1, 100.0)
    assert rate_for(category="refunds") == (1, 100.0)
    assert rate_for(segment="enterprise") == (1, 0.0)
    assert rate_for(survey=relationship.pk) == (1, 0.0)
    assert rate_for(team=billing.pk, segment="enterprise") == (0, None)


# --- Closed loop -----------------------------------------------------------------------


def poor_answer(
    survey: Survey, customer: Customer, *, closed_after: timedelta | None, at=MID_MARCH
):
    return Response.objects.create(
        survey=survey,
        customer=customer,
        answered_at=at,
        follow_up_ticket=TicketFactory(customer=customer),
        loop_closed_at=at + closed_after if closed_after is not None else None,
    )


def test_closed_loop_rate_and_times_over_responses_with_a_follow_up(survey, someone):
    # Hand-computed: 4 follow-ups, 3 closed after 1 h, 2 h and 6 h → 75%; median 2 h = 7200 s;
    # mean 3 h = 10800 s. A response without a follow-up is not part of the loop.
    for hours in (1, 2, 6):
        poor_answer(survey, someone, closed_after=timedelta(hours=hours))
    poor_answer(survey, someone, closed_after=None)
    Response.objects.create(survey=survey, customer=someone, answered_at=MID_MARCH)

    assert kpi_closed_loop_rate(MARCH) == {
        "value": 75.0,
        "n": 4,
        "median_s": 7200.0,
        "mean_s": 10800.0,
        "small_sample": True,
    }


def test_closed_loop_median_of_an_even_count_is_halfway_between_the_middle_two(survey, someone):
    for minutes in (10, 20, 30, 100):
        poor_answer(survey, someone, closed_after=timedelta(minutes=minutes, seconds=0.5))

    result = kpi_closed_loop_rate(MARCH)

    assert result["median_s"] == pytest.approx(25 * 60 + 0.5)
    assert result["mean_s"] == pytest.approx(40 * 60 + 0.5)


def test_open_loops_only_give_a_zero_rate_and_no_times(survey, someone):
    poor_answer(survey, someone, closed_after=None)

    assert kpi_closed_loop_rate(MARCH) == {
        "value": 0.0,
        "n": 1,
        "median_s": None,
        "mean_s": None,
        "small_sample": True,
    }


def test_closed_loop_rate_counts_responses_on_the_day_they_were_answered(survey, someone):
    # Answered in February, loop closed in March: it belongs to February.
    poor_answer(
        survey, someone, closed_after=timedelta(days=5), at=datetime(2026, 2, 27, tzinfo=UTC)
    )

    assert kpi_closed_loop_rate(MARCH)["n"] == 0
    assert (
        kpi_closed_loop_rate(replace(MARCH, date_from=date(2026, 2, 1), date_to=date(2026, 2, 28)))[
            "value"
        ]
        == 100.0
    )


def test_closed_loop_rate_with_no_follow_ups_is_no_data(survey, someone):
    Response.objects.create(survey=survey, customer=someone, answered_at=MID_MARCH)

    assert kpi_closed_loop_rate(MARCH)["value"] is None
    assert kpi_closed_loop_rate(MARCH)["n"] == 0


# --- Property: the database agrees with the definitions applied row by row --------------

answer_rows = st.lists(
    st.tuples(
        st.sampled_from(["nps", "csat", "ces_default", "ces_difficulty"]),
        st.integers(min_value=0, max_value=10),
        st.integers(min_value=-2, max_value=32),  # day offset from 1 March, local
        st.sampled_from(["chat", "email"]),
    ),
    max_size=30,
)

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces_default": (1, 7), "ces_difficulty": (1, 10)}


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=answer_rows, channel=st.sampled_from([None, "chat", "email"]))
def test_database_scores_equal_a_plain_python_computation_over_the_same_answers(
    survey, someone, rows, channel
):
    Response.objects.all().delete()
    Question.objects.all().delete()
    questions = {
        "nps": question(survey, "nps"),
        "csat": question(survey, "csat"),
        "ces_default": question(survey, "ces"),
        "ces_difficulty": question(survey, "ces", scale_min=1, scale_max=10, reversed=True),
    }
    kept = []
    for index, (kind, raw, day, answer_channel) in enumerate(rows):
        low, high = SCALES[kind]
        score = low + raw % (high - low + 1)
        # Noon in Madrid on the chosen day, a few seconds apart.
        at = datetime(2026, 3, 1, 11, 0, tzinfo=UTC) + timedelta(days=day, seconds=index)
        answer(questions[kind], score, someone, at=at, channel=answer_channel)
        if 0 <= day <= 30 and channel in (None, answer_channel):
            kept.append((kind, score))
    f = replace(MARCH, channel=channel)

    # The oracle: the definitions, applied answer by answer.
    nps = [score for kind, score in kept if kind == "nps"]
    csat = [score for kind, score in kept if kind == "csat"]
    ces = [score for kind, score in kept if kind == "ces_default"] + [
        1 + (10 - score) * 6 / 9 for kind, score in kept if kind == "ces_difficulty"
    ]

    result = kpi_nps(f)
    assert result["n"] == len(nps)
    if nps:
        promoters = sum(s >= 9 for s in nps) / len(nps)
        detractors = sum(s <= 6 for s in nps) / len(nps)
        assert result["value"] == pytest.approx(100 * (promoters - detractors))
        assert result["margin95"] == pytest.approx(
            196 * math.sqrt((promoters + detractors - (promoters - detractors) ** 2) / len(nps)),
            abs=1e-9,
        )
    else:
        assert result["value"] is None

    result = kpi_csat(f)
    assert result["n"] == len(csat)
    if csat:
        assert result["value"] == pytest.approx(100 * sum(s >= 4 for s in csat) / len(csat))
        assert result["mean"] == pytest.approx(sum(csat) / len(csat))
    else:
        assert result["value"] is None

    result = kpi_ces(f)
    assert result["n"] == len(ces)
    if ces:
        assert result["value"] == pytest.approx(sum(ces) / len(ces))
        # Exact agree test in rationals: 1 + x ≥ 5 with x = k·6/9 ⇔ k·6 ≥ 36.
        agreeing = sum(c >= 5 - 1e-9 for c in ces)
        assert result["agree_share"] == pytest.approx(100 * agreeing / len(ces))
    else:
        assert result["value"] is None
