"""The drivers page: which categories, teams and channels pull NPS and CSAT down (and by
how much), what unhappy customers wrote, CSAT by first-response time, churn and CLV by
each customer's latest NPS answer, and the closed loop. Managers and admins only."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.drivers import (
    csat_by_first_response,
    customers_by_latest_nps,
    driver_table,
    impact,
    poor_comments,
)
from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from customers.models import Customer
from customers.tests.factories import CustomerFactory, PayingCustomerFactory, PurchaseFactory
from surveys.models import Answer, Question, Response, Survey
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

URL = "/analytics/drivers/"
MARCH = {"period": "custom", "date_from": "2026-03-01", "date_to": "2026-03-31"}
MARCH_FILTER = KpiFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
MID_MARCH = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
# Session and user, the form's choices, three driver tables, comments, the FRT buckets,
# churn and CLV by NPS group, the closed loop: a fixed number, whatever the data size.
QUERY_BUDGET = 20


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def survey() -> Survey:
    return Survey.objects.create(name="After support")


def _question(survey: Survey, kind: str) -> Question:
    question, _ = Question.objects.get_or_create(
        survey=survey, type=kind, defaults={"text_en": kind, "text_es": kind}
    )
    return question


def answer(
    survey: Survey,
    *,
    nps: int | None = None,
    csat: int | None = None,
    text: str = "",
    customer: Customer | None = None,
    at: datetime = MID_MARCH,
    ticket: Ticket | None = None,
    **dimensions: object,
) -> Response:
    response = Response.objects.create(
        survey=survey,
        customer=customer or CustomerFactory(),
        answered_at=at,
        ticket=ticket,
        **dimensions,
    )
    for kind, score in ((Question.Type.NPS, nps), (Question.Type.CSAT, csat)):
        if score is not None:
            Answer.objects.create(
                response=response, question=_question(survey, kind), question_type=kind, score=score
            )
    if text:
        Answer.objects.create(
            response=response,
            question=_question(survey, Question.Type.TEXT),
            question_type=Question.Type.TEXT,
            text=text,
        )
    return response


# --- Who may read it


def test_agents_may_not_open_drivers(agent_user):
    assert _client(agent_user).get(URL).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in():
    response = _client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role_fixture", ["manager_user", "admin_user"])
def test_managers_and_admins_open_drivers(role_fixture, request, survey):
    answer(survey, nps=3, text="Too slow", category="billing")

    response = _client(request.getfixturevalue(role_fixture)).get(URL, MARCH)

    assert response.status_code == 200
    assert "Too slow" in response.content.decode()


# --- Impact


def test_impact_is_how_far_the_overall_would_rise_with_the_group_at_the_overall():
    # Overall 20 over 10 answers; a group of 4 scoring -25: with it at 20 the overall
    # would be (20·10 - (-25)·4 + 20·4) ÷ 10 = 38, i.e. 18 points up.
    assert impact(overall=20, total=10, score=-25, n=4) == pytest.approx(18)
    # A group above the average pulls the score up: bringing it to the average lowers it.
    assert impact(overall=20, total=10, score=50, n=2) == pytest.approx(-6)


@pytest.fixture
def three_categories(survey) -> None:
    """billing: 10, 0, 0, 0 (NPS -50, 75 % detractors); shipping: 10, 10, 9, 8 (NPS +75);
    returns: 6, 10 (NPS 0). Overall: 5 promoters, 4 detractors of 10, NPS +10."""
    for score in (10, 0, 0, 0):
        answer(survey, nps=score, category="billing")
    for score in (10, 10, 9, 8):
        answer(survey, nps=score, category="shipping")
    for score in (6, 10):
        answer(survey, nps=score, category="returns")


def test_nps_drivers_by_category_show_share_of_detractors_and_impact_largest_first(
    three_categories,
):
    table = driver_table(dimension="category", metric="nps", f=MARCH_FILTER)

    assert table.overall == pytest.approx(10)
    assert table.n == 10
    assert [row.label for row in table.rows] == ["billing", "returns", "shipping"]
    billing, returns, shipping = table.rows
    assert (billing.n, billing.score, billing.poor_share) == (4, -50, 75)
    assert billing.impact == pytest.approx(24)  # (10 - -50) * 4 / 10
    assert returns.impact == pytest.approx(2)  # (10 - 0) * 2 / 10
    assert shipping.impact == pytest.approx(-26)  # (10 - 75) * 4 / 10
    # Bringing every group to the overall average leaves the overall where it is.
    assert sum(row.impact for row in table.rows) == pytest.approx(0)


def test_csat_drivers_by_team_use_the_share_of_csat_4_5_and_of_csat_1_2(survey):
    billing, sales = TeamFactory(name="Billing"), TeamFactory(name="Sales")
    for score in (5, 4, 1, 2):
        answer(survey, csat=score, team=billing)
    for score in (5, 5):
        answer(survey, csat=score, team=sales)
    answer(survey, csat=1)  # no team

    table = driver_table(dimension="team", metric="csat", f=MARCH_FILTER)

    # 4 of 7 satisfied: CSAT 57.1 %.
    assert table.overall == pytest.approx(400 / 7)
    rows = {row.label: row for row in table.rows}
    assert rows["Billing"].score == 50 and rows["Billing"].poor_share == 50
    assert rows["(no team)"].score == 0 and rows["(no team)"].poor_share == 100
    assert rows["Sales"].score == 100 and rows["Sales"].poor_share == 0
    # (no team): (57.1 - 0) * 1 / 7 = 8.2 points; Billing: (57.1 - 50) * 4 / 7 = 4.1.
    assert [row.label for row in table.rows] == ["(no team)", "Billing", "Sales"]
    assert rows["Billing"].impact == pytest.approx((400 / 7 - 50) * 4 / 7)


def test_drivers_follow_the_filters_and_the_period(survey):
    answer(survey, nps=0, channel="phone")
    answer(survey, nps=10, channel="email")
    answer(survey, nps=0, channel="email", at=datetime(2026, 2, 28, 12, 0, tzinfo=UTC))

    table = driver_table(
        dimension="channel",
        metric="nps",
        f=replace(MARCH_FILTER, channel="email"),
    )

    assert [(row.key, row.n, row.score) for row in table.rows] == [("email", 1, 100)]


def test_the_page_lists_the_drivers_sorted_in_a_fixed_number_of_queries(
    three_categories, survey, manager_user, django_assert_max_num_queries
):
    # More teams, tickets and comments must not mean more queries.
    for index in range(6):
        team = TeamFactory(name=f"Team {index}")
        ticket = _ticket_answered_in(timedelta(hours=index * 5))
        answer(survey, nps=index, csat=1, text=f"Bad {index}", team=team, ticket=ticket)
    client = _client(manager_user)
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = client.get(URL, MARCH)
    for table in response.context["tables"]:
        impacts = [row.impact for row in table.rows]
        assert impacts == sorted(impacts, reverse=True)
    assert len(response.context["comments"]) == 6
    html = response.content.decode()
    assert html.index(">billing</th>") < html.index(">returns</th>") < html.index(">shipping</th>")


# --- Comments of unhappy customers


def test_comments_come_from_detractors_and_low_csat_only_newest_first(survey):
    answer(survey, nps=3, text="Detractor", at=MID_MARCH)
    answer(survey, csat=2, text="Low CSAT", at=MID_MARCH + timedelta(hours=1))
    answer(survey, nps=7, csat=3, text="Passive and neutral")
    answer(survey, nps=10, text="Happy")
    answer(survey, nps=0, text="Last year", at=datetime(2025, 3, 15, tzinfo=UTC))
    answer(survey, nps=0)  # no text

    texts = [a.text for a in poor_comments(f=MARCH_FILTER)["comments"]]
    assert texts == ["Low CSAT", "Detractor"]
    assert [a.text for a in poor_comments(f=MARCH_FILTER, kind="nps")["comments"]] == ["Detractor"]
    assert [a.text for a in poor_comments(f=MARCH_FILTER, kind="csat")["comments"]] == ["Low CSAT"]


def test_comments_follow_the_forms_filters(survey, manager_user):
    billing = TeamFactory(name="Billing")
    answer(survey, nps=2, text="Billing is slow", team=billing)
    answer(survey, nps=2, text="Other team")

    response = _client(manager_user).get(URL, {**MARCH, "team": billing.pk})

    assert [a.text for a in response.context["comments"]] == ["Billing is slow"]


def test_comments_show_customer_score_and_ticket_link_with_text_escaped(survey, manager_user):
    customer = CustomerFactory(name="Ana <b>Ruiz</b>")
    ticket = TicketFactory(customer=customer)
    answer(
        survey,
        nps=4,
        text="<script>alert(1)</script>",
        customer=customer,
        ticket=ticket,
    )

    html = _client(manager_user).get(URL, MARCH).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Ana &lt;b&gt;Ruiz&lt;/b&gt;" in html
    assert f'href="{reverse("desk:ticket_detail", args=[ticket.pk])}"' in html
    assert "NPS 4" in html


def test_comments_come_a_page_at_a_time_without_counting(survey):
    for minute in range(5):
        answer(survey, nps=1, text=f"Comment {minute}", at=MID_MARCH + timedelta(minutes=minute))

    first = poor_comments(f=MARCH_FILTER, page=1, page_size=2)
    last = poor_comments(f=MARCH_FILTER, page=3, page_size=2)

    assert [a.text for a in first["comments"]] == ["Comment 4", "Comment 3"]
    assert first["has_next"] is True
    assert [a.text for a in last["comments"]] == ["Comment 0"]
    assert last["has_next"] is False


# --- CSAT by first-response time


def _ticket_answered_in(delay: timedelta) -> Ticket:
    ticket = TicketFactory()
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=MID_MARCH - timedelta(days=2),
        first_response_at=MID_MARCH - timedelta(days=2) + delay,
    )
    return ticket


def test_csat_by_first_response_time_buckets_answers_by_their_tickets_wait(survey):
    for delay, score in (
        (timedelta(minutes=59), 5),
        (timedelta(hours=1), 4),  # exactly 1 h: the 1-4 h bucket
        (timedelta(hours=3), 2),
        (timedelta(hours=23, minutes=59), 1),
        (timedelta(hours=24), 1),  # exactly 24 h: over 24 h
        (timedelta(days=3), 5),
    ):
        answer(survey, csat=score, ticket=_ticket_answered_in(delay))
    answer(survey, csat=5, ticket=TicketFactory())  # never had a first reply: left out
    answer(survey, csat=5)  # no ticket: left out

    rows = csat_by_first_response(MARCH_FILTER)

    assert [row.n for row in rows] == [1, 2, 1, 2]
    assert [row.csat for row in rows] == [100, 50, 0, 50]
    assert rows[1].mean == pytest.approx(3)


def test_a_bucket_without_answers_has_no_data_not_zero(survey):
    rows = csat_by_first_response(MARCH_FILTER)

    assert [(row.n, row.csat, row.mean) for row in rows] == [(0, None, None)] * 4


# --- Churn and CLV by latest NPS group


def test_a_customers_latest_nps_answer_decides_their_group(survey):
    became = datetime(2026, 1, 1, tzinfo=UTC)
    # Detractor in January, promoter in March: a promoter, who churned.
    turned_promoter = PayingCustomerFactory(became_customer_at=became)
    answer(survey, nps=2, customer=turned_promoter, at=datetime(2026, 1, 10, tzinfo=UTC))
    answer(survey, nps=10, customer=turned_promoter, at=MID_MARCH)
    Customer.objects.filter(pk=turned_promoter.pk).update(
        stage=Customer.Stage.CHURNED, churned_at=datetime(2026, 3, 20, tzinfo=UTC)
    )
    # Promoter in January, detractor in March: a detractor, still a customer.
    turned_detractor = PayingCustomerFactory(became_customer_at=became)
    answer(survey, nps=10, customer=turned_detractor, at=datetime(2026, 1, 10, tzinfo=UTC))
    answer(survey, nps=5, customer=turned_detractor, at=MID_MARCH)
    # An answer after the period does not count for it.
    answer(survey, nps=0, customer=turned_detractor, at=datetime(2026, 4, 2, tzinfo=UTC))
    PurchaseFactory(customer=turned_detractor, occurred_at=MID_MARCH, margin=Decimal("40"))
    PurchaseFactory(
        customer=turned_detractor, occurred_at=MID_MARCH + timedelta(hours=1), margin=Decimal("20")
    )
    PurchaseFactory(customer=turned_promoter, occurred_at=MID_MARCH, margin=Decimal("10"))
    # A customer who never answered.
    silent = PayingCustomerFactory(became_customer_at=became)
    PurchaseFactory(customer=silent, occurred_at=MID_MARCH, margin=Decimal("7"))

    rows = {row.key: row for row in customers_by_latest_nps(MARCH_FILTER)}

    assert (rows["promoter"].churn_base, rows["promoter"].churn_rate) == (1, 100)
    assert (rows["detractor"].churn_base, rows["detractor"].churn_rate) == (1, 0)
    assert (rows["passive"].churn_base, rows["passive"].churn_rate) == (0, None)
    assert (rows["none"].churn_base, rows["none"].churn_rate) == (1, 0)
    assert (rows["detractor"].buyers, rows["detractor"].clv) == (1, 60)
    assert (rows["promoter"].buyers, rows["promoter"].clv) == (1, 10)
    assert (rows["passive"].buyers, rows["passive"].clv) == (0, None)
    assert rows["none"].clv == 7
    # The groups split the churn KPI's base between them.
    total = REGISTRY["churn_rate"](MARCH_FILTER)
    assert sum(row.churn_base for row in rows.values()) == total["n"]


def test_the_page_shows_the_closed_loop_rate_and_time(survey, manager_user):
    follow_up = TicketFactory()
    response = answer(survey, nps=1)
    Response.objects.filter(pk=response.pk).update(
        follow_up_ticket=follow_up, loop_closed_at=MID_MARCH + timedelta(hours=2)
    )
    answer_two = answer(survey, nps=1)
    Response.objects.filter(pk=answer_two.pk).update(follow_up_ticket=TicketFactory())

    page = _client(manager_user).get(URL, {**MARCH, "metric": "csat"})

    assert page.context["closed_loop"]["value"] == 50
    assert page.context["closed_loop_median"] == "2 h 00 min"
    assert page.context["metric"] == "csat"


def test_an_empty_period_shows_no_data_rather_than_zeros(manager_user):
    with time_machine.travel(datetime(2026, 4, 30, 10, 0, tzinfo=UTC), tick=False):
        response = _client(manager_user).get(URL)

    assert response.status_code == 200
    assert all(table.overall is None and not table.rows for table in response.context["tables"])
    assert response.context["closed_loop"]["value"] is None
    assert "No data" in response.content.decode()
