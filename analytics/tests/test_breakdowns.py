"""The breakdowns page: the main KPIs by team (agent, channel, category, segment) over a
period, for managers and admins, sortable, with n per cell, "No data" for nothing to
count, and a CSV export that spreadsheets cannot turn into formulas."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys.models import Answer, Question, Response, Survey
from tickets.models import Team
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

URL = "/analytics/breakdowns/"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
MARCH_FILTER = KpiFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
MID_MARCH = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def manager(manager_user) -> Client:
    return _client(manager_user)


@pytest.fixture
def nps_question() -> Question:
    survey = Survey.objects.create(name="After support")
    return Question.objects.create(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Recomendarías?"
    )


def nps_answers(question: Question, team: Team, *scores: int, segment: str = "") -> None:
    customer: Customer = CustomerFactory()
    for index, score in enumerate(scores):
        response = Response.objects.create(
            survey=question.survey,
            customer=customer,
            answered_at=MID_MARCH + timedelta(minutes=index),
            team=team,
            segment=segment,
        )
        Answer.objects.create(
            response=response, question=question, question_type=question.type, score=score
        )


@pytest.fixture
def two_teams(nps_question) -> tuple[Team, Team]:
    """Billing: 3 promoters and 1 detractor of 4 (NPS +50). Sales: 1 promoter and 2
    detractors of 3 (NPS -33.3)."""
    billing, sales = TeamFactory(name="Billing"), TeamFactory(name="Sales")
    nps_answers(nps_question, billing, 10, 10, 9, 3)
    nps_answers(nps_question, sales, 10, 0, 0)
    TeamFactory(name="Idle")  # nothing in March: no row
    return billing, sales


def support_team_with_a_ticket_and_no_answers() -> Team:
    support = TeamFactory(name="Support")
    with time_machine.travel(MID_MARCH, tick=False):
        TicketFactory(team=support)
    return support


def row_order(html: str, *labels: str) -> list[str]:
    return sorted(labels, key=lambda label: html.index(f'<th scope="row">{label}</th>'))


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- Who may read it


def test_agents_may_not_open_breakdowns(agent_user):
    assert _client(agent_user).get(URL).status_code == 403
    assert _client(agent_user).get(URL, {"format": "csv"}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in():
    response = _client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role_fixture", ["manager_user", "admin_user"])
def test_managers_and_admins_open_breakdowns_for_the_last_30_days(role_fixture, request):
    with time_machine.travel(datetime(2026, 4, 30, 10, 0, tzinfo=UTC), tick=False):
        response = _client(request.getfixturevalue(role_fixture)).get(URL)

    assert response.status_code == 200
    assert response.context["period"] == KpiFilter(
        date_from=date(2026, 4, 1), date_to=date(2026, 4, 30)
    )
    assert response.context["breakdown"].by == "team"


# --- The table


def test_each_team_row_shows_the_same_figures_as_the_kpi_functions(manager, two_teams):
    billing, sales = two_teams

    response = manager.get(URL, MARCH)

    rows = {row.label: row for row in response.context["breakdown"].rows}
    assert list(rows) == ["Billing", "Sales"]
    assert rows["Billing"].cell("nps").value == 50.0
    assert rows["Sales"].cell("nps").value == pytest.approx(-100 / 3)
    for team in (billing, sales):
        for cell in rows[team.name].cells:
            figures = REGISTRY[cell.kpi](
                KpiFilter(
                    date_from=MARCH_FILTER.date_from, date_to=MARCH_FILTER.date_to, team=team.pk
                )
            )
            expected = figures["median_s"] if "median_s" in figures else figures["value"]
            assert (cell.value, cell.n) == (expected, figures["n"]), (team.name, cell.kpi)
    html = response.content.decode()
    assert 'data-kpi="nps" data-n="4" data-small-sample' in html
    assert "50.0" in html and "-33.3" in html


def test_a_team_with_tickets_but_no_answers_shows_no_data_rather_than_zero(manager, two_teams):
    support_team_with_a_ticket_and_no_answers()

    response = manager.get(URL, MARCH)

    support = next(row for row in response.context["breakdown"].rows if row.label == "Support")
    assert support.cell("nps").value is None
    assert support.cell("nps").n == 0
    assert support.cell("resolution_rate").value == 0.0  # one ticket received, none resolved
    html = response.content.decode()
    support_row = html[html.index('<th scope="row">Support</th>') :].split("</tr>")[0]
    assert "No data" in support_row


def test_rows_sort_by_a_kpi_either_way_with_no_data_last(manager, two_teams):
    support_team_with_a_ticket_and_no_answers()

    best_first = manager.get(URL, {**MARCH, "sort": "-nps"}).content.decode()
    worst_first = manager.get(URL, {**MARCH, "sort": "nps"}).content.decode()
    by_name = manager.get(URL, MARCH).content.decode()

    assert row_order(best_first, "Billing", "Sales", "Support") == ["Billing", "Sales", "Support"]
    assert row_order(worst_first, "Billing", "Sales", "Support") == ["Sales", "Billing", "Support"]
    assert row_order(by_name, "Sales", "Support", "Billing") == ["Billing", "Sales", "Support"]
    assert 'aria-sort="descending" data-sort-key="nps"' in best_first


def test_segment_rows_add_churn_and_clv(manager, nps_question):
    nps_answers(nps_question, TeamFactory(name="Billing"), 10, segment="enterprise")

    response = manager.get(URL, {**MARCH, "by": "segment"})

    breakdown = response.context["breakdown"]
    assert "churn_rate" in breakdown.columns and "clv" in breakdown.columns
    enterprise = next(row for row in breakdown.rows if row.key == "enterprise")
    assert enterprise.cell("nps").value == 100.0


def test_a_period_with_nothing_in_it_says_so(manager, two_teams):
    response = manager.get(URL, {"from": "2025-01-01", "to": "2025-01-31"})

    assert response.status_code == 200
    assert "data-empty" in response.content.decode()


# --- CSV export


def test_the_csv_export_holds_the_same_table(manager, two_teams):
    support_team_with_a_ticket_and_no_answers()

    response = manager.get(URL, {**MARCH, "sort": "-nps", "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="breakdown-team-2026-03-01-2026-03-31.csv"'
    )
    header, *rows = csv_rows(response)
    assert header[:3] == ["Team", "NPS", "NPS n"]
    assert [row[:3] for row in rows] == [
        ["Billing", "50.0", "4"],
        ["Sales", str(-100 / 3), "3"],
        ["Support", "", "0"],  # no data is an empty cell, never 0
    ]


def test_the_csv_export_neutralises_names_that_spreadsheets_would_run(manager, nps_question):
    for name in ('=HYPERLINK("http://evil.example")', "+1", "-2", "@SUM(A1)"):
        nps_answers(nps_question, TeamFactory(name=name), 0)

    rows = csv_rows(manager.get(URL, {**MARCH, "format": "csv"}))[1:]

    assert sorted(row[0] for row in rows) == sorted(
        ["'+1", "'-2", '\'=HYPERLINK("http://evil.example")', "'@SUM(A1)"]
    )
    assert {row[1] for row in rows} == {"-100.0"}  # numbers stay numbers


# --- Bad parameters


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"from": "2026-03-31", "to": "2026-03-01"},
        {"to": "9999-12-31"},
    ],
)
def test_bad_dates_show_a_form_error_instead_of_failing(manager, query):
    page = manager.get(URL, query)
    export = manager.get(URL, {**query, "format": "csv"})

    assert page.status_code == 400
    assert page.context["form"].errors
    assert 'role="alert"' in page.content.decode() or "invalid-feedback" in page.content.decode()
    assert export.status_code == 400


def test_an_unknown_grouping_or_sort_falls_back_to_the_defaults(manager, two_teams):
    response = manager.get(URL, {**MARCH, "by": "planet", "sort": "-shoe_size"})

    assert response.status_code == 200
    breakdown = response.context["breakdown"]
    assert (breakdown.by, breakdown.sort, breakdown.descending) == ("team", "label", False)
    assert [row.label for row in breakdown.rows] == ["Billing", "Sales"]


def test_a_sort_by_a_segment_only_column_is_ignored_on_team_rows(manager, two_teams):
    response = manager.get(URL, {**MARCH, "sort": "clv"})

    assert response.context["breakdown"].sort == "label"


@pytest.mark.parametrize("by", ["team", "agent", "channel", "category", "segment"])
def test_every_grouping_renders(manager, two_teams, by):
    support_team_with_a_ticket_and_no_answers()

    assert manager.get(URL, {**MARCH, "by": by}).status_code == 200


# --- Response and resolution times in business hours


def test_business_hours_columns_follow_their_twins_as_durations_and_export_seconds(manager):
    support = TeamFactory(name="Support")
    TicketFactory(
        team=support,
        created_at=MID_MARCH,
        first_response_at=MID_MARCH + timedelta(hours=65),
        first_response_business_s=2 * 3600.0,
        solved_at=MID_MARCH + timedelta(hours=67),
        resolution_business_s=4 * 3600.0,
        status="solved",
    )

    response = manager.get(URL, MARCH)

    breakdown = response.context["breakdown"]
    for twin in ("first_response_time", "resolution_time"):
        assert breakdown.columns[breakdown.columns.index(twin) + 1] == f"{twin}_business"
    (row,) = breakdown.rows
    first_response = row.cell("first_response_time_business")
    assert (first_response.value, first_response.n, first_response.duration) == (
        2 * 3600.0,
        1,
        "2 h 0 min",
    )
    assert row.cell("first_response_time").duration == "2 d 17 h"
    assert row.cell("resolution_time_business").duration == "4 h 0 min"
    header, support_row = csv_rows(manager.get(URL, {**MARCH, "format": "csv"}))
    column = header.index("First response, business hours (median) (s)")
    assert support_row[column : column + 2] == ["7200.0", "1"]
    assert "Resolution time, business hours (median) (s)" in header
