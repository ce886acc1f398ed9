"""The trends page: who may open it, series that equal the KPI functions bucket by bucket
(NPS with its 95% band, CSAT, CES, first response and resolution time), score
distributions counted by the database and honouring the filters, ticket volume on the
company's (Madrid) days, a table with the same numbers under each chart, and bad input
answered with form errors, never a 500."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from analytics.filters import KpiFilter
from analytics.kpis.tickets import kpi_resolution_rate
from analytics.selectors import kpi_series
from analytics.views_trends import auto_interval
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys.models import Answer, Question, Response, Survey
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

URL = "/analytics/trends/"
MADRID = ZoneInfo("Europe/Madrid")
TODAY = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
MARCH = {"period": "custom", "date_from": "2026-03-01", "date_to": "2026-03-31"}
MARCH_FILTER = KpiFilter(date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture(autouse=True)
def _madrid_today(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def survey() -> Survey:
    return Survey.objects.create(name="After support")


@pytest.fixture
def someone() -> Customer:
    return CustomerFactory()


def local(day: int, hour: int = 12, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MADRID)


def question(survey: Survey, kind: str) -> Question:
    return Question.objects.create(
        survey=survey, type=kind, text_en="How was it?", text_es="¿Qué tal?"
    )


def answer(question: Question, score: int, customer: Customer, at: datetime, **fields) -> None:
    response = Response.objects.create(
        survey=question.survey, customer=customer, answered_at=at, **fields
    )
    Answer.objects.create(
        response=response, question=question, question_type=question.type, score=score
    )


def ticket(created_at: datetime, **fields) -> Ticket:
    return Ticket.objects.create(
        customer=CustomerFactory(),
        subject="My order never arrived",
        created_at=created_at,
        **{"status": Ticket.Status.OPEN, **fields},
    )


def page(user, query: dict | None = None) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(URL, query or {})
    assert response.status_code == 200
    return response.content.decode()


def chart(html: str, key: str) -> dict:
    """The JSON a chart draws from (its json_script)."""
    match = re.search(rf'<script id="trend-{key}" type="application/json">(.*?)</script>', html)
    assert match, f"no chart {key}"
    return json.loads(match.group(1))


def table_rows(html: str, key: str) -> list[list[str]]:
    """The text of each body row of a chart's table fallback."""
    match = re.search(rf'<table[^>]*data-table="{key}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, f"no table for {key}"
    return [
        [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S)
    ]


# --- Who may see it -------------------------------------------------------------------


def test_managers_and_admins_open_the_trends_page(manager_user, admin_user):
    for user in (manager_user, admin_user):
        assert "Net Promoter Score" in page(user)


def test_agents_get_403_on_the_trends_page(agent_user):
    client = Client()
    client.force_login(agent_user)

    assert client.get(URL).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get(URL)

    assert response.status_code == 302
    assert "/login" in response["Location"]


# --- Series equal the KPI functions ---------------------------------------------------


def test_the_interval_is_days_up_to_a_month_weeks_up_to_half_a_year_then_months():
    assert auto_interval(1) == "day"
    assert auto_interval(31) == "day"
    assert auto_interval(32) == "week"
    assert auto_interval(183) == "week"
    assert auto_interval(184) == "month"


def test_a_31_day_period_is_drawn_by_day_and_a_longer_one_by_week(manager_user):
    assert 'data-interval="day"' in page(manager_user, MARCH)
    html = page(manager_user, {**MARCH, "date_from": "2026-02-01"})
    assert 'data-interval="week"' in html
    assert len(chart(html, "nps")["x"]) == len(kpi_series("nps", MARCH_FILTER, "week")) + 4


def test_the_nps_line_and_its_95_band_are_the_nps_of_each_week(manager_user, survey, someone):
    nps = question(survey, Question.Type.NPS)
    for score in (10, 9, 9, 3):
        answer(nps, score, someone, local(3))
    for score in (0, 6, 8):
        answer(nps, score, someone, local(17))

    data = chart(page(manager_user, {**MARCH, "interval": "week"}), "nps")

    expected = kpi_series("nps", MARCH_FILTER, "week")
    assert data["x"] == [p["period_start"].isoformat() for p in expected]
    # Sunday 1 March is the first week, clipped to the period; then Monday to Sunday.
    assert data["x"][:3] == ["2026-03-01", "2026-03-02", "2026-03-09"]
    assert data["traces"][0]["y"] == [p["value"] for p in expected]
    assert data["traces"][0]["y"][1] == 50.0  # 100 * (3 promoters - 1 detractor) / 4
    assert data["traces"][0]["y"][2] is None  # a week without answers is a gap, not 0
    assert data["band"]["lower"] == [
        None if p["value"] is None else p["value"] - p["margin95"] for p in expected
    ]
    assert data["band"]["upper"] == [
        None if p["value"] is None else p["value"] + p["margin95"] for p in expected
    ]
    assert data["band"]["upper"][1] > 50.0 > data["band"]["lower"][1]


def test_csat_and_ces_lines_equal_the_kpi_of_each_day(manager_user, survey, someone):
    csat, ces = question(survey, Question.Type.CSAT), question(survey, Question.Type.CES)
    for score in (5, 4, 2):
        answer(csat, score, someone, local(5))
    answer(csat, 1, someone, local(6))
    answer(ces, 7, someone, local(5))
    answer(ces, 2, someone, local(6))

    html = page(manager_user, MARCH)

    for key in ("csat", "ces"):
        assert chart(html, key)["traces"][0]["y"] == [
            p["value"] for p in kpi_series(key, MARCH_FILTER, "day")
        ]
    assert chart(html, "csat")["traces"][0]["y"][4:6] == [pytest.approx(200 / 3), 0.0]


def test_time_lines_are_the_medians_of_each_day_in_hours(manager_user):
    ticket(local(2, 9), first_response_at=local(2, 11), solved_at=local(2, 15))
    ticket(local(2, 10), first_response_at=local(2, 11), solved_at=local(3, 10))
    ticket(local(4, 9), first_response_at=local(4, 9, 30))

    data = chart(page(manager_user, MARCH), "times")

    first, resolution = data["traces"][0]["y"], data["traces"][1]["y"]
    for y, metric in ((first, "first_response_time"), (resolution, "resolution_time")):
        expected = [p["median_s"] for p in kpi_series(metric, MARCH_FILTER, "day")]
        assert [None if h is None else h * 3600 for h in y] == [
            None if s is None else pytest.approx(s) for s in expected
        ]
    assert first[1] == pytest.approx(1.5)  # median of 2 h and 1 h, on 2 March
    assert first[3] == pytest.approx(0.5)
    assert resolution[1] == pytest.approx(6)  # solved on 2 March after 6 h
    assert resolution[2] == pytest.approx(24)  # solved on 3 March after 24 h


# --- Distributions --------------------------------------------------------------------


def test_the_nps_distribution_counts_answers_per_score_in_the_period(manager_user, survey, someone):
    nps = question(survey, Question.Type.NPS)
    for score in (10, 10, 9, 3, 0):
        answer(nps, score, someone, local(12))
    answer(nps, 10, someone, local(12, month=4))  # after the period

    html = page(manager_user, MARCH)

    data = chart(html, "nps-distribution")
    assert data["x"] == [str(score) for score in range(11)]
    assert data["traces"][0]["y"] == [1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2]
    assert table_rows(html, "nps-distribution")[10] == ["10", "2"]


def test_the_csat_distribution_honours_the_team_filter(manager_user, survey, someone):
    csat = question(survey, Question.Type.CSAT)
    ours, theirs = TeamFactory(), TeamFactory()
    for score in (5, 5, 4, 1):
        answer(csat, score, someone, local(12), team=ours)
    answer(csat, 2, someone, local(12), team=theirs)

    everyone = chart(page(manager_user, MARCH), "csat-distribution")
    our_team = chart(page(manager_user, {**MARCH, "team": ours.pk}), "csat-distribution")

    assert everyone["x"] == ["1", "2", "3", "4", "5"]
    assert everyone["traces"][0]["y"] == [1, 1, 0, 1, 2]
    assert our_team["traces"][0]["y"] == [1, 0, 0, 1, 2]


# --- Ticket volume --------------------------------------------------------------------


def test_ticket_volume_counts_each_ticket_on_its_madrid_day(manager_user):
    ticket(datetime(2026, 3, 9, 23, 30, tzinfo=UTC))  # 00:30 on 10 March in Madrid
    ticket(datetime(2026, 3, 10, 22, 59, tzinfo=UTC))  # 23:59 on 10 March in Madrid
    ticket(datetime(2026, 3, 10, 23, 0, tzinfo=UTC))  # midnight: 11 March in Madrid
    ticket(datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 00:30 on 1 April (summer time)

    html = page(manager_user, MARCH)

    volume = chart(html, "volume")["traces"][0]["y"]
    assert volume[8:11] == [0, 2, 1]  # 9, 10 and 11 March
    assert sum(volume) == 3
    assert volume == [
        kpi_resolution_rate(KpiFilter(day, day))["n"]
        for day in (date(2026, 3, 1) + timedelta(days=i) for i in range(31))
    ]
    assert table_rows(html, "volume")[9][-1] == "2"


def test_ticket_volume_keeps_madrid_days_when_another_time_zone_is_active(manager_user):
    ticket(datetime(2026, 3, 9, 23, 30, tzinfo=UTC))  # 10 March in Madrid, 9th in New York

    with timezone.override(ZoneInfo("America/New_York")):
        volume = chart(page(manager_user, MARCH), "volume")["traces"][0]["y"]

    assert volume[8:10] == [0, 1]


def test_weekly_volume_starts_on_the_periods_first_day_and_leaves_out_earlier_days(
    manager_user,
):
    ticket(local(2))  # Monday 2 March: before the period, same week
    ticket(local(4))  # Wednesday 4 March: the period's first day
    ticket(local(8, 23, 30))  # Sunday night: still the first week
    ticket(local(9, 0, 10))  # Monday: the second week

    data = chart(
        page(
            manager_user,
            {**MARCH, "date_from": "2026-03-04", "date_to": "2026-03-15", "interval": "week"},
        ),
        "volume",
    )

    assert data["x"] == ["2026-03-04", "2026-03-09"]
    assert data["traces"][0]["y"] == [2, 1]


def test_monthly_volume_honours_the_channel_filter(manager_user):
    ticket(local(15, month=1), channel="email")
    ticket(local(15, month=3), channel="email")
    ticket(local(16, month=3), channel="chat")

    data = chart(
        page(
            manager_user,
            {
                "period": "custom",
                "date_from": "2026-01-01",
                "date_to": "2026-03-31",
                "interval": "month",
                "channel": "email",
            },
        ),
        "volume",
    )

    assert data["x"] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert data["traces"][0]["y"] == [1, 0, 1]


# --- Table fallback -------------------------------------------------------------------


def test_each_chart_has_a_table_with_the_same_numbers(manager_user, survey, someone):
    nps = question(survey, Question.Type.NPS)
    for score in (10, 10, 0):
        answer(nps, score, someone, local(3))

    html = page(manager_user, {**MARCH, "interval": "week"})

    for key in ("nps", "csat", "ces", "nps-distribution", "csat-distribution", "volume", "times"):
        assert table_rows(html, key), key
    first_week, second_week = table_rows(html, "nps")[:2]  # 1 March; 2 to 8 March
    assert first_week[2] == "No data"
    assert second_week[2] == "33.3"  # (2 - 1) / 3
    assert second_week[4] == "3"


# --- Bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({**MARCH, "date_from": "2026-13-45"}, "valid date"),
        ({**MARCH, "date_from": "2026-04-10"}, "must not be before the first day"),
        ({**MARCH, "interval": "fortnight"}, "Select a valid choice"),
        (
            {**MARCH, "date_from": "2024-01-01", "interval": "day"},
            "Too many points",
        ),
        ({**MARCH, "team": "999999"}, "Select a valid choice"),
    ],
)
def test_bad_input_gets_a_form_error_and_the_default_period(manager_user, query, error):
    html = page(manager_user, query)

    assert error in html
    assert 'data-from="2026-03-22" data-to="2026-04-20"' in html


# --- Speed ----------------------------------------------------------------------------


def test_the_query_count_does_not_grow_with_the_data(
    manager_user, survey, someone, django_assert_max_num_queries
):
    nps = question(survey, Question.Type.NPS)

    def a_day_of_data(copies: int) -> None:
        for day in range(1, 32):
            for _ in range(copies):
                answer(nps, day % 11, someone, local(day))
                ticket(local(day, 9), first_response_at=local(day, 13), solved_at=local(day, 14))

    client = Client()
    client.force_login(manager_user)
    a_day_of_data(1)
    # Per day: NPS, CSAT, CES (one aggregate each) and two time KPIs (at most three
    # queries each on SQLite, one on PostgreSQL); plus the filter choices and session.
    with django_assert_max_num_queries(31 * 9 + 20) as some:
        client.get(URL, MARCH)
    a_day_of_data(4)

    with django_assert_max_num_queries(len(some.captured_queries)):
        client.get(URL, MARCH)
