from decimal import Decimal

import factory
from django.utils import timezone

from customers.models import Customer, CustomerEvent, Purchase


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:05d}")
    name = factory.Faker("name", locale="es_ES")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    language = "es"
    stage = Customer.Stage.LEAD


class PayingCustomerFactory(CustomerFactory):
    stage = Customer.Stage.CUSTOMER
    became_customer_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=90))


class PurchaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Purchase

    customer = factory.SubFactory(PayingCustomerFactory)
    occurred_at = factory.Sequence(lambda n: timezone.now() - timezone.timedelta(hours=n + 1))
    amount = Decimal("100.00")
    margin = Decimal("30.00")
    kind = Purchase.Kind.NEW


class CustomerEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerEvent

    customer = factory.SubFactory(CustomerFactory)
    channel = "web"
    kind = CustomerEvent.Kind.VISIT
