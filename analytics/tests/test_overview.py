"""The analytics overview page: who may open it, the period picker and its presets, a
card per KPI with the figures the KPI functions compute, "No data" rather than 0, bad
input answered with form errors (never a 500), a query count that does not grow with the
data, and plotly's own plotly.min.js served as a static file."""

import json
import os
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.staticfiles import finders
from django.test import Client

from analytics.filters import KpiFilter
from analytics.forms import company_today, preset_period
from analytics.kpis import REGISTRY
from analytics.kpis.surveys import kpi_nps
from analytics.views import format_duration
from customers.tests.factories import CustomerFactory
from surveys import services as survey_services
from surveys.models import Invitation, Question, Survey
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

URL = "/analytics/"
# "Today" in these tests: Friday 20 March 2026, noon in Madrid. The default period (the
# last 30 days) is 19 February to 20 March; the previous one 20 January to 18 February.
TODAY = datetime(2026, 3, 20, 11, 0, tzinfo=UTC)
IN_PERIOD = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
IN_PREVIOUS_PERIOD = datetime(2026, 2, 1, 11, 0, tzinfo=UTC)
DEFAULT_PERIOD = KpiFilter(date_from=date(2026, 2, 19), date_to=date(2026, 3, 20))


@pytest.fixture(autouse=True)
def _madrid_today(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def nps_survey() -> Survey:
    survey = survey_services.survey_save(name="Relationship NPS")
    survey_services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Nos recomiendas?"
    )
    return survey_services.survey_save(survey=survey, is_active=True)


def nps_answers(survey: Survey, *scores: int, at: datetime = IN_PERIOD) -> None:
    """Customers answer the survey's NPS question at `at`, through the real service."""
    question = survey.questions.get()
    for score in scores:
        invitation = Invitation.objects.create(
            survey=survey, customer=CustomerFactory(), status=Invitation.Status.SENT, language="en"
        )
        with time_machine.travel(at, tick=False):
            survey_services.response_record(
                invitation=invitation,
                answers={question.pk: survey_services.AnswerInput(score=score)},
            )


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def card(html: str, key: str) -> str:
    """The HTML of one KPI card."""
    match = re.search(rf'<article[^>]*data-kpi="{key}".*?</article>', html, re.S)
    assert match, f"no card for {key}"
    return match.group(0)


def card_value(html: str, key: str) -> str:
    return re.search(r"data-value>(.*?)</p>", card(html, key), re.S).group(1).strip()


def card_change(html: str, key: str) -> str:
    text = re.search(r"data-change>(.*?)</p>", card(html, key), re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


# --- Who may open it


def test_managers_and_admins_open_the_overview(manager_user, admin_user):
    for user in (manager_user, admin_user):
        response = client_for(user).get(URL)
        assert response.status_code == 200
        assert 'href="/analytics/"' in response.content.decode()  # the nav link


def test_agents_may_not_open_the_overview_nor_see_its_link(agent_user):
    assert client_for(agent_user).get(URL).status_code == 403
    assert 'href="/analytics/"' not in client_for(agent_user).get("/").content.decode()


def test_anonymous_visitors_are_sent_to_log_in():
    response = client_for().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# --- The cards


def test_every_kpi_has_a_card_linking_to_its_glossary_entry(manager_user):
    html = client_for(manager_user).get(URL).content.decode()

    for key in REGISTRY:
        assert f'href="/analytics/glossary/#kpi-{key}"' in card(html, key)


def test_the_nps_card_shows_the_score_the_kpi_function_computes(manager_user, nps_survey):
    # 6 promoters, 2 passives, 2 detractors: 60% - 20% = NPS 40 over 10 answers.
    nps_answers(nps_survey, 10, 10, 9, 9, 9, 10, 8, 7, 3, 0)
    assert kpi_nps(DEFAULT_PERIOD)["value"] == pytest.approx(40.0)

    html = client_for(manager_user).get(URL).content.decode()

    assert card_value(html, "nps") == "40.0"
    nps_card = card(html, "nps")
    assert "n = 10" in nps_card
    assert "data-small-sample" in nps_card
    assert "No data for the previous period" in card_change(html, "nps")


def test_the_change_against_the_previous_period_is_told_in_words(manager_user, nps_survey):
    nps_answers(nps_survey, 10, 0, at=IN_PREVIOUS_PERIOD)  # NPS 0 before
    nps_answers(nps_survey, 10, 10, 9, 9, 9, 10, 8, 7, 3, 0)  # NPS 40 now

    html = client_for(manager_user).get(URL).content.decode()

    assert card_change(html, "nps") == "▲ Up 40.0 points from 0.0 (previous period)"


def test_spanish_managers_read_spanish_numbers(manager_user, nps_survey):
    nps_answers(nps_survey, 10, 10, 0)  # NPS 33.3…
    manager_user.language = "es"
    manager_user.save()

    html = client_for(manager_user).get(URL).content.decode()

    assert card_value(html, "nps") == "33,3"


def test_kpis_without_data_show_no_data_never_zero(manager_user):
    html = client_for(manager_user).get(URL).content.decode()

    for key in REGISTRY:
        assert card_value(html, key) == "No data", key
        assert "data-small-sample" not in card(html, key)


def test_the_nps_sparkline_carries_one_point_per_week_and_a_table_fallback(
    manager_user, nps_survey
):
    nps_answers(nps_survey, 10, 10, 0)  # in the week of Monday 9 March

    html = client_for(manager_user).get(URL).content.decode()

    data = json.loads(re.search(r'id="sparkline-nps"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert data["x"] == ["2026-02-19", "2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16"]
    assert data["y"][:3] == [None, None, None]  # no answers: a gap, not 0
    assert data["y"][3] == pytest.approx(100 / 3)
    table = re.search(r'<table class="visually-hidden">.*?</table>', card(html, "nps"), re.S)
    assert table.group(0).count("<tr>") == 1 + 5
    assert "33.3" in table.group(0)


def test_time_kpis_read_as_hours_and_minutes():
    assert format_duration(3 * 3600 + 5 * 60 + 20) == "3 h 05 min"
    assert format_duration(17 * 60) == "17 min"
    assert format_duration(42) == "42 s"


# --- The period picker


def test_preset_periods_end_today_and_start_where_they_say():
    today = date(2026, 5, 17)

    assert preset_period("last_7", today) == (date(2026, 5, 11), today)
    assert preset_period("last_30", today) == (date(2026, 4, 18), today)
    assert preset_period("last_90", today) == (date(2026, 2, 17), today)
    assert preset_period("quarter", today) == (date(2026, 4, 1), today)
    assert preset_period("year", today) == (date(2026, 1, 1), today)


def test_today_is_the_companys_day_not_utcs():
    with time_machine.travel(datetime(2025, 12, 31, 23, 30, tzinfo=UTC), tick=False):
        assert company_today() == date(2026, 1, 1)


def test_a_preset_chosen_on_the_page_sets_the_period(manager_user, nps_survey):
    nps_answers(nps_survey, 0, at=datetime(2026, 1, 5, 11, 0, tzinfo=UTC))  # this year only

    html = client_for(manager_user).get(URL, {"period": "year"}).content.decode()

    assert 'data-from="2026-01-01" data-to="2026-03-20"' in html
    assert "From Jan. 1, 2026 to March 20, 2026" in html
    assert card_value(html, "nps") == "-100.0"


def test_a_custom_period_and_a_filter_narrow_the_cards(manager_user, nps_survey):
    nps_answers(nps_survey, 10, at=datetime(2026, 3, 2, 11, 0, tzinfo=UTC))
    nps_answers(nps_survey, 0, at=datetime(2026, 3, 12, 11, 0, tzinfo=UTC))
    other = survey_services.survey_save(name="Other")
    query = {"period": "custom", "date_from": "2026-03-01", "date_to": "2026-03-05"}

    html = client_for(manager_user).get(URL, query).content.decode()
    assert card_value(html, "nps") == "100.0"

    html = client_for(manager_user).get(URL, {**query, "survey": other.pk}).content.decode()
    assert card_value(html, "nps") == "No data"


def test_a_category_and_a_segment_first_seen_a_moment_ago_still_filter(manager_user):
    client = client_for(manager_user)
    Ticket.objects.create(
        customer=CustomerFactory(segment="smb"), subject="Old", category="billing"
    )
    client.get(URL)  # the lists of categories and segments are kept a minute from here
    Ticket.objects.create(
        customer=CustomerFactory(segment="retail"), subject="New", category="returns"
    )

    response = client.get(URL, {"category": "returns", "segment": "retail"})

    assert not response.context["form"].errors
    assert (response.context["filter"].category, response.context["filter"].segment) == (
        "returns",
        "retail",
    )
    refused = client.get(URL, {"category": "nonsense"})
    assert "Select a valid choice" in refused.content.decode()


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"period": "custom", "date_from": "2026-13-45", "date_to": "2026-03-01"}, "valid date"),
        (
            {"period": "custom", "date_from": "2026-03-10", "date_to": "2026-03-01"},
            "must not be before the first day",
        ),
        ({"period": "custom", "date_from": "2026-03-10"}, "needs both a first and a last day"),
        ({"period": "custom", "date_from": "2000-01-01", "date_to": "2026-03-01"}, "at most"),
        ({"period": "forever"}, "Select a valid choice"),
        ({"team": "999999"}, "Select a valid choice"),
        ({"agent": "not-a-number"}, "Select a valid choice"),
    ],
)
def test_bad_input_gets_a_form_error_and_the_default_period(manager_user, query, error):
    response = client_for(manager_user).get(URL, query)

    assert response.status_code == 200
    html = response.content.decode()
    assert error in html
    assert 'data-from="2026-02-19" data-to="2026-03-20"' in html


# --- Speed


QUERY_BUDGET = 80
"""The default period: 18 KPIs and their previous period, five weekly sparklines of five
points, the filter choices and the session; a few aggregates each, never one per row."""


def test_the_query_count_is_bounded_and_does_not_grow_with_the_data(
    manager_user, nps_survey, django_assert_max_num_queries
):
    client = client_for(manager_user)
    client.get(URL)  # the filter's category and segment lists are kept a minute: both rounds alike
    counts = []
    for _round in range(2):  # 3 answers in each period, then 30
        nps_answers(nps_survey, *[9, 5, 7] * (1 if not counts else 9))
        nps_answers(nps_survey, *[9, 5, 7] * (1 if not counts else 9), at=IN_PREVIOUS_PERIOD)
        with django_assert_max_num_queries(QUERY_BUDGET) as captured:
            assert client.get(URL).status_code == 200
        counts.append(len(captured.captured_queries))

    assert counts[0] == counts[1]
    html = client.get(URL).content.decode()
    assert "n = 30" in card(html, "nps")


# --- plotly.min.js


def test_plotly_min_js_is_served_from_the_plotly_package():
    import plotly

    found = finders.find("plotly/plotly.min.js")

    assert found == os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")


def test_plotlys_datasets_are_not_exposed_as_static_files():
    from analytics.staticfiles import PlotlyFinder

    assert finders.find("plotly/datasets/iris.csv.gz") is None
    assert finders.find("plotly/../plotly/package_data/plotly.min.js") is None
    assert [path for path, _storage in PlotlyFinder().list([])] == ["plotly.min.js"]


def test_a_link_with_filters_only_shows_the_default_period_selected(client, manager_user):
    client.force_login(manager_user)
    html = client.get("/analytics/?channel=email").content.decode()
    selected = html.split('name="period"')[1].split("</select>")[0]
    assert 'value="last_30" selected' in selected


# --- Response and resolution times in business hours


def test_business_hours_cards_read_as_durations_right_after_their_twins(manager_user):
    # Waited 65 hours (a weekend) for the first reply, 2 of them in business hours; solved
    # 67 hours after it was sent, 4 of them in business hours.
    Ticket.objects.create(
        customer=CustomerFactory(),
        subject="Refund",
        created_at=IN_PERIOD,
        first_response_at=IN_PERIOD + timedelta(hours=65),
        first_response_business_s=2 * 3600.0,
        solved_at=IN_PERIOD + timedelta(hours=67),
        resolution_business_s=4 * 3600.0,
        status=Ticket.Status.SOLVED,
    )

    html = client_for(manager_user).get(URL).content.decode()

    assert card_value(html, "first_response_time") == "65 h 00 min"
    assert card_value(html, "first_response_time_business") == "2 h 00 min"
    assert card_value(html, "resolution_time") == "67 h 00 min"
    assert card_value(html, "resolution_time_business") == "4 h 00 min"
    assert "n = 1" in card(html, "resolution_time_business")
    order = re.findall(r'<article[^>]*data-kpi="(\w+)"', html)
    for twin in ("first_response_time", "resolution_time"):
        assert order[order.index(twin) + 1] == f"{twin}_business"
