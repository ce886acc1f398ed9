"""The at-risk customers page: current customers ranked by a documented risk score, each
with its reasons in words, filterable by segment, exportable as safe CSV, for managers and
admins, in a constant number of queries."""

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.at_risk import at_risk_customers
from customers.models import Customer
from customers.tests.factories import CustomerFactory, PayingCustomerFactory, PurchaseFactory
from surveys.models import Answer, Question, Response, Survey
from tickets.models import Ticket, TicketEvent
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

URL = reverse("analytics:at_risk")


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def manager(manager_user) -> Client:
    return _client(manager_user)


def answer(customer: Customer, kind: str, score: int, *, days_ago: float = 1) -> None:
    survey, _ = Survey.objects.get_or_create(name=f"Survey {kind}")
    question, _ = Question.objects.get_or_create(
        survey=survey, type=kind, defaults={"text_en": "Q", "text_es": "P"}
    )
    response = Response.objects.create(
        survey=survey, customer=customer, answered_at=timezone.now() - timedelta(days=days_ago)
    )
    Answer.objects.create(response=response, question=question, question_type=kind, score=score)


def detractor(customer: Customer) -> None:
    answer(customer, Question.Type.NPS, 6)


def low_csat(customer: Customer) -> None:
    answer(customer, Question.Type.CSAT, 2)


def open_ticket(customer: Customer) -> None:
    TicketFactory(customer=customer, status=Ticket.Status.OPEN)


def breaching_ticket(customer: Customer) -> None:
    TicketFactory(
        customer=customer,
        status=Ticket.Status.OPEN,
        resolution_due_at=timezone.now() - timedelta(hours=1),
    )


def solved_ticket(customer: Customer) -> Ticket:
    ticket = TicketFactory(customer=customer)
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.SOLVED, solved_at=F("created_at")
    )
    return ticket


def reopened_ticket(customer: Customer, *, days_ago: float = 1) -> None:
    ticket = solved_ticket(customer)
    TicketEvent.objects.create(
        ticket=ticket,
        kind=TicketEvent.Kind.REOPENED,
        created_at=timezone.now() - timedelta(days=days_ago),
    )


def purchase(customer: Customer, margin: str, *, days_ago: float) -> None:
    PurchaseFactory(
        customer=customer,
        margin=Decimal(margin),
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


def falling_purchases(customer: Customer) -> None:
    purchase(customer, "100.00", days_ago=120)
    purchase(customer, "49.99", days_ago=10)


def score_of(customer: Customer) -> int:
    row = at_risk_customers().filter(pk=customer.pk).first()
    return row.risk_score if row else 0


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- The score


@pytest.mark.parametrize(
    ("signal", "points", "reason"),
    [
        (detractor, 3, "Detractor NPS answer (0-6) in the last 90 days"),
        (low_csat, 2, "CSAT of 2 or less in the last 90 days"),
        (open_ticket, 1, "1 open ticket"),
        # A breaching ticket is also an open one: 2 + 1.
        (breaching_ticket, 3, "A ticket is breaching its SLA"),
        (reopened_ticket, 1, "1 ticket reopened in the last 90 days"),
        (falling_purchases, 2, "Falling purchases: margin 49.99 in the last 90 days"),
    ],
)
def test_each_signal_adds_its_documented_points_and_reason(
    manager, signal: Callable[[Customer], None], points: int, reason: str
):
    customer = PayingCustomerFactory()

    signal(customer)

    assert score_of(customer) == points
    html = manager.get(URL).content.decode()
    assert f'data-customer="{customer.pk}" data-score="{points}"' in html
    assert reason in html


def test_open_tickets_count_at_most_three_and_reopenings_at_most_two():
    customer = PayingCustomerFactory()
    for _ in range(5):
        open_ticket(customer)
    for _ in range(4):
        reopened_ticket(customer)

    assert score_of(customer) == 3 + 2


def test_every_signal_at_once_scores_fourteen():
    customer = PayingCustomerFactory()
    for signal in (detractor, low_csat, falling_purchases, *[reopened_ticket] * 2):
        signal(customer)
    breaching_ticket(customer)
    open_ticket(customer)
    open_ticket(customer)

    assert score_of(customer) == 3 + 2 + 3 + 2 + 2 + 2


def test_signals_older_than_ninety_days_do_not_count():
    customer = PayingCustomerFactory()
    answer(customer, Question.Type.NPS, 0, days_ago=91)
    answer(customer, Question.Type.CSAT, 1, days_ago=91)
    reopened_ticket(customer, days_ago=91)

    assert score_of(customer) == 0
    assert not at_risk_customers().exists()


def test_passives_good_csat_and_closed_tickets_are_no_risk():
    customer = PayingCustomerFactory()
    answer(customer, Question.Type.NPS, 7)
    answer(customer, Question.Type.CSAT, 3)
    solved_ticket(customer)

    assert score_of(customer) == 0


@pytest.mark.parametrize(
    ("previous", "recent"),
    [("100.00", "50.00"), ("0.00", "0.00"), ("100.00", "150.00")],
    ids=["exactly-half", "nothing-before", "rising"],
)
def test_purchases_only_fall_below_half_of_a_positive_previous_margin(previous, recent):
    customer = PayingCustomerFactory()
    purchase(customer, previous, days_ago=120)
    purchase(customer, recent, days_ago=10)

    assert score_of(customer) == 0


def test_half_of_an_odd_previous_margin_keeps_its_cents():
    customer = PayingCustomerFactory()
    purchase(customer, "99.00", days_ago=120)
    purchase(customer, "49.40", days_ago=10)  # below 49.50, above 49 (integer halving)

    assert score_of(customer) == 2


def test_a_customer_who_stopped_buying_has_falling_purchases():
    customer = PayingCustomerFactory()
    purchase(customer, "80.00", days_ago=100)

    assert score_of(customer) == 2


# --- The list


def test_customers_are_ranked_by_score_then_open_tickets(manager):
    low = PayingCustomerFactory(name="Low")
    high = PayingCustomerFactory(name="High")
    middle = PayingCustomerFactory(name="Middle")
    tied = PayingCustomerFactory(name="Tied")
    open_ticket(low)  # 1
    detractor(high)
    low_csat(high)  # 5
    detractor(middle)  # 3
    for _ in range(3):
        open_ticket(tied)  # 3, with more open tickets than Middle

    assert list(at_risk_customers()) == [high, tied, middle, low]
    html = manager.get(URL).content.decode()
    positions = [html.index(f'data-customer="{c.pk}"') for c in (high, tied, middle, low)]
    assert positions == sorted(positions)


def test_leads_and_churned_customers_are_not_listed(manager):
    lead = CustomerFactory(stage=Customer.Stage.LEAD)
    churned = PayingCustomerFactory(stage=Customer.Stage.CHURNED, churned_at=timezone.now())
    current = PayingCustomerFactory()
    for customer in (lead, churned, current):
        detractor(customer)

    assert list(at_risk_customers()) == [current]
    html = manager.get(URL).content.decode()
    assert f'data-customer="{churned.pk}"' not in html
    assert f'data-customer="{lead.pk}"' not in html


def test_each_row_links_to_the_profile_and_the_open_tickets(manager):
    customer = PayingCustomerFactory(email="ana@example.com")
    open_ticket(customer)
    quiet = PayingCustomerFactory()
    detractor(quiet)

    html = manager.get(URL).content.decode()

    assert f'href="{reverse("customers:detail", args=[customer.pk])}"' in html
    assert f'href="{reverse("desk:queue")}?view=all&amp;sort=sla&amp;q=ana%40example.com"' in html
    assert html.count("data-open-tickets") == 1  # no ticket link without open tickets


def test_the_segment_filter_keeps_one_segment(manager):
    smb = PayingCustomerFactory(segment="SMB")
    enterprise = PayingCustomerFactory(segment="Enterprise")
    detractor(smb)
    detractor(enterprise)

    html = manager.get(URL, {"segment": "SMB"}).content.decode()

    assert f'data-customer="{smb.pk}"' in html
    assert f'data-customer="{enterprise.pk}"' not in html


def test_an_unknown_segment_is_a_form_error(manager):
    response = manager.get(URL, {"segment": "Nope"})

    assert response.status_code == 400
    assert "data-at-risk" not in response.content.decode()


def test_nobody_at_risk_says_so(manager):
    PayingCustomerFactory()

    html = manager.get(URL).content.decode()

    assert "data-empty" in html
    assert "Why is this customer here?" in html


def test_the_list_shows_fifty_per_page_with_a_next_link(manager):
    customers = PayingCustomerFactory.create_batch(51)
    for customer in customers:
        open_ticket(customer)

    first = manager.get(URL).content.decode()
    second = manager.get(URL, {"page": 2}).content.decode()

    assert first.count("data-score=") == 50
    assert 'rel="next" href="?page=2"' in first
    assert second.count("data-score=") == 1
    assert 'rel="next"' not in second
    assert 'rel="prev"' in second


# --- Export


def test_csv_export_lists_the_ranked_customers_with_reasons_and_neutralised_cells(manager):
    sneaky = PayingCustomerFactory(name="=HYPERLINK(1)", segment="-SMB", email="a@example.com")
    other = PayingCustomerFactory(name="Plain", segment="+Big")
    detractor(sneaky)
    open_ticket(other)

    response = manager.get(URL, {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0][:2] == ["Rank", "Customer number"]
    assert rows[1][:6] == ["1", str(sneaky.pk), "'=HYPERLINK(1)", "a@example.com", "'-SMB", "3"]
    assert "Detractor NPS answer" in rows[1][6]
    assert rows[2][2:6] == ["Plain", other.email, "'+Big", "1"]
    assert len(rows) == 3


def test_csv_export_honours_the_segment(manager):
    smb = PayingCustomerFactory(segment="SMB")
    PayingCustomerFactory(segment="Enterprise")
    for customer in Customer.objects.all():
        detractor(customer)

    rows = csv_rows(manager.get(URL, {"format": "csv", "segment": "SMB"}))

    assert [row[1] for row in rows[1:]] == [str(smb.pk)]


# --- Who may read it, and how fast


def test_agents_may_not_open_the_at_risk_list(agent_user):
    assert _client(agent_user).get(URL).status_code == 403
    assert _client(agent_user).get(URL, {"format": "csv"}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in():
    response = _client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role_fixture", ["manager_user", "admin_user"])
def test_managers_and_admins_see_the_list(request, role_fixture):
    user = request.getfixturevalue(role_fixture)

    assert _client(user).get(URL).status_code == 200


def _at_risk_customers(count: int) -> None:
    for index in range(count):
        customer = PayingCustomerFactory(segment=f"S{index % 3}")
        detractor(customer)
        low_csat(customer)
        breaching_ticket(customer)
        reopened_ticket(customer)
        falling_purchases(customer)


@pytest.mark.parametrize("query", [{}, {"format": "csv"}], ids=["page", "csv"])
def test_the_number_of_queries_does_not_grow_with_the_customers(
    manager, django_assert_num_queries, query
):
    _at_risk_customers(3)
    manager.get(URL, query)  # warm the session and the user
    with CaptureQueriesContext(connection) as few:
        assert manager.get(URL, query).status_code == 200
    queries_for_three = len(few.captured_queries)
    # Session, user, permissions, segments, the list itself, the header's notifications.
    assert queries_for_three <= 8

    _at_risk_customers(17)
    with django_assert_num_queries(queries_for_three) as many:
        response = manager.get(URL, query)

    assert response.status_code == 200
    assert len(many.captured_queries) == queries_for_three
