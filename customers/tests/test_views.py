"""The customer pages: list and search, a new customer, the profile with its timeline,
and editing the profile."""

from datetime import timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import agent
from customers.models import Customer, LifecycleChange
from customers.tests.factories import CustomerEventFactory, CustomerFactory, PurchaseFactory
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

LIST = reverse("customers:list")
NEW = reverse("customers:new")


def detail_url(customer: Customer) -> str:
    return reverse("customers:detail", args=[customer.pk])


def edit_url(customer: Customer) -> str:
    return reverse("customers:edit", args=[customer.pk])


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


def names_listed(response) -> list[str]:
    return [link.get_text(strip=True) for link in soup(response).select("tbody td:first-child a")]


@pytest.fixture
def desk(client, agent_user):
    client.force_login(agent_user)
    return client


def profile_form(**fields) -> dict:
    return {
        "name": "Marta Ruiz",
        "email": "marta@example.com",
        "phone": "",
        "language": "es",
        "segment": "",
        "account_owner": "",
        "external_id": "",
        "stage": Customer.Stage.LEAD,
        **fields,
    }


# --- List and search ------------------------------------------------------------------


def test_the_list_searches_by_name_email_and_external_id(desk):
    CustomerFactory(name="Marta Ruiz", email="marta@example.com", external_id="CRM-1")
    CustomerFactory(name="Pablo Gil", email="pablo@shop.example", external_id="CRM-2")
    CustomerFactory(name="Carmen Sanz", email="carmen@example.com", external_id="CRM-3")

    assert names_listed(desk.get(LIST, {"q": "marta"})) == ["Marta Ruiz"]
    assert names_listed(desk.get(LIST, {"q": "shop.example"})) == ["Pablo Gil"]
    assert names_listed(desk.get(LIST, {"q": "CRM-3"})) == ["Carmen Sanz"]
    assert names_listed(desk.get(LIST)) == ["Carmen Sanz", "Marta Ruiz", "Pablo Gil"]


def test_the_list_pages_through_customers_without_counting_the_table(
    desk, django_assert_max_num_queries
):
    for number in range(30):
        CustomerFactory(name=f"Customer {number:02d}")

    with django_assert_max_num_queries(10) as queries:
        first = desk.get(LIST)
    second = desk.get(LIST, {"page": 2})

    assert len(names_listed(first)) == 25
    assert names_listed(second) == [f"Customer {number}" for number in range(25, 30)]
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    assert soup(first).select_one("a.page-link").get_text(strip=True) == "Next"
    assert soup(second).select_one("a.page-link").get_text(strip=True) == "Previous"


def test_a_page_number_that_is_not_a_number_shows_the_first_page(desk):
    CustomerFactory(name="Marta Ruiz")

    assert names_listed(desk.get(LIST, {"page": "x"})) == ["Marta Ruiz"]


# --- New and edit -----------------------------------------------------------------------


def test_an_agent_creates_a_customer_and_lands_on_the_profile(desk):
    response = desk.post(NEW, profile_form(stage=Customer.Stage.CUSTOMER))

    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(customer)
    assert (customer.name, customer.email, customer.stage) == (
        "Marta Ruiz",
        "marta@example.com",
        Customer.Stage.CUSTOMER,
    )
    assert customer.became_customer_at is not None
    assert LifecycleChange.objects.filter(customer=customer).count() == 1


def test_a_taken_external_id_is_a_form_error_and_the_typed_values_stay(desk):
    CustomerFactory(external_id="CRM-1")

    response = desk.post(NEW, profile_form(external_id="CRM-1"))

    assert response.status_code == 200
    assert "Another customer already has the external id “CRM-1”." in response.content.decode()
    assert soup(response).select_one("input[name=name]")["value"] == "Marta Ruiz"
    assert Customer.objects.count() == 1


def test_editing_the_profile_saves_it_and_moves_the_stage_by_the_lifecycle_rules(desk):
    customer = CustomerFactory(name="Marta Ruiz", email="old@example.com")

    response = desk.post(
        edit_url(customer),
        profile_form(email="new@example.com", segment="smb", stage=Customer.Stage.CUSTOMER),
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.email, customer.segment, customer.stage) == (
        "new@example.com",
        "smb",
        Customer.Stage.CUSTOMER,
    )


def test_a_stage_change_the_lifecycle_forbids_is_shown_on_the_form(desk):
    customer = CustomerFactory(name="Marta Ruiz", email="marta@example.com")
    customer.stage = Customer.Stage.CUSTOMER
    customer.became_customer_at = timezone.now()
    customer.save()

    response = desk.post(edit_url(customer), profile_form(stage=Customer.Stage.LEAD))

    assert response.status_code == 200
    assert "A customer cannot go from “Customer” to “Lead”." in response.content.decode()
    customer.refresh_from_db()
    assert customer.stage == Customer.Stage.CUSTOMER


# --- Profile and timeline ---------------------------------------------------------------


def test_the_profile_timeline_shows_tickets_purchases_and_events_newest_first(desk):
    customer = CustomerFactory(name="Marta Ruiz")
    now = timezone.now()
    TicketFactory(customer=customer, subject="Old ticket", created_at=now - timedelta(days=9))
    PurchaseFactory(customer=customer, occurred_at=now - timedelta(days=5), amount=Decimal("80"))
    CustomerEventFactory(customer=customer, occurred_at=now - timedelta(days=3), note="Called")
    TicketFactory(customer=customer, subject="New ticket", created_at=now - timedelta(days=1))
    TicketFactory(subject="Someone else's")

    page = soup(desk.get(detail_url(customer)))

    entries = [
        (item["data-timeline"], " ".join(item.get_text(" ", strip=True).split()))
        for item in page.select("[data-timeline]")
    ]
    assert [kind for kind, _text in entries] == ["ticket", "event", "purchase", "ticket"]
    assert "New ticket" in entries[0][1]
    assert "Called" in entries[1][1]
    assert "80.00 EUR" in entries[2][1]
    assert "Old ticket" in entries[3][1]
    assert "Someone else's" not in page.get_text()


def test_the_timeline_leaves_out_tickets_a_restricted_agent_may_not_see(client):
    customer = CustomerFactory()
    TicketFactory(customer=customer, subject="Billing matter", team=TeamFactory(name="Billing"))
    restricted = agent(ticket_access=User.TicketAccess.TEAMS)
    client.force_login(restricted)

    page = soup(client.get(detail_url(customer)))

    assert "Billing matter" not in page.get_text()


def test_the_profile_needs_the_same_queries_for_a_long_history_as_for_a_short_one(
    desk, django_assert_max_num_queries
):
    short, long = CustomerFactory(), CustomerFactory()
    for customer, count in ((short, 1), (long, 20)):
        for _number in range(count):
            TicketFactory(customer=customer)
            PurchaseFactory(customer=customer)
            CustomerEventFactory(customer=customer)
    with CaptureQueriesContext(connection) as baseline:
        desk.get(detail_url(short))

    with django_assert_max_num_queries(len(baseline)):
        response = desk.get(detail_url(long))

    assert len(soup(response).select("[data-timeline]")) == 60


def test_an_unknown_customer_is_404(desk):
    assert desk.get(reverse("customers:detail", args=[999])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(LIST)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_customers_python_code_never_imports_the_tickets_app():
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent
    offenders = [
        path.name
        for path in package.glob("*.py")
        if "import tickets" in path.read_text() or "from tickets" in path.read_text()
    ]
    assert offenders == []


def test_a_ticket_in_the_timeline_links_to_its_page(desk):
    customer = CustomerFactory()
    ticket = TicketFactory(customer=customer)

    page = soup(desk.get(detail_url(customer)))

    assert page.select_one(f"a[href='{reverse('desk:ticket_detail', args=[ticket.pk])}']")
