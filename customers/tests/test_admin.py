from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers import services
from customers.models import Customer, LifecycleChange
from customers.tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    PayingCustomerFactory,
    PurchaseFactory,
)

pytestmark = pytest.mark.django_db


def change_form_data(response) -> dict:
    """The POST data of an admin change page as it was served: the main form's initial
    values and every inline's management form, so a test changes only what it means to."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [getattr(item, "pk", item) for item in value]
        else:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def lead():
    return services.customer_create(name="Lucía Fernández", email="lucia@example.com")


@pytest.fixture
def paying_customer():
    customer = services.customer_create(name="John Carter", email="john@example.com")
    return services.customer_become_customer(
        customer=customer, at=timezone.now() - timedelta(days=30)
    )


@pytest.mark.parametrize(
    ("model_name", "make"),
    [
        ("customer", lambda: CustomerFactory(name="Lucía Fernández")),
        (
            "lifecyclechange",
            lambda: services.customer_become_customer(
                customer=CustomerFactory(name="Lucía Fernández")
            ).lifecycle_changes.get(),
        ),
        ("purchase", lambda: PurchaseFactory(customer__name="Lucía Fernández")),
        ("customerevent", lambda: CustomerEventFactory(customer__name="Lucía Fernández")),
    ],
)
def test_admin_changelist_search_and_change_page_load_for_an_admin(admin_client, model_name, make):
    instance = make()
    changelist = reverse(f"admin:customers_{model_name}_changelist")

    listed = admin_client.get(changelist)
    searched = admin_client.get(changelist, {"q": "Lucía"})
    searched_for_nobody = admin_client.get(changelist, {"q": "Nobody at all"})
    change = admin_client.get(reverse(f"admin:customers_{model_name}_change", args=[instance.pk]))

    assert listed.status_code == 200
    assert list(searched.context["cl"].result_list) == [instance]
    assert list(searched_for_nobody.context["cl"].result_list) == []
    assert change.status_code == 200


def test_customer_changelist_filters_by_stage_and_segment(admin_client, lead, paying_customer):
    Customer.objects.filter(pk=paying_customer.pk).update(segment="enterprise")
    changelist = reverse("admin:customers_customer_changelist")

    customers = admin_client.get(changelist, {"stage__exact": "customer"})
    enterprise = admin_client.get(changelist, {"segment": "enterprise"})

    assert list(customers.context["cl"].result_list) == [paying_customer]
    assert list(enterprise.context["cl"].result_list) == [paying_customer]


def test_editing_a_customer_in_the_admin_cannot_change_their_lifecycle_stage(admin_client, lead):
    url = reverse("admin:customers_customer_change", args=[lead.pk])
    data = change_form_data(admin_client.get(url))
    data.update(
        name="Lucía Fernández Ruiz",
        stage="churned",
        became_customer_at_0="2024-01-01",
        became_customer_at_1="10:00:00",
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.name == "Lucía Fernández Ruiz"
    assert lead.stage == Customer.Stage.LEAD
    assert lead.became_customer_at is None
    assert not LifecycleChange.objects.filter(customer=lead).exists()


def test_adding_a_customer_in_the_admin_creates_a_lead(admin_client):
    url = reverse("admin:customers_customer_add")
    data = change_form_data(admin_client.get(url))
    data.update(name="Ana Gómez", email="ana@example.com", language="es")

    response = admin_client.post(url, data)

    assert response.status_code == 302
    customer = Customer.objects.get(email="ana@example.com")
    assert customer.name == "Ana Gómez"
    assert customer.stage == Customer.Stage.LEAD


def test_adding_a_purchase_in_the_admin_goes_through_the_service(admin_client, paying_customer):
    response = admin_client.post(
        reverse("admin:customers_purchase_add"),
        {
            "customer": paying_customer.pk,
            "occurred_at_0": timezone.localdate().isoformat(),
            "occurred_at_1": "09:30:00",
            "kind": "renewal",
            "amount": "120.00",
            "margin": "40.00",
            "currency": "usd",
        },
    )

    assert response.status_code == 302
    purchase = paying_customer.purchases.get()
    # The service normalises the currency code.
    assert purchase.currency == "USD"
    assert purchase.kind == "renewal"


def _run_action(admin_client, action: str, *customers: Customer):
    return admin_client.post(
        reverse("admin:customers_customer_changelist"),
        {"action": action, "_selected_action": [customer.pk for customer in customers]},
        follow=True,
    )


def test_mark_as_customer_action_converts_leads_through_the_service(admin_client, lead):
    response = _run_action(admin_client, "mark_as_customer", lead)

    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.stage == Customer.Stage.CUSTOMER
    assert lead.became_customer_at is not None
    change = LifecycleChange.objects.get(customer=lead)
    assert (change.from_stage, change.to_stage) == ("lead", "customer")
    assert "1 lead became a customer." in messages_of(response)


def test_mark_as_churned_then_reactivate_actions_record_each_lifecycle_change(
    admin_client, paying_customer
):
    _run_action(admin_client, "mark_as_churned", paying_customer)
    paying_customer.refresh_from_db()
    assert paying_customer.stage == Customer.Stage.CHURNED
    assert paying_customer.churned_at is not None

    _run_action(admin_client, "reactivate", paying_customer)
    paying_customer.refresh_from_db()
    assert paying_customer.stage == Customer.Stage.CUSTOMER
    assert paying_customer.churned_at is None
    assert list(
        LifecycleChange.objects.filter(customer=paying_customer).values_list(
            "from_stage", "to_stage"
        )
    ) == [("lead", "customer"), ("customer", "churned"), ("churned", "customer")]


def test_a_refused_lifecycle_action_is_reported_and_the_others_still_apply(
    admin_client, lead, paying_customer
):
    response = _run_action(admin_client, "mark_as_churned", lead, paying_customer)

    assert response.status_code == 200
    lead.refresh_from_db()
    paying_customer.refresh_from_db()
    assert lead.stage == Customer.Stage.LEAD
    assert paying_customer.stage == Customer.Stage.CHURNED
    assert messages_of(response) == [
        "1 customer marked as churned.",
        "Lucía Fernández: Only a current customer can churn.",
    ]


@pytest.mark.parametrize(
    ("model_name", "make_many"),
    [
        (
            "customer",
            lambda owner, n: PayingCustomerFactory.create_batch(n, account_owner=owner),
        ),
        ("purchase", lambda owner, n: PurchaseFactory.create_batch(n)),
        ("customerevent", lambda owner, n: CustomerEventFactory.create_batch(n)),
        (
            "lifecyclechange",
            lambda owner, n: [
                services.customer_become_customer(customer=customer)
                for customer in CustomerFactory.create_batch(n)
            ],
        ),
    ],
)
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, admin_user, django_assert_max_num_queries, model_name, make_many
):
    url = reverse(f"admin:customers_{model_name}_changelist")
    make_many(admin_user, 5)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as five_rows:
        assert admin_client.get(url).status_code == 200

    make_many(admin_user, 25)
    with django_assert_max_num_queries(len(five_rows)):
        response = admin_client.get(url)

    assert response.context["cl"].result_count >= 30
