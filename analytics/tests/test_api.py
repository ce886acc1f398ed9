"""The KPI API as integrators and managers use it: who may read it, what bad input
gets, the shape of every registered KPI, the previous period, "no data" as null, the
series buckets and a query count that does not grow with the data."""

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from rest_framework.test import APIClient

from analytics.kpis import REGISTRY
from analytics.selectors import series_bucket_count, series_buckets
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys import services as survey_services
from surveys.models import Invitation, Question, Survey
from tickets import services as ticket_services
from tickets.models import BusinessCalendar, SLAPolicy, WorkingHours
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

KPIS_URL = "/api/v1/kpis/"
SERIES_URL = "/api/v1/kpis/series/"
TIME_FIGURES = ("median_s", "mean_s", "p90_s")

# A week of March 2026 in Madrid (UTC+1): Monday the 9th to Sunday the 15th.
THIS_WEEK = {"from": "2026-03-09", "to": "2026-03-15"}
MONDAY_NOON = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def manager_client(client_for, manager_user) -> APIClient:
    return client_for(manager_user)


@pytest.fixture
def nps_survey() -> Survey:
    survey = survey_services.survey_save(name="Relationship NPS")
    survey_services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Nos recomiendas?"
    )
    return survey_services.survey_save(survey=survey, is_active=True)


def nps_answer(survey: Survey, score: int, *, at: datetime, customer: Customer | None = None):
    """A customer answers the survey's NPS question at `at`, through the real service."""
    customer = customer or CustomerFactory()
    invitation = Invitation.objects.create(
        survey=survey, customer=customer, status=Invitation.Status.SENT, language="en"
    )
    question = survey.questions.get()
    with time_machine.travel(at, tick=False):
        return survey_services.response_record(
            invitation=invitation,
            answers={question.pk: survey_services.AnswerInput(score=score)},
        )


def figures_of(kpi: dict) -> list[str]:
    """The figures that must be null when there is no data: value or the time figures."""
    return [name for name in ("value", *TIME_FIGURES) if name in kpi]


# --- Who may read KPIs


def test_anonymous_callers_are_asked_to_authenticate(client_for):
    assert client_for().get(KPIS_URL, THIS_WEEK).status_code == 401
    assert client_for().get(SERIES_URL, {**THIS_WEEK, "metric": "nps"}).status_code == 401


def test_agents_may_not_read_kpis(client_for, agent_user):
    client = client_for(agent_user)

    assert client.get(KPIS_URL, THIS_WEEK).status_code == 403
    assert client.get(SERIES_URL, {**THIS_WEEK, "metric": "nps"}).status_code == 403


@pytest.mark.parametrize("role_fixture", ["manager_user", "admin_user"])
def test_managers_and_admins_read_kpis(client_for, role_fixture, request):
    client = client_for(request.getfixturevalue(role_fixture))

    assert client.get(KPIS_URL, THIS_WEEK).status_code == 200
    assert client.get(SERIES_URL, {**THIS_WEEK, "metric": "nps"}).status_code == 200


def test_a_token_works_like_a_session(manager_user):
    token = APIClient().post(
        "/api/v1/auth/token/", {"username": "manager", "password": "demo-password"}
    )
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")

    assert client.get(KPIS_URL, THIS_WEEK).status_code == 200


# --- Bad input: 400 with the field and a clear message


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"to": "2026-03-15"}, "from", "required"),
        ({"from": "2026-03-09"}, "to", "required"),
        ({"from": "2026-13-01", "to": "2026-03-15"}, "from", "format"),
        ({"from": "yesterday", "to": "2026-03-15"}, "from", "format"),
        ({"from": "2026-03-16", "to": "2026-03-15"}, "to", "before the first day"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "to", "at most 5 years"),
        ({"from": "0001-01-01", "to": "2026-03-15"}, "from", "from 1970 to 2099"),
        ({"from": "2026-03-09", "to": "9999-12-31"}, "to", "from 1970 to 2099"),
        ({**THIS_WEEK, "team": "999"}, "team", "No team has the id 999."),
        ({**THIS_WEEK, "agent": "999"}, "agent", "No user has the id 999."),
        ({**THIS_WEEK, "survey": "999"}, "survey", "No survey has the id 999."),
        ({**THIS_WEEK, "team": "abc"}, "team", "Incorrect type"),
        ({**THIS_WEEK, "team": "99999999999999999999999"}, "team", "99999999999999999999999"),
        ({**THIS_WEEK, "channel": "pigeon"}, "channel", "not a valid choice"),
    ],
)
def test_bad_query_parameters_are_refused_on_their_field(manager_client, params, field, words):
    response = manager_client.get(KPIS_URL, params)

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert words in " ".join(errors[field])


def test_five_years_to_the_day_is_the_longest_period_accepted(manager_client):
    response = manager_client.get(KPIS_URL, {"from": "2020-01-01", "to": "2024-12-31"})

    assert response.status_code == 200


def test_an_unknown_metric_is_refused_with_the_list_of_metrics(manager_client):
    response = manager_client.get(SERIES_URL, {**THIS_WEEK, "metric": "happiness"})

    assert response.status_code == 400
    message = " ".join(response.json()["metric"])
    assert "happiness" in message
    for name in REGISTRY:
        assert name in message


def test_a_series_with_too_many_buckets_is_refused(manager_client):
    daily_for_two_years = {"from": "2024-01-01", "to": "2025-12-31", "interval": "day"}

    response = manager_client.get(SERIES_URL, {**daily_for_two_years, "metric": "nps"})

    assert response.status_code == 400
    assert "731 buckets" in " ".join(response.json()["interval"])
    monthly = manager_client.get(
        SERIES_URL, {**daily_for_two_years, "interval": "month", "metric": "nps"}
    )
    assert monthly.status_code == 200
    assert len(monthly.json()) == 24


def test_an_unknown_interval_is_refused(manager_client):
    response = manager_client.get(SERIES_URL, {**THIS_WEEK, "metric": "nps", "interval": "hour"})

    assert response.status_code == 400
    assert list(response.json()) == ["interval"]


# --- The answer's shape


def test_every_registered_kpi_answers_its_figures_n_and_previous_period(manager_client):
    response = manager_client.get(KPIS_URL, THIS_WEEK)

    assert response.status_code == 200
    body = response.json()
    assert body["from"] == "2026-03-09"
    assert body["to"] == "2026-03-15"
    assert set(body["kpis"]) == set(REGISTRY)
    assert list(body["kpis"]) == list(REGISTRY)
    for name, kpi in body["kpis"].items():
        previous = kpi["previous"]
        for figures in (kpi, previous):
            assert isinstance(figures["n"], int), name
            assert isinstance(figures["small_sample"], bool), name
            assert figures_of(figures), f"{name} has neither value nor time figures"
        assert set(previous) == set(kpi) - {"previous"}, name


def test_the_filters_applied_are_echoed_and_the_others_are_null(manager_client, nps_survey):
    team = TeamFactory(name="Billing")

    response = manager_client.get(
        KPIS_URL, {**THIS_WEEK, "team": team.pk, "channel": "chat", "survey": nps_survey.pk}
    )

    assert response.status_code == 200
    assert response.json()["filters"] == {
        "team": team.pk,
        "agent": None,
        "channel": "chat",
        "category": None,
        "segment": None,
        "survey": nps_survey.pk,
    }


def test_a_period_without_data_answers_null_figures_never_zero(manager_client):
    response = manager_client.get(KPIS_URL, THIS_WEEK)

    for name, kpi in response.json()["kpis"].items():
        for figures in (kpi, kpi["previous"]):
            assert figures["n"] == 0, name
            assert figures["small_sample"] is True, name
            for figure in figures_of(figures):
                assert figures[figure] is None, f"{name}.{figure} should be null"
    assert b'"value":null' in response.content.replace(b" ", b"")


def test_nps_this_week_is_compared_with_last_week(manager_client, nps_survey):
    for score in (10, 10, 3):  # this week: 2 promoters, 1 detractor of 3 → 33.3…
        nps_answer(nps_survey, score, at=MONDAY_NOON + timedelta(days=2))
    for score in (9, 7):  # last week: 1 promoter, 1 passive of 2 → 50
        nps_answer(nps_survey, score, at=MONDAY_NOON - timedelta(days=3))
    nps_answer(nps_survey, 0, at=MONDAY_NOON - timedelta(days=8))  # before both weeks

    nps = manager_client.get(KPIS_URL, THIS_WEEK).json()["kpis"]["nps"]

    assert nps["n"] == 3
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (2, 0, 1)
    # Full precision: not rounded to a couple of decimals for display.
    assert nps["value"] == pytest.approx(100 / 3, abs=1e-9)
    assert nps["small_sample"] is True  # 3 answers, under SMALL_SAMPLE
    previous = nps["previous"]
    assert previous["n"] == 2
    assert (previous["promoters"], previous["passives"], previous["detractors"]) == (1, 1, 0)
    assert previous["value"] == pytest.approx(50.0)
    assert "previous" not in previous


def test_a_survey_filter_only_counts_that_surveys_answers(manager_client, nps_survey):
    other = survey_services.survey_save(name="Onboarding NPS")
    survey_services.question_save(
        survey=other, type=Question.Type.NPS, text_en="Recommend?", text_es="¿Recomiendas?"
    )
    other = survey_services.survey_save(survey=other, is_active=True)
    nps_answer(nps_survey, 10, at=MONDAY_NOON)
    nps_answer(other, 0, at=MONDAY_NOON)

    everything = manager_client.get(KPIS_URL, THIS_WEEK).json()["kpis"]["nps"]
    one_survey = manager_client.get(KPIS_URL, {**THIS_WEEK, "survey": nps_survey.pk})

    assert (everything["n"], everything["value"]) == (2, 0.0)
    assert (one_survey.json()["kpis"]["nps"]["n"], one_survey.json()["kpis"]["nps"]["value"]) == (
        1,
        100.0,
    )


# --- Series


def test_a_daily_series_has_one_bucket_per_day(manager_client, nps_survey):
    nps_answer(nps_survey, 10, at=MONDAY_NOON)
    nps_answer(nps_survey, 0, at=MONDAY_NOON + timedelta(days=2))

    response = manager_client.get(
        SERIES_URL, {"metric": "nps", "from": "2026-03-09", "to": "2026-03-11", "interval": "day"}
    )

    assert response.status_code == 200
    points = response.json()
    assert [(p["period_start"], p["period_end"]) for p in points] == [
        ("2026-03-09", "2026-03-09"),
        ("2026-03-10", "2026-03-10"),
        ("2026-03-11", "2026-03-11"),
    ]
    assert [(p["n"], p["value"]) for p in points] == [(1, 100.0), (0, None), (1, -100.0)]


def test_weekly_buckets_run_monday_to_sunday_clipped_to_the_period(manager_client, nps_survey):
    # 23:30 UTC on Sunday the 8th is already Monday the 9th in Madrid: the second week.
    nps_answer(nps_survey, 10, at=datetime(2026, 3, 8, 23, 30, tzinfo=UTC))
    nps_answer(nps_survey, 0, at=datetime(2026, 3, 8, 22, 30, tzinfo=UTC))  # Sunday 23:30

    response = manager_client.get(
        SERIES_URL, {"metric": "nps", "from": "2026-03-04", "to": "2026-03-17", "interval": "week"}
    )

    points = response.json()
    assert [(p["period_start"], p["period_end"]) for p in points] == [
        ("2026-03-04", "2026-03-08"),  # Wednesday to Sunday: the first week, clipped
        ("2026-03-09", "2026-03-15"),
        ("2026-03-16", "2026-03-17"),  # Monday and Tuesday: the last week, clipped
    ]
    assert [(p["n"], p["value"]) for p in points] == [(1, -100.0), (1, 100.0), (0, None)]


def test_monthly_buckets_follow_calendar_months_clipped_to_the_period(manager_client, nps_survey):
    nps_answer(nps_survey, 9, at=datetime(2026, 2, 28, 23, 30, tzinfo=UTC))  # 1 March in Madrid

    points = manager_client.get(
        SERIES_URL,
        {"metric": "nps", "from": "2026-01-20", "to": "2026-03-05", "interval": "month"},
    ).json()

    assert [(p["period_start"], p["period_end"]) for p in points] == [
        ("2026-01-20", "2026-01-31"),
        ("2026-02-01", "2026-02-28"),
        ("2026-03-01", "2026-03-05"),
    ]
    assert [p["n"] for p in points] == [0, 0, 1]


def test_each_series_point_equals_the_kpi_asked_for_its_bucket_alone(manager_client, nps_survey):
    for days, score in ((0, 10), (1, 6), (8, 8), (9, 9), (10, 2)):
        nps_answer(nps_survey, score, at=MONDAY_NOON + timedelta(days=days))

    points = manager_client.get(
        SERIES_URL, {"metric": "nps", "from": "2026-03-09", "to": "2026-03-22", "interval": "week"}
    ).json()

    for point in points:
        alone = manager_client.get(
            KPIS_URL, {"from": point["period_start"], "to": point["period_end"]}
        ).json()["kpis"]["nps"]
        del alone["previous"]
        assert {k: v for k, v in point.items() if not k.startswith("period_")} == alone


@pytest.mark.parametrize(
    ("date_from", "date_to", "interval"),
    [
        (date(2026, 3, 4), date(2026, 3, 17), "week"),
        (date(2026, 3, 9), date(2026, 3, 9), "week"),
        (date(2026, 3, 15), date(2026, 3, 16), "week"),
        (date(2024, 2, 29), date(2025, 3, 1), "month"),
        (date(2025, 12, 31), date(2026, 1, 1), "month"),
        (date(2024, 1, 1), date(2024, 12, 31), "day"),
    ],
)
def test_the_bucket_count_checked_before_computing_matches_the_buckets(
    date_from, date_to, interval
):
    buckets = series_buckets(date_from, date_to, interval)

    assert series_bucket_count(date_from, date_to, interval) == len(buckets)
    assert buckets[0][0] == date_from
    assert buckets[-1][1] == date_to
    for (_start, end), (next_start, _end) in pairwise(buckets):
        assert next_start == end + timedelta(days=1)


# --- Cost


def _activity(count: int, nps_survey: Survey, agent) -> None:
    """`count` answered, replied and solved tickets, and `count` NPS answers, this week."""
    team = TeamFactory(name="Support", members=[agent])
    for index in range(count):
        customer = CustomerFactory()
        with time_machine.travel(MONDAY_NOON + timedelta(minutes=index), tick=False):
            ticket = ticket_services.ticket_create(
                customer=customer, subject=f"Issue {index}", team=team, assignee=agent
            )
            ticket_services.ticket_reply(ticket=ticket, author=agent, body="On it.")
        with time_machine.travel(MONDAY_NOON + timedelta(hours=5, minutes=index), tick=False):
            ticket_services.ticket_solve(ticket=ticket, actor=agent)
        nps_answer(nps_survey, index % 11, at=MONDAY_NOON + timedelta(days=1), customer=customer)


# Every KPI twice (the period and the previous one), a few queries each, plus the
# session and permission look-ups: a constant, whatever the number of rows.
MAX_QUERIES = 10 + 2 * 4 * len(REGISTRY)


@pytest.mark.parametrize("count", [3, 30])
def test_reading_every_kpi_takes_a_bounded_number_of_queries(
    manager_client, nps_survey, agent_user, count, django_assert_max_num_queries
):
    _activity(count, nps_survey, agent_user)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = manager_client.get(KPIS_URL, THIS_WEEK)

    assert response.status_code == 200
    assert response.json()["kpis"]["nps"]["n"] == count


# --- Response and resolution times in business hours


@pytest.fixture
def office_hours_policy():
    """Normal-priority tickets count 9:00-18:00, Monday to Friday, in Madrid."""
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="Europe/Madrid")
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=day, opens=time(9), closes=time(18))
        for day in range(5)
    )
    return SLAPolicy.objects.create(
        name="Normal",
        priority="normal",
        calendar=calendar,
        first_response_minutes=240,
        resolution_minutes=960,
    )


def test_business_hours_times_are_answered_beside_their_calendar_time_twins(
    manager_client, agent_user, office_hours_policy
):
    madrid = ZoneInfo("Europe/Madrid")
    # Sent on Friday 6 March at 17:00 (last week), answered on Monday at 10:00 and solved
    # at 12:00 (this week): 65 and 67 hours of waiting, 2 and 4 of them business hours.
    with time_machine.travel(datetime(2026, 3, 6, 17, 0, tzinfo=madrid), tick=False):
        ticket = ticket_services.ticket_create(customer=CustomerFactory(), subject="Refund")
    with time_machine.travel(datetime(2026, 3, 9, 10, 0, tzinfo=madrid), tick=False):
        ticket_services.ticket_reply(ticket=ticket, author=agent_user, body="On it.")
    with time_machine.travel(datetime(2026, 3, 9, 12, 0, tzinfo=madrid), tick=False):
        ticket_services.ticket_solve(ticket=ticket, actor=agent_user)

    kpis = manager_client.get(KPIS_URL, THIS_WEEK).json()["kpis"]

    names = list(kpis)
    assert names.index("first_response_time_business") == names.index("first_response_time") + 1
    assert names.index("resolution_time_business") == names.index("resolution_time") + 1
    resolution = kpis["resolution_time_business"]
    assert {name: resolution[name] for name in (*TIME_FIGURES, "n", "small_sample")} == {
        "median_s": 4 * 3600.0,
        "mean_s": 4 * 3600.0,
        "p90_s": 4 * 3600.0,
        "n": 1,
        "small_sample": True,
    }
    assert kpis["resolution_time"]["median_s"] == 67 * 3600.0
    # The first response counts on the day the ticket was created: last week.
    first_response = kpis["first_response_time_business"]
    assert (first_response["n"], first_response["median_s"]) == (0, None)
    assert (first_response["previous"]["n"], first_response["previous"]["median_s"]) == (
        1,
        2 * 3600.0,
    )
    assert kpis["first_response_time"]["previous"]["median_s"] == 65 * 3600.0


def test_the_openapi_schema_describes_every_kpi_with_its_time_figures(client_for):
    schema = yaml.safe_load(client_for().get("/api/schema/").content)

    kpis = schema["components"]["schemas"]["Kpis"]["properties"]
    assert list(kpis) == list(REGISTRY)
    for name in ("first_response_time_business", "resolution_time_business"):
        assert {*TIME_FIGURES, "n", "small_sample"} <= set(kpis[name]["properties"]), name
    series = schema["paths"]["/api/v1/kpis/series/"]["get"]["parameters"]
    metric = next(parameter for parameter in series if parameter["name"] == "metric")
    assert metric["schema"]["enum"] == list(REGISTRY)
