"""The customers' side of the demo: lifecycle, purchases and touchpoints."""

import math
from datetime import datetime, timedelta
from itertools import accumulate

from django.utils.text import slugify

from customers.models import Channel, Customer, CustomerEvent, LifecycleChange, Purchase
from cxm.lib.progress import Progress
from demo import content
from demo.shape import (
    BATCH,
    CUSTOMER_HISTORY_DAYS,
    DEMO_PREFIX,
    EMAIL_DOMAINS,
    PLANS,
    SEGMENTS,
    money,
    weighted,
)


class CustomerHistory:
    """Customers, their lifecycle changes, purchases and events (mixed into DemoBuilder)."""

    def build_customers(self, progress: Progress) -> None:
        customers, changes, purchases, events = [], [], [], []
        for number in range(1, self.customer_total + 1):
            customer = self._customer(number)
            customers.append(customer)
            changes += self._lifecycle(customer)
        Customer.objects.bulk_create(customers, batch_size=BATCH)
        progress.advance(len(customers))
        for customer in customers:
            purchases += self._purchases(customer)
            events += self._customer_events(customer)
        LifecycleChange.objects.bulk_create(changes, batch_size=BATCH)
        Purchase.objects.bulk_create(purchases, batch_size=BATCH)
        CustomerEvent.objects.bulk_create(events, batch_size=BATCH)
        # auto_now stamped the load time; the row was last touched at its last change.
        for customer in customers:
            customer.updated_at = customer.last_change
        Customer.objects.bulk_update(customers, ["updated_at"], batch_size=BATCH)
        self.customers = sorted(customers, key=lambda customer: customer.created_at)
        self.customer_created = [customer.created_at for customer in self.customers]
        weights = [PLANS[customer.segment][2] for customer in self.customers]
        self.customer_cum_weights = list(accumulate(weights))
        self.counts.customers = len(customers)
        self.counts.lifecycle_changes = len(changes)
        self.counts.purchases = len(purchases)
        self.counts.customer_events = len(events)

    def _customer(self, number: int) -> Customer:
        rng = self.rng
        language = "es" if rng.random() < 0.55 else "en"
        faker = self.fakers[language]
        first, last = faker.first_name(), faker.last_name()
        segment = weighted(rng, SEGMENTS)
        roll = rng.random()
        stage = "lead" if roll < 0.2 else ("churned" if roll > 0.85 else "customer")
        # Leads are mostly recent; everybody else has been around longer.
        oldest = 120 if stage == "lead" else CUSTOMER_HISTORY_DAYS
        created_at = self.anchor - timedelta(days=rng.uniform(1, oldest))
        if number == 1:
            created_at = self.anchor - timedelta(days=CUSTOMER_HISTORY_DAYS)
        owner = None
        if segment == "enterprise" or (segment == "mid_market" and rng.random() < 0.5):
            owner = rng.choice([*self.agents, self.manager])
        customer = Customer(
            external_id=f"{DEMO_PREFIX}{number:04d}",
            name=f"{first} {last}",
            # Reserved domains: a demo survey can never reach a real person.
            email=f"{slugify(first)}.{slugify(last)}.{number}@{rng.choice(EMAIL_DOMAINS)}",
            phone=faker.phone_number(),
            language=language,
            segment=segment,
            account_owner=owner,
            created_at=created_at,
            survey_opt_out=rng.random() < 0.03,
        )
        customer.reactivated_at = None
        if stage != "lead":
            became = created_at + timedelta(days=rng.lognormvariate(math.log(10), 1.0))
            if became < self.anchor - timedelta(hours=1):
                customer.stage = Customer.Stage.CUSTOMER
                customer.became_customer_at = became
                if stage == "churned":
                    churned = became + timedelta(days=rng.uniform(45, 420))
                    if churned < self.anchor - timedelta(hours=1):
                        customer.stage = Customer.Stage.CHURNED
                        customer.churned_at = churned
                        back = churned + timedelta(days=rng.uniform(20, 120))
                        if rng.random() < 0.2 and back < self.anchor - timedelta(hours=1):
                            customer.reactivated_at = back
        customer.last_change = max(
            filter(
                None,
                (created_at, customer.became_customer_at, customer.churned_at),
            )
        )
        if customer.reactivated_at:
            customer.last_change = customer.reactivated_at
            customer.stage = Customer.Stage.CUSTOMER
            customer.churned_at_before_return = customer.churned_at
            customer.churned_at = None
        return customer

    def _lifecycle(self, customer: Customer) -> list[LifecycleChange]:
        if customer.became_customer_at is None:
            return []
        changes = [
            LifecycleChange(
                customer=customer,
                from_stage="lead",
                to_stage="customer",
                occurred_at=customer.became_customer_at,
            )
        ]
        churned = customer.churned_at or getattr(customer, "churned_at_before_return", None)
        if churned:
            changes.append(
                LifecycleChange(
                    customer=customer,
                    from_stage="customer",
                    to_stage="churned",
                    occurred_at=churned,
                )
            )
        if customer.reactivated_at:
            changes.append(
                LifecycleChange(
                    customer=customer,
                    from_stage="churned",
                    to_stage="customer",
                    occurred_at=customer.reactivated_at,
                )
            )
        return changes

    def _paying_periods(self, customer: Customer) -> list[tuple[datetime, datetime]]:
        if customer.became_customer_at is None:
            return []
        churned = getattr(customer, "churned_at_before_return", None) or customer.churned_at
        if customer.reactivated_at:
            return [
                (customer.became_customer_at, churned),
                (customer.reactivated_at, self.anchor),
            ]
        return [(customer.became_customer_at, churned or self.anchor)]

    def _purchases(self, customer: Customer) -> list[Purchase]:
        rng = self.rng
        (low, high), period, _weight = PLANS[customer.segment]
        price = rng.uniform(low, high)
        purchases = []

        def buy(at: datetime, kind: str, amount: float, margin_share: float) -> None:
            purchases.append(
                Purchase(
                    customer=customer,
                    occurred_at=at.replace(microsecond=0),
                    kind=kind,
                    amount=money(amount),
                    margin=money(amount * margin_share),
                    currency="EUR",
                )
            )

        for index, (start, end) in enumerate(self._paying_periods(customer)):
            buy(start, Purchase.Kind.NEW if index == 0 else Purchase.Kind.RENEWAL, price, 0.7)
            moment = start + timedelta(days=period)
            while moment < end:
                buy(moment, Purchase.Kind.RENEWAL, price, rng.uniform(0.65, 0.8))
                if rng.random() < 0.07:
                    extra = price * rng.uniform(0.3, 0.6)
                    upsell_at = moment + timedelta(days=rng.uniform(2, 20))
                    if upsell_at < end:
                        buy(upsell_at, Purchase.Kind.UPSELL, extra, rng.uniform(0.7, 0.85))
                        price += extra
                moment += timedelta(days=period)
            if rng.random() < 0.2:
                cross_at = start + (end - start) * rng.uniform(0.1, 0.9)
                buy(
                    cross_at,
                    Purchase.Kind.CROSS_SELL,
                    price * rng.uniform(0.15, 0.4),
                    rng.uniform(0.35, 0.55),
                )
        return purchases

    def _customer_events(self, customer: Customer) -> list[CustomerEvent]:
        rng = self.rng
        start, end = customer.created_at, self.anchor - timedelta(minutes=5)
        kinds = CustomerEvent.Kind

        def between() -> datetime:
            return start + (end - start) * rng.random()

        events = [(start, Channel.WEB, kinds.SIGNUP, None, "")]
        events += [
            (between(), Channel.WEB, kinds.VISIT, None, "") for _repeat in range(rng.randint(1, 8))
        ]
        if customer.stage == Customer.Stage.LEAD and rng.random() < 0.4:
            value = money(rng.uniform(40, 900))
            events.append((between(), Channel.WEB, kinds.CART_ABANDONED, value, ""))
        if customer.segment != "smb":
            for _repeat in range(rng.randint(1, 3)):
                channel = rng.choice([Channel.IN_PERSON, Channel.PHONE])
                note = rng.choice(content.EVENT_NOTES["meeting"])
                events.append((between(), channel, kinds.MEETING, None, note))
        for _repeat in range(rng.randint(0, 2)):
            note = rng.choice(content.EVENT_NOTES["call"])
            events.append((between(), Channel.PHONE, kinds.CALL, None, note))
        if customer.became_customer_at and rng.random() < 0.25:
            events.append((between(), Channel.EMAIL, kinds.PLAN_CHANGED, None, ""))
        if rng.random() < 0.05:
            value = money(rng.uniform(20, 300))
            note = rng.choice(content.EVENT_NOTES["return"])
            events.append((between(), Channel.IN_PERSON, kinds.RETURN, value, note))
        if rng.random() < 0.1:
            note = rng.choice(content.EVENT_NOTES["other"])
            events.append((between(), Channel.SOCIAL, kinds.OTHER, None, note))
        return [
            CustomerEvent(
                customer=customer,
                occurred_at=at,
                channel=channel,
                kind=kind,
                value=value,
                note=note,
            )
            for at, channel, kind, value, note in events
        ]
