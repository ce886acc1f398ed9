"""The rules the customers tables enforce themselves, whoever writes to them."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer, LifecycleChange, Purchase
from customers.tests.factories import CustomerFactory, PayingCustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db


def test_external_id_is_unique_when_set_for_full_clean():
    CustomerFactory(external_id="CRM-1")
    duplicate = Customer(name="Other", external_id="CRM-1")

    with pytest.raises(ValidationError):
        duplicate.full_clean()


def test_external_id_is_unique_when_set_in_the_database():
    CustomerFactory(external_id="CRM-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="Other", external_id="CRM-1")


def test_many_customers_may_have_no_external_id():
    first = CustomerFactory(external_id="")
    second = Customer(name="Second", external_id="")

    second.full_clean()
    second.save()

    assert Customer.objects.filter(external_id="").count() == 2
    assert first.pk != second.pk


def test_a_customer_without_a_signing_date_is_refused_by_full_clean():
    customer = Customer(name="Ana", stage=Customer.Stage.CUSTOMER, became_customer_at=None)

    with pytest.raises(ValidationError):
        customer.full_clean()


@pytest.mark.parametrize(
    ("stage", "became_customer_at", "churned_at"),
    [
        # A customer must know when they signed.
        (Customer.Stage.CUSTOMER, None, None),
        # A current customer has not churned.
        (Customer.Stage.CUSTOMER, -10, -1),
        # A churned customer must know both dates.
        (Customer.Stage.CHURNED, -10, None),
        (Customer.Stage.CHURNED, None, -1),
        # A lead never churned.
        (Customer.Stage.LEAD, None, -1),
        # Nobody churns before they signed.
        (Customer.Stage.CHURNED, -1, -10),
    ],
)
def test_inconsistent_lifecycle_timestamps_are_refused_by_the_database(
    stage, became_customer_at, churned_at
):
    now = timezone.now()

    def days(offset: int | None):
        return None if offset is None else now + timedelta(days=offset)

    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(
            name="Ana",
            stage=stage,
            became_customer_at=days(became_customer_at),
            churned_at=days(churned_at),
        )


def test_consistent_lifecycle_timestamps_are_accepted():
    now = timezone.now()
    lead = Customer(name="Lead")
    customer = Customer(name="Customer", stage="customer", became_customer_at=now)
    churned = Customer(
        name="Churned", stage="churned", became_customer_at=now, churned_at=now + timedelta(days=1)
    )

    for row in (lead, customer, churned):
        row.full_clean()
        row.save()

    assert Customer.objects.count() == 3


def test_first_name_is_the_first_word_of_the_name():
    assert Customer(name="Ana María López").first_name == "Ana"
    assert Customer(name="").first_name == ""


def test_lifecycle_change_reads_as_from_and_to():
    customer = PayingCustomerFactory()
    change = LifecycleChange.objects.create(
        customer=customer, from_stage="lead", to_stage="customer"
    )

    assert str(change) == f"{customer.pk}: lead → customer"


def test_a_purchase_with_a_negative_amount_is_refused_by_the_database():
    customer = PayingCustomerFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Purchase.objects.create(customer=customer, amount="-1.00", margin="0")


def test_the_same_purchase_cannot_be_recorded_twice():
    purchase = PurchaseFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Purchase.objects.create(
            customer=purchase.customer,
            occurred_at=purchase.occurred_at,
            kind=purchase.kind,
            amount="5.00",
            margin="1.00",
        )
