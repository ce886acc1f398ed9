"""The privacy actions of the Customer admin, for the admin role only: a JSON download,
and an erasure behind a confirmation page that asks why; the erasure log, read-only."""

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.tests.factories import agent, manager
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from privacy.models import ErasureRecord

from .conftest import EMAIL, NAME

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:customers_customer_changelist")
ACTIONS = ("export_personal_data", "erase_personal_data")


def act(client, action: str, customers, **data):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [c.pk for c in customers], **data},
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_admin_role_is_offered_both_actions(admin_client, held):
    response = admin_client.get(CHANGELIST)

    offered = dict(response.context["action_form"].fields["action"].choices)
    assert offered["export_personal_data"] == "Export personal data (JSON)"
    assert offered["erase_personal_data"] == "Erase personal data"


@pytest.mark.parametrize("make", [manager, agent], ids=["manager", "agent"])
def test_managers_and_agents_can_neither_export_nor_erase(client, held, make):
    user = make(username="staffer", is_staff=True)
    client.force_login(user)

    listed = client.get(CHANGELIST)
    assert listed.status_code == 200  # they may see customers in the admin…
    offered = dict(listed.context["action_form"].fields["action"].choices)
    assert not set(ACTIONS) & set(offered)

    for action in ACTIONS:  # …and a forged POST does nothing either
        response = act(client, action, [held.customer], post="yes", reason="Because")
        assert response.status_code == 302
        assert response.get("Content-Type", "").startswith("text/html")
    held.customer.refresh_from_db()
    assert held.customer.email == EMAIL
    assert not ErasureRecord.objects.exists()


def test_exporting_one_customer_downloads_their_json(admin_client, held):
    response = act(admin_client, "export_personal_data", [held.customer])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="customer-{held.customer.pk}.json"'
    )
    export = json.loads(response.content)
    assert export["customer"]["name"] == NAME
    assert len(export["tickets"]) == 2


def test_exporting_several_customers_downloads_one_json_list(admin_client, held):
    other = CustomerFactory(name="Other Person")

    response = act(admin_client, "export_personal_data", [held.customer, other])

    names = [export["customer"]["name"] for export in json.loads(response.content)["customers"]]
    assert sorted(names) == sorted([NAME, "Other Person"])


def test_erasing_first_shows_a_confirmation_page_and_erases_nothing(admin_client, held):
    response = act(admin_client, "erase_personal_data", [held.customer])

    assert response.status_code == 200
    assert "privacy/erase_confirmation.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert NAME in page
    assert 'name="post" value="yes"' in page
    held.customer.refresh_from_db()
    assert held.customer.name == NAME


def test_confirming_without_a_reason_asks_again(admin_client, held):
    response = act(admin_client, "erase_personal_data", [held.customer], post="yes", reason=" ")

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert not ErasureRecord.objects.exists()


def test_confirming_with_a_reason_erases_and_records_who(admin_client, admin_user, held):
    response = act(
        admin_client, "erase_personal_data", [held.customer], post="yes", reason="DPO case 12"
    )

    assert response.status_code == 302
    assert messages_of(response) == ["The personal data of 1 customer was erased."]
    held.customer.refresh_from_db()
    assert held.customer.email == ""
    record = ErasureRecord.objects.get()
    assert (record.actor, record.reason) == (admin_user, "DPO case 12")


def test_an_already_erased_customer_is_flagged_and_refused(admin_client, held):
    other = CustomerFactory(name="Other Person")
    act(admin_client, "erase_personal_data", [held.customer], post="yes", reason="First")

    page = act(admin_client, "erase_personal_data", [held.customer, other])
    assert "already erased" in page.content.decode()
    response = act(
        admin_client, "erase_personal_data", [held.customer, other], post="yes", reason="Again"
    )

    notes = messages_of(response)
    assert "The personal data of 1 customer was erased." in notes
    assert any("already erased" in note for note in notes)
    assert ErasureRecord.objects.count() == 2
    assert Customer.objects.get(pk=other.pk).name == f"erased-{other.pk}"


def test_the_erasure_log_is_read_only_and_for_admins(admin_client, client, held, admin_user):
    act(admin_client, "erase_personal_data", [held.customer], post="yes", reason="DPO case 12")
    record = ErasureRecord.objects.get()

    listed = admin_client.get(reverse("admin:privacy_erasurerecord_changelist"))
    assert listed.status_code == 200
    assert "DPO case 12" in listed.content.decode()
    assert admin_client.get(reverse("admin:privacy_erasurerecord_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:privacy_erasurerecord_delete", args=[record.pk])
        ).status_code
        == 403
    )

    client.force_login(manager(username="boss", is_staff=True))
    assert client.get(reverse("admin:privacy_erasurerecord_changelist")).status_code == 403
