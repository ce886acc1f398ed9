"""Customers, their lifecycle, purchases and imports, through the services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.models import Customer, LifecycleChange, Purchase
from customers.services import (
    customer_become_customer,
    customer_churn,
    customer_create,
    customer_import_upsert,
    customer_reactivate,
    customer_set_stage,
    customer_update,
    purchase_create,
    purchase_import_upsert,
    purchase_update,
)
from customers.tests.factories import CustomerFactory, PayingCustomerFactory
from cxm.lib.exceptions import ApplicationError

pytestmark = pytest.mark.django_db

Stage = Customer.Stage


def history(customer: Customer) -> list[tuple[str, str, object]]:
    return [
        (change.from_stage, change.to_stage, change.occurred_at)
        for change in LifecycleChange.objects.filter(customer=customer)
    ]


def row(customer: Customer) -> dict:
    return Customer.objects.values().get(pk=customer.pk)


def assert_refused(customer: Customer, action, *, error=ApplicationError, message: str) -> None:
    """The action raises `error` saying `message`, and neither the customer's row nor
    their lifecycle history changed."""
    before = (row(customer), history(customer))
    with pytest.raises(error) as excinfo:
        action()
    text = excinfo.value.message if error is ApplicationError else " ".join(excinfo.value.messages)
    assert message in text
    assert (row(customer), history(customer)) == before


# --- create and update ---------------------------------------------------------------


def test_customer_create_makes_a_lead_with_no_lifecycle_history():
    customer = customer_create(name="Ana López", email="ana@example.com", segment="smb")

    customer.refresh_from_db()
    assert customer.stage == Stage.LEAD
    assert customer.became_customer_at is None
    assert customer.churned_at is None
    assert customer.segment == "smb"
    assert history(customer) == []


def test_customer_create_as_a_customer_records_when_they_signed():
    signed = timezone.now() - timedelta(days=30)

    customer = customer_create(name="Ana", stage=Stage.CUSTOMER, stage_changed_at=signed)

    customer.refresh_from_db()
    assert customer.stage == Stage.CUSTOMER
    assert customer.became_customer_at == signed
    assert history(customer) == [(Stage.LEAD, Stage.CUSTOMER, signed)]


def test_customer_create_as_churned_records_a_signing_and_a_churn_at_the_same_time():
    left = timezone.now() - timedelta(days=3)

    customer = customer_create(name="Ana", stage=Stage.CHURNED, stage_changed_at=left)

    customer.refresh_from_db()
    assert customer.became_customer_at == left
    assert customer.churned_at == left
    assert history(customer) == [
        (Stage.LEAD, Stage.CUSTOMER, left),
        (Stage.CUSTOMER, Stage.CHURNED, left),
    ]


def test_customer_create_refuses_unknown_fields_and_creates_nothing():
    with pytest.raises(TypeError, match="nickname"):
        customer_create(name="Ana", nickname="Anita")

    assert not Customer.objects.exists()


def test_customer_create_refuses_an_invalid_email_and_creates_nothing():
    with pytest.raises(ValidationError) as excinfo:
        customer_create(name="Ana", email="not-an-email")

    assert "email" in excinfo.value.message_dict
    assert not Customer.objects.exists()


def test_customer_create_refuses_an_unknown_stage_and_creates_nothing():
    with pytest.raises(ValidationError) as excinfo:
        customer_create(name="Ana", stage="vip")

    assert excinfo.value.message_dict["stage"] == ["Unknown stage “vip”."]
    assert not Customer.objects.exists()


def test_customer_create_refuses_an_external_id_already_taken():
    CustomerFactory(external_id="CRM-7")

    with pytest.raises(ValidationError):
        customer_create(name="Ana", external_id="CRM-7")

    assert Customer.objects.filter(external_id="CRM-7").count() == 1


def test_customer_update_changes_the_profile(agent_user):
    customer = CustomerFactory(name="Ana", segment="")

    customer_update(
        customer=customer, name="Ana María", segment="enterprise", account_owner=agent_user
    )

    customer.refresh_from_db()
    assert customer.name == "Ana María"
    assert customer.segment == "enterprise"
    assert customer.account_owner == agent_user


def test_customer_update_refuses_unknown_fields_and_changes_nothing():
    customer = CustomerFactory(name="Ana")

    with pytest.raises(TypeError, match="became_customer_at"):
        customer_update(customer=customer, name="Eva", became_customer_at=timezone.now())

    customer.refresh_from_db()
    assert customer.name == "Ana"
    assert customer.became_customer_at is None


def test_customer_update_validates_the_email_and_changes_nothing():
    customer = CustomerFactory(email="ana@example.com")

    assert_refused(
        customer,
        lambda: customer_update(customer=customer, email="ana at example"),
        error=ValidationError,
        message="Enter a valid email address.",
    )


def test_customer_update_refuses_an_external_id_another_customer_has():
    CustomerFactory(external_id="CRM-1")
    customer = CustomerFactory(external_id="CRM-2")

    assert_refused(
        customer,
        lambda: customer_update(customer=customer, external_id="CRM-1"),
        error=ValidationError,
        message="Another customer already has the external id “CRM-1”.",
    )


def test_customer_update_may_clear_the_external_id_of_several_customers():
    first = CustomerFactory(external_id="CRM-1")
    second = CustomerFactory(external_id="CRM-2")

    customer_update(customer=first, external_id="")
    customer_update(customer=second, external_id="")

    assert Customer.objects.filter(external_id="").count() == 2


def test_customer_update_with_a_stage_goes_through_the_lifecycle():
    customer = CustomerFactory()

    customer_update(customer=customer, name="Ana", stage=Stage.CUSTOMER)

    customer.refresh_from_db()
    assert customer.name == "Ana"
    assert customer.stage == Stage.CUSTOMER
    assert customer.became_customer_at is not None
    assert [(f, t) for f, t, _ in history(customer)] == [(Stage.LEAD, Stage.CUSTOMER)]


def test_customer_update_with_a_refused_stage_keeps_the_profile_unchanged_too():
    customer = PayingCustomerFactory(name="Ana")

    assert_refused(
        customer,
        lambda: customer_update(customer=customer, name="Eva", stage=Stage.LEAD),
        message="A customer cannot go from “Customer” to “Lead”.",
    )


def test_customer_update_through_a_stale_instance_does_not_undo_a_churn():
    customer = PayingCustomerFactory()
    stale = Customer.objects.get(pk=customer.pk)
    customer_churn(customer=customer)

    customer_update(customer=stale, segment="smb")

    current = Customer.objects.get(pk=customer.pk)
    assert current.segment == "smb"
    assert current.stage == Stage.CHURNED
    assert current.churned_at == customer.churned_at


# --- lifecycle -----------------------------------------------------------------------


def test_a_lead_becomes_a_customer_churns_and_comes_back_with_consistent_timestamps():
    customer = CustomerFactory()
    signed = timezone.now() - timedelta(days=300)
    left = signed + timedelta(days=200)
    back = left + timedelta(days=50)

    customer_become_customer(customer=customer, at=signed)
    customer.refresh_from_db()
    assert (customer.stage, customer.became_customer_at, customer.churned_at) == (
        Stage.CUSTOMER,
        signed,
        None,
    )

    customer_churn(customer=customer, at=left)
    customer.refresh_from_db()
    assert (customer.stage, customer.became_customer_at, customer.churned_at) == (
        Stage.CHURNED,
        signed,
        left,
    )

    customer_reactivate(customer=customer, at=back)
    customer.refresh_from_db()
    # became_customer_at keeps the first signing date; the history keeps the gap.
    assert (customer.stage, customer.became_customer_at, customer.churned_at) == (
        Stage.CUSTOMER,
        signed,
        None,
    )
    assert history(customer) == [
        (Stage.LEAD, Stage.CUSTOMER, signed),
        (Stage.CUSTOMER, Stage.CHURNED, left),
        (Stage.CHURNED, Stage.CUSTOMER, back),
    ]


def test_a_customer_may_churn_and_come_back_more_than_once():
    customer = PayingCustomerFactory()
    start = customer.became_customer_at

    for day in (10, 20):
        customer_churn(customer=customer, at=start + timedelta(days=day))
        customer_reactivate(customer=customer, at=start + timedelta(days=day + 5))

    assert [(f, t) for f, t, _ in history(customer)] == [
        (Stage.CUSTOMER, Stage.CHURNED),
        (Stage.CHURNED, Stage.CUSTOMER),
        (Stage.CUSTOMER, Stage.CHURNED),
        (Stage.CHURNED, Stage.CUSTOMER),
    ]
    customer.refresh_from_db()
    assert customer.stage == Stage.CUSTOMER
    assert customer.became_customer_at == start


def test_transitions_default_to_now():
    customer = CustomerFactory()
    before = timezone.now()

    customer_become_customer(customer=customer)

    customer.refresh_from_db()
    assert before <= customer.became_customer_at <= timezone.now()
    assert history(customer)[0][2] == customer.became_customer_at


def test_a_lead_who_never_was_a_customer_cannot_churn():
    customer = CustomerFactory()

    assert_refused(
        customer,
        lambda: customer_churn(customer=customer),
        message="Only a current customer can churn.",
    )


def test_a_churned_customer_cannot_churn_again():
    customer = PayingCustomerFactory()
    customer_churn(customer=customer)

    assert_refused(
        customer,
        lambda: customer_churn(customer=customer),
        message="Only a current customer can churn.",
    )


def test_a_current_customer_cannot_be_reactivated():
    customer = PayingCustomerFactory()

    assert_refused(
        customer,
        lambda: customer_reactivate(customer=customer),
        message="Only a churned customer can be reactivated.",
    )


def test_a_lead_cannot_be_reactivated():
    customer = CustomerFactory()

    assert_refused(
        customer,
        lambda: customer_reactivate(customer=customer),
        message="Only a churned customer can be reactivated.",
    )


def test_a_customer_cannot_become_a_customer_twice():
    customer = PayingCustomerFactory()

    assert_refused(
        customer,
        lambda: customer_become_customer(customer=customer),
        message="Only a lead can become a customer.",
    )


def test_a_customer_cannot_churn_before_they_became_a_customer():
    customer = PayingCustomerFactory()

    assert_refused(
        customer,
        lambda: customer_churn(
            customer=customer, at=customer.became_customer_at - timedelta(seconds=1)
        ),
        message="A customer cannot churn before they became a customer.",
    )


def test_a_customer_cannot_come_back_before_they_churned():
    customer = PayingCustomerFactory()
    left = timezone.now() - timedelta(days=1)
    customer_churn(customer=customer, at=left)

    assert_refused(
        customer,
        lambda: customer_reactivate(customer=customer, at=left - timedelta(seconds=1)),
        message="A customer cannot come back before they churned.",
    )


def test_two_churns_through_two_instances_of_the_same_customer_count_once():
    customer = PayingCustomerFactory()
    other_tab = Customer.objects.get(pk=customer.pk)
    customer_churn(customer=customer)

    with pytest.raises(ApplicationError, match=r"Only a current customer can churn\."):
        customer_churn(customer=other_tab)

    assert [(f, t) for f, t, _ in history(customer)] == [(Stage.CUSTOMER, Stage.CHURNED)]


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        (Stage.LEAD, Stage.CUSTOMER, [(Stage.LEAD, Stage.CUSTOMER)]),
        (
            Stage.LEAD,
            Stage.CHURNED,
            [(Stage.LEAD, Stage.CUSTOMER), (Stage.CUSTOMER, Stage.CHURNED)],
        ),
        (Stage.CUSTOMER, Stage.CHURNED, [(Stage.CUSTOMER, Stage.CHURNED)]),
    ],
)
def test_customer_set_stage_uses_the_matching_verb(start, target, expected):
    customer = CustomerFactory() if start == Stage.LEAD else PayingCustomerFactory()

    customer_set_stage(customer=customer, stage=target)

    customer.refresh_from_db()
    assert customer.stage == target
    assert [(f, t) for f, t, _ in history(customer)] == expected


def test_customer_set_stage_brings_a_churned_customer_back():
    customer = PayingCustomerFactory()
    customer_churn(customer=customer)

    customer_set_stage(customer=customer, stage=Stage.CUSTOMER)

    customer.refresh_from_db()
    assert customer.stage == Stage.CUSTOMER
    assert history(customer)[-1][:2] == (Stage.CHURNED, Stage.CUSTOMER)


@pytest.mark.parametrize(
    ("start", "target", "message"),
    [
        (Stage.CUSTOMER, Stage.LEAD, "A customer cannot go from “Customer” to “Lead”."),
        (Stage.CHURNED, Stage.LEAD, "A customer cannot go from “Churned” to “Lead”."),
        (Stage.LEAD, Stage.LEAD, "A customer cannot go from “Lead” to “Lead”."),
    ],
)
def test_customer_set_stage_refuses_moves_the_lifecycle_does_not_have(start, target, message):
    customer = CustomerFactory() if start == Stage.LEAD else PayingCustomerFactory()
    if start == Stage.CHURNED:
        customer_churn(customer=customer)

    assert_refused(
        customer, lambda: customer_set_stage(customer=customer, stage=target), message=message
    )


def test_customer_set_stage_refuses_an_unknown_stage():
    customer = CustomerFactory()

    assert_refused(
        customer,
        lambda: customer_set_stage(customer=customer, stage="vip"),
        error=ValidationError,
        message="Unknown stage “vip”.",
    )


# --- imports -------------------------------------------------------------------------


def test_customer_import_upsert_creates_then_updates_without_duplicating():
    signed = timezone.now() - timedelta(days=100)

    first, created = customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CUSTOMER,
        became_customer_at=signed,
        churned_at=None,
        name="Ana",
        email="ana@example.com",
    )
    assert created
    again, created_again = customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CUSTOMER,
        became_customer_at=signed,
        churned_at=None,
        name="Ana López",
        email="ana@example.com",
    )

    assert not created_again
    assert again.pk == first.pk
    assert Customer.objects.filter(external_id="CRM-1").count() == 1
    again.refresh_from_db()
    assert again.name == "Ana López"
    # Re-importing the same stage records no new lifecycle change.
    assert history(again) == [(Stage.LEAD, Stage.CUSTOMER, signed)]


def test_customer_import_upsert_records_a_churn_from_the_source():
    signed = timezone.now() - timedelta(days=100)
    left = signed + timedelta(days=60)
    customer, _ = customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CUSTOMER,
        became_customer_at=signed,
        churned_at=None,
        name="Ana",
    )

    customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CHURNED,
        became_customer_at=signed,
        churned_at=left,
        name="Ana",
    )

    customer.refresh_from_db()
    assert (customer.stage, customer.churned_at) == (Stage.CHURNED, left)
    assert history(customer) == [
        (Stage.LEAD, Stage.CUSTOMER, signed),
        (Stage.CUSTOMER, Stage.CHURNED, left),
    ]


def test_a_customer_imported_as_churned_has_both_their_signing_and_their_churn():
    signed = timezone.now() - timedelta(days=100)
    left = signed + timedelta(days=60)

    customer, _ = customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CHURNED,
        became_customer_at=signed,
        churned_at=left,
        name="Ana",
    )

    assert history(customer) == [
        (Stage.LEAD, Stage.CUSTOMER, signed),
        (Stage.CUSTOMER, Stage.CHURNED, left),
    ]


def test_a_lead_imported_records_no_lifecycle_change():
    customer, created = customer_import_upsert(
        external_id="CRM-1", stage=Stage.LEAD, became_customer_at=None, churned_at=None, name="A"
    )

    assert created
    assert customer.stage == Stage.LEAD
    assert history(customer) == []


def test_a_churned_customer_imported_back_comes_back_no_earlier_than_they_left():
    signed = timezone.now() - timedelta(days=100)
    left = signed + timedelta(days=60)
    customer, _ = customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CHURNED,
        became_customer_at=signed,
        churned_at=left,
        name="Ana",
    )

    # The source kept the first signing date, which is before the churn.
    customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CUSTOMER,
        became_customer_at=signed,
        churned_at=None,
        name="Ana",
    )

    customer.refresh_from_db()
    assert (customer.stage, customer.churned_at) == (Stage.CUSTOMER, None)
    comeback = history(customer)[-1]
    assert comeback[:2] == (Stage.CHURNED, Stage.CUSTOMER)
    assert comeback[2] >= left


@pytest.mark.parametrize(
    ("stage", "became_customer_at", "churned_at", "field", "message"),
    [
        (
            Stage.CUSTOMER,
            None,
            None,
            "became_customer_at",
            "A customer needs the date they became a customer.",
        ),
        (Stage.CHURNED, -10, None, "churned_at", "A churned customer needs the date they churned."),
        (Stage.CUSTOMER, -10, -1, "churned_at", "Only a churned customer has a churn date."),
        (Stage.LEAD, None, -1, "churned_at", "Only a churned customer has a churn date."),
        (
            Stage.CHURNED,
            -1,
            -10,
            "churned_at",
            "A customer cannot churn before they became a customer.",
        ),
    ],
)
def test_customer_import_upsert_refuses_inconsistent_lifecycle_timestamps(
    stage, became_customer_at, churned_at, field, message
):
    now = timezone.now()

    def days(offset: int | None):
        return None if offset is None else now + timedelta(days=offset)

    with pytest.raises(ValidationError) as excinfo:
        customer_import_upsert(
            external_id="CRM-1",
            stage=stage,
            became_customer_at=days(became_customer_at),
            churned_at=days(churned_at),
            name="Ana",
        )

    assert excinfo.value.message_dict[field] == [message]
    assert not Customer.objects.exists()
    assert not LifecycleChange.objects.exists()


def test_customer_import_upsert_refuses_a_blank_external_id_rather_than_match_any_customer():
    customer = CustomerFactory(external_id="", name="Unrelated")

    assert_refused(
        customer,
        lambda: customer_import_upsert(
            external_id="", stage=Stage.LEAD, became_customer_at=None, churned_at=None, name="X"
        ),
        error=ValidationError,
        message="An imported customer needs an external id.",
    )
    assert Customer.objects.count() == 1


def test_customer_import_upsert_refuses_to_make_an_existing_customer_inconsistent():
    signed = timezone.now() - timedelta(days=10)
    customer, _ = customer_import_upsert(
        external_id="CRM-1",
        stage=Stage.CUSTOMER,
        became_customer_at=signed,
        churned_at=None,
        name="Ana",
    )

    assert_refused(
        customer,
        lambda: customer_import_upsert(
            external_id="CRM-1",
            stage=Stage.CHURNED,
            became_customer_at=signed,
            churned_at=None,
            name="Ana",
        ),
        error=ValidationError,
        message="A churned customer needs the date they churned.",
    )


def test_customer_import_upsert_refuses_unknown_fields():
    with pytest.raises(TypeError, match="nickname"):
        customer_import_upsert(
            external_id="CRM-1",
            stage=Stage.LEAD,
            became_customer_at=None,
            churned_at=None,
            name="Ana",
            nickname="Anita",
        )

    assert not Customer.objects.exists()


# --- purchases -----------------------------------------------------------------------


def test_purchase_create_records_the_purchase_with_an_upper_case_currency():
    customer = PayingCustomerFactory()

    purchase = purchase_create(
        customer=customer, amount=Decimal("120.00"), margin=Decimal("40.00"), currency="usd"
    )

    purchase.refresh_from_db()
    assert (purchase.amount, purchase.margin, purchase.currency) == (
        Decimal("120.00"),
        Decimal("40.00"),
        "USD",
    )
    assert purchase.kind == Purchase.Kind.NEW


def test_purchase_create_refuses_a_negative_amount():
    customer = PayingCustomerFactory()

    with pytest.raises(ValidationError) as excinfo:
        purchase_create(customer=customer, amount=Decimal("-1"), margin=Decimal("0"))

    assert "amount" in excinfo.value.message_dict
    assert not Purchase.objects.exists()


def test_purchase_update_refuses_unknown_fields():
    purchase = purchase_create(
        customer=PayingCustomerFactory(), amount=Decimal("10"), margin=Decimal("2")
    )

    with pytest.raises(TypeError, match="customer"):
        purchase_update(purchase=purchase, customer=PayingCustomerFactory())


def test_purchase_import_upsert_creates_then_updates_without_duplicating():
    customer = PayingCustomerFactory()
    at = timezone.now() - timedelta(days=5)

    first, created = purchase_import_upsert(
        customer=customer,
        occurred_at=at,
        kind=Purchase.Kind.UPSELL,
        amount=Decimal("50.00"),
        margin=Decimal("10.00"),
    )
    again, created_again = purchase_import_upsert(
        customer=customer,
        occurred_at=at,
        kind=Purchase.Kind.UPSELL,
        amount=Decimal("55.00"),
        margin=Decimal("12.00"),
        currency="eur",
    )

    assert created
    assert not created_again
    assert again.pk == first.pk
    assert Purchase.objects.count() == 1
    again.refresh_from_db()
    assert (again.amount, again.margin, again.currency) == (
        Decimal("55.00"),
        Decimal("12.00"),
        "EUR",
    )


def test_purchase_import_upsert_keeps_apart_purchases_of_another_kind_at_the_same_time():
    customer = PayingCustomerFactory()
    at = timezone.now() - timedelta(days=5)

    for kind in (Purchase.Kind.NEW, Purchase.Kind.CROSS_SELL):
        purchase_import_upsert(
            customer=customer, occurred_at=at, kind=kind, amount=Decimal("1"), margin=Decimal("1")
        )

    assert Purchase.objects.filter(customer=customer).count() == 2
