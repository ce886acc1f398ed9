"""Customer KPIs: churn, retention, churn vs acquisition, CLV and lead conversion."""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.kpis.customers import (
    KPIS,
    kpi_churn_rate,
    kpi_churn_vs_acquisition,
    kpi_clv,
    kpi_conversion_rate,
    kpi_retention_rate,
    lifecycle_customers,
)
from customers import services
from customers.models import Customer, LifecycleChange, Purchase
from customers.tests.factories import CustomerFactory, PayingCustomerFactory

MADRID = ZoneInfo("Europe/Madrid")
JANUARY = KpiFilter(date_from=date(2025, 1, 1), date_to=date(2025, 1, 31))
DECEMBER = KpiFilter(date_from=date(2024, 12, 1), date_to=date(2024, 12, 31))


def madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


def signed_customer(at: datetime, **fields) -> Customer:
    return services.customer_create(
        name="Customer", stage=Customer.Stage.CUSTOMER, stage_changed_at=at, **fields
    )


def customers_at_start(count: int, **fields) -> list[Customer]:
    return [signed_customer(madrid(2024, 6, 1), **fields) for _ in range(count)]


# --- churn, retention, churn vs acquisition -------------------------------------------


@pytest.mark.django_db
def test_churn_retention_and_the_ratio_match_the_textbook_worked_example():
    # The retention formula's usual worked example, ((CE - CN) / CS) * 100 (e.g. HubSpot,
    # "customer retention rate"): 20 customers at the start, 6 lost, 4 new, 18 at the end
    # → retention (18 - 4) / 20 = 70 %, churn 6 / 20 = 30 %, 6 cancellations per 4 new = 1.5.
    base = customers_at_start(20)
    for customer in base[:6]:
        services.customer_churn(customer=customer, at=madrid(2025, 1, 15))
    for _ in range(4):
        signed_customer(madrid(2025, 1, 20))

    assert kpi_churn_rate(JANUARY) == {"value": 30.0, "n": 20, "lost": 6, "small_sample": True}
    assert kpi_retention_rate(JANUARY) == {
        "value": 70.0,
        "n": 20,
        "at_start": 20,
        "at_end": 18,
        "acquired": 4,
        "small_sample": True,
    }
    assert kpi_churn_vs_acquisition(JANUARY) == {
        "value": 1.5,
        "n": 4,
        "churned": 6,
        "acquired": 4,
        "small_sample": True,
    }


@pytest.mark.django_db
def test_every_customer_kpi_says_no_data_rather_than_zero_for_an_empty_database():
    for kpi in KPIS.values():
        figures = kpi(JANUARY)
        assert figures["value"] is None
        assert figures["n"] == 0
        assert figures["small_sample"] is True
    assert kpi_clv(JANUARY)["predictive"] is None


@pytest.mark.django_db
def test_a_customer_who_churns_and_comes_back_within_the_period_is_lost_once_and_not_retained():
    (customer,) = customers_at_start(1)
    services.customer_churn(customer=customer, at=madrid(2025, 1, 5))
    services.customer_reactivate(customer=customer, at=madrid(2025, 1, 10))
    services.customer_churn(customer=customer, at=madrid(2025, 1, 12))
    services.customer_reactivate(customer=customer, at=madrid(2025, 1, 20))

    assert kpi_churn_rate(JANUARY)["value"] == 100.0
    assert kpi_churn_rate(JANUARY)["lost"] == 1
    retention = kpi_retention_rate(JANUARY)
    assert (retention["at_start"], retention["at_end"], retention["acquired"]) == (1, 1, 1)
    assert retention["value"] == 0.0
    ratio = kpi_churn_vs_acquisition(JANUARY)
    assert (ratio["churned"], ratio["acquired"], ratio["value"]) == (1, 1, 1.0)


@pytest.mark.django_db
def test_a_customer_who_joins_and_leaves_within_the_period_is_not_churn_of_the_starting_base():
    customers_at_start(4)
    newcomer = signed_customer(madrid(2025, 1, 3))
    services.customer_churn(customer=newcomer, at=madrid(2025, 1, 9))

    assert kpi_churn_rate(JANUARY)["value"] == 0.0
    # The formula subtracts every acquisition from the end count, so a newcomer who left
    # again lowers retention: (4 - 1) / 4.
    assert kpi_retention_rate(JANUARY)["value"] == 75.0
    assert kpi_churn_vs_acquisition(JANUARY)["value"] == 1.0


@pytest.mark.django_db
def test_a_churn_late_on_new_years_eve_utc_counts_on_new_years_day_in_madrid():
    (customer,) = customers_at_start(1)
    services.customer_churn(customer=customer, at=datetime(2024, 12, 31, 23, 30, tzinfo=UTC))

    assert kpi_churn_rate(DECEMBER)["value"] == 0.0
    assert kpi_churn_rate(JANUARY)["value"] == 100.0


@pytest.mark.django_db
def test_a_change_at_the_first_instant_of_the_period_belongs_to_the_period():
    (customer,) = customers_at_start(1)
    services.customer_churn(customer=customer, at=madrid(2025, 1, 1))
    signed_customer(madrid(2025, 1, 1))

    assert kpi_churn_rate(JANUARY)["lost"] == 1
    assert kpi_churn_rate(DECEMBER)["lost"] == 0
    assert kpi_retention_rate(JANUARY)["acquired"] == 1
    assert kpi_retention_rate(DECEMBER)["at_end"] == 1


@pytest.mark.django_db
def test_a_lead_who_churns_at_once_is_acquired_and_churned_but_never_at_the_end():
    lead = CustomerFactory()
    services.customer_set_stage(customer=lead, stage=Customer.Stage.CHURNED, at=madrid(2025, 1, 7))

    retention = kpi_retention_rate(JANUARY)
    assert (retention["at_start"], retention["at_end"], retention["acquired"]) == (0, 0, 1)
    assert retention["value"] is None
    assert kpi_churn_vs_acquisition(JANUARY)["value"] == 1.0


@pytest.mark.django_db
def test_imported_customers_count_like_native_ones():
    services.customer_import_upsert(
        external_id="ERP-1",
        name="Imported",
        stage=Customer.Stage.CHURNED,
        became_customer_at=madrid(2024, 3, 1),
        churned_at=madrid(2025, 1, 10),
    )
    services.customer_import_upsert(
        external_id="ERP-2",
        name="Imported too",
        stage=Customer.Stage.CUSTOMER,
        became_customer_at=madrid(2024, 3, 1),
        churned_at=None,
    )

    assert kpi_churn_rate(JANUARY) == {"value": 50.0, "n": 2, "lost": 1, "small_sample": True}


@pytest.mark.django_db
def test_legacy_customers_without_lifecycle_rows_fall_back_to_their_timestamps():
    PayingCustomerFactory(became_customer_at=madrid(2024, 5, 1))
    PayingCustomerFactory(
        stage=Customer.Stage.CHURNED,
        became_customer_at=madrid(2024, 5, 1),
        churned_at=madrid(2025, 1, 20),
    )
    PayingCustomerFactory(became_customer_at=madrid(2025, 1, 25))
    assert not LifecycleChange.objects.exists()

    assert kpi_churn_rate(JANUARY) == {"value": 50.0, "n": 2, "lost": 1, "small_sample": True}
    retention = kpi_retention_rate(JANUARY)
    assert (retention["at_start"], retention["at_end"], retention["acquired"]) == (2, 2, 1)


@pytest.mark.django_db
def test_a_legacy_customer_who_churns_through_the_app_counted_as_a_customer_until_then():
    legacy = PayingCustomerFactory(became_customer_at=madrid(2024, 5, 1))
    services.customer_churn(customer=legacy, at=madrid(2025, 1, 20))
    services.customer_reactivate(customer=legacy, at=madrid(2025, 2, 10))

    assert kpi_churn_rate(JANUARY) == {"value": 100.0, "n": 1, "lost": 1, "small_sample": True}
    assert kpi_churn_rate(DECEMBER)["n"] == 1
    february = KpiFilter(date_from=date(2025, 2, 1), date_to=date(2025, 2, 28))
    assert kpi_retention_rate(february)["at_start"] == 0
    assert kpi_retention_rate(february)["acquired"] == 1


@pytest.mark.django_db
def test_changes_at_the_same_instant_count_in_the_order_they_were_recorded():
    came_back = signed_customer(madrid(2024, 6, 1), segment="came back")
    services.customer_churn(customer=came_back, at=madrid(2024, 12, 15))
    services.customer_reactivate(customer=came_back, at=madrid(2024, 12, 15))
    signed_and_left = CustomerFactory(segment="left")
    services.customer_set_stage(
        customer=signed_and_left, stage=Customer.Stage.CHURNED, at=madrid(2024, 12, 15)
    )

    def january(segment: str) -> KpiFilter:
        return KpiFilter(JANUARY.date_from, JANUARY.date_to, segment=segment)

    # Churned and back at once: a customer at the start. Signed and left at once: not.
    assert kpi_retention_rate(january("came back"))["at_start"] == 1
    assert kpi_retention_rate(january("came back"))["at_end"] == 1
    assert kpi_retention_rate(january("left"))["at_start"] == 0
    assert kpi_retention_rate(january("left"))["at_end"] == 0


@pytest.mark.django_db
def test_a_churn_known_only_by_its_timestamp_ends_a_logged_membership():
    left_in_january = signed_customer(madrid(2024, 6, 1))
    left_when_signing = signed_customer(madrid(2024, 6, 1))
    # Churns set directly (an older version, a database fix): no row to "churned".
    Customer.objects.filter(pk=left_in_january.pk).update(
        stage=Customer.Stage.CHURNED, churned_at=madrid(2025, 1, 15)
    )
    Customer.objects.filter(pk=left_when_signing.pk).update(
        stage=Customer.Stage.CHURNED, churned_at=madrid(2024, 6, 1)
    )

    assert kpi_churn_rate(JANUARY) == {"value": 100.0, "n": 1, "lost": 1, "small_sample": True}
    assert kpi_retention_rate(JANUARY)["at_end"] == 0
    assert kpi_churn_vs_acquisition(JANUARY)["churned"] == 1


@pytest.mark.django_db
def test_the_segment_filter_counts_only_that_segments_customers():
    smb = customers_at_start(2, segment="smb")
    customers_at_start(3, segment="enterprise")
    services.customer_churn(customer=smb[0], at=madrid(2025, 1, 15))

    assert kpi_churn_rate(KpiFilter(JANUARY.date_from, JANUARY.date_to, segment="smb")) == {
        "value": 50.0,
        "n": 2,
        "lost": 1,
        "small_sample": True,
    }
    nobody = KpiFilter(JANUARY.date_from, JANUARY.date_to, segment="public sector")
    assert kpi_churn_rate(nobody)["value"] is None
    assert kpi_churn_rate(nobody)["n"] == 0


@pytest.mark.django_db
def test_ticket_and_survey_dimensions_do_not_change_customer_kpis():
    base = customers_at_start(3)
    services.customer_churn(customer=base[0], at=madrid(2025, 1, 15))
    with_ticket_filters = KpiFilter(
        JANUARY.date_from, JANUARY.date_to, team=1, agent=2, channel="email", category="x"
    )

    for kpi in KPIS.values():
        assert kpi(with_ticket_filters) == kpi(JANUARY)


@pytest.mark.django_db
def test_thirty_customers_at_the_start_are_no_longer_a_small_sample():
    customers_at_start(30)

    assert kpi_churn_rate(JANUARY)["small_sample"] is False


# --- CLV --------------------------------------------------------------------------------


def buy(customer: Customer, at: datetime, margin: str) -> Purchase:
    return services.purchase_create(
        customer=customer, amount=Decimal("1000"), margin=Decimal(margin), occurred_at=at
    )


@pytest.mark.django_db
def test_historical_clv_is_the_margin_up_to_the_period_end_per_customer_who_bought():
    first, second, _never_bought = customers_at_start(3)
    buy(first, madrid(2024, 7, 1), "100.00")
    buy(first, madrid(2025, 1, 31, 23, 59), "50.00")
    buy(second, madrid(2024, 8, 1), "30.00")
    buy(second, madrid(2025, 2, 1), "900.00")  # after the period

    clv = kpi_clv(JANUARY)

    assert clv["historical"] == clv["value"] == 90.0  # 180 / 2
    assert clv["n"] == 2


@pytest.mark.django_db
def test_predictive_clv_matches_the_gupta_lehmann_worked_example(settings):
    # Gupta & Lehmann, "Customers as assets" (2003): CLV = m * r / (1 + i - r).
    # m = 100 a period, r = 80 %, i = 10 % → 100 * 0.8 / 0.3 = 266.67.
    settings.CXM_CLV_DISCOUNT_RATE = 0.10
    base = customers_at_start(10)
    for customer in base[:2]:
        services.customer_churn(customer=customer, at=madrid(2025, 1, 15))
    for customer in base:
        buy(customer, madrid(2025, 1, 10), "100.00")

    clv = kpi_clv(JANUARY)

    assert clv["predictive"] == pytest.approx(100 * 0.8 / 0.3)
    assert clv["discount_rate"] == 0.10


@pytest.mark.django_db
def test_predictive_clv_follows_the_discount_rate_setting(settings):
    base = customers_at_start(4)
    services.customer_churn(customer=base[0], at=madrid(2025, 1, 15))
    for customer in base:
        buy(customer, madrid(2025, 1, 10), "40.00")

    settings.CXM_CLV_DISCOUNT_RATE = 0.25
    clv = kpi_clv(JANUARY)

    assert clv["discount_rate"] == 0.25
    assert clv["predictive"] == pytest.approx(40 * 0.75 / 0.5)


@pytest.mark.django_db
def test_predictive_clv_is_unbounded_without_discount_and_churn_so_it_says_no_data(settings):
    settings.CXM_CLV_DISCOUNT_RATE = 0
    (customer,) = customers_at_start(1)
    buy(customer, madrid(2025, 1, 10), "40.00")

    assert kpi_clv(JANUARY)["predictive"] is None
    assert kpi_clv(JANUARY)["historical"] == 40.0


# --- conversion -------------------------------------------------------------------------


def yesterday_and_today() -> KpiFilter:
    today = timezone.localdate()
    return KpiFilter(date_from=today - timedelta(days=1), date_to=today)


def lead_created(at: datetime, **fields) -> Customer:
    return CustomerFactory(created_at=at, **fields)


@pytest.mark.django_db
def test_conversion_rate_counts_leads_created_in_the_period_that_signed_in_it():
    converted = lead_created(madrid(2025, 1, 2))
    services.customer_become_customer(customer=converted, at=madrid(2025, 1, 20))
    later = lead_created(madrid(2025, 1, 3))
    services.customer_become_customer(customer=later, at=madrid(2025, 2, 3))
    lead_created(madrid(2025, 1, 4))
    lead_created(madrid(2025, 1, 5))
    older = lead_created(madrid(2024, 12, 20))
    services.customer_become_customer(customer=older, at=madrid(2025, 1, 6))

    assert kpi_conversion_rate(JANUARY) == {
        "value": 25.0,
        "n": 4,
        "converted": 1,
        "small_sample": True,
    }


@pytest.mark.django_db
def test_an_imported_customer_who_signed_before_the_import_was_never_a_lead():
    services.customer_import_upsert(
        external_id="ERP-9",
        name="Old client",
        stage=Customer.Stage.CUSTOMER,
        became_customer_at=madrid(2023, 1, 1),
        churned_at=None,
    )
    PayingCustomerFactory(became_customer_at=madrid(2023, 1, 1))  # legacy, no rows
    today = KpiFilter(
        date_from=timezone.localdate() - timedelta(days=1), date_to=timezone.localdate()
    )

    assert kpi_conversion_rate(today)["n"] == 0
    assert kpi_conversion_rate(today)["value"] is None


@pytest.mark.django_db
def test_a_customer_entered_directly_as_a_customer_converts_on_the_spot():
    services.customer_create(name="Walk-in", stage=Customer.Stage.CUSTOMER)
    services.customer_create(name="Prospect")
    today = KpiFilter(
        date_from=timezone.localdate() - timedelta(days=1), date_to=timezone.localdate()
    )

    assert kpi_conversion_rate(today)["value"] == 50.0


@pytest.mark.django_db
def test_conversion_of_a_legacy_lead_uses_became_customer_at():
    lead = lead_created(madrid(2025, 1, 2))
    Customer.objects.filter(pk=lead.pk).update(
        stage=Customer.Stage.CUSTOMER, became_customer_at=madrid(2025, 1, 9)
    )

    assert kpi_conversion_rate(JANUARY)["value"] == 100.0


def test_the_registry_lists_every_customer_kpi():
    assert set(KPIS) == {
        "churn_rate",
        "retention_rate",
        "churn_vs_acquisition",
        "clv",
        "conversion_rate",
    }
    assert all(REGISTRY[name] is KPIS[name] for name in KPIS)


# --- property: the database agrees with a plain-Python reading of the same rows --------

PERIOD = KpiFilter(date_from=date(2025, 1, 10), date_to=date(2025, 1, 20))
PERIOD_HOURS = PERIOD.days * 24
# Hours relative to the period's first instant; 0 and PERIOD_HOURS are its exact bounds.
hours = st.integers(min_value=-60, max_value=PERIOD_HOURS + 60)


@dataclass
class History:
    """One generated customer: a run of transitions, and how much of it was logged."""

    segment: str
    created: int
    transitions: list[int]  # hours of lead→customer, customer→churned, churned→customer…
    logged_from: int  # transitions before this index are legacy (timestamps only)
    purchases: list[tuple[int, int]] = field(default_factory=list)  # (hour, margin)


@st.composite
def histories(draw, hours=hours) -> History:
    transitions = sorted(draw(st.lists(hours, max_size=4)))
    # Legacy data only ever lacks the first join, and the final churn when no row exists.
    legacy = draw(st.sampled_from(["none", "all", "join"]))
    logged_from = {"none": 0, "all": len(transitions), "join": min(1, len(transitions))}[legacy]
    if legacy == "all":
        transitions = transitions[:2]  # timestamps can only say "joined" and "churned"
        logged_from = len(transitions)
    purchases = draw(
        st.lists(st.tuples(hours, st.integers(-50, 500)), max_size=3, unique_by=lambda p: p[0])
    )
    return History(
        segment=draw(st.sampled_from(["smb", "enterprise"])),
        created=draw(hours),
        transitions=transitions,
        logged_from=logged_from,
        purchases=purchases,
    )


def at(hour: int) -> datetime:
    return PERIOD.start + timedelta(hours=hour)


STAGES = ["lead", "customer", "churned"]


def stage_after(index: int) -> str:
    return "customer" if index % 2 == 0 else "churned"


def save(history: History) -> None:
    transitions = history.transitions
    final = stage_after(len(transitions) - 1) if transitions else "lead"
    became = at(transitions[0]) if transitions else None
    churned = at(transitions[-1]) if final == "churned" else None
    customer = Customer.objects.create(
        name="Generated",
        segment=history.segment,
        created_at=at(history.created),
        stage=final,
        became_customer_at=became,
        churned_at=churned,
    )
    LifecycleChange.objects.bulk_create(
        LifecycleChange(
            customer=customer,
            from_stage="lead" if index == 0 else stage_after(index - 1),
            to_stage=stage_after(index),
            occurred_at=at(hour),
        )
        for index, hour in enumerate(transitions)
        if index >= history.logged_from
    )
    Purchase.objects.bulk_create(
        Purchase(customer=customer, occurred_at=at(hour), amount=0, margin=Decimal(margin))
        for hour, margin in history.purchases
    )


def oracle(histories: list[History], segment: str | None, discount_rate: float) -> dict:
    """The definitions read literally, one customer at a time."""
    start, end = 0, PERIOD_HOURS
    chosen = [h for h in histories if segment is None or h.segment == segment]

    def stage_before(h: History, instant: int) -> str:
        stage = "lead"
        for index, hour in enumerate(h.transitions):
            if hour < instant:
                stage = stage_after(index)
        return stage

    def changed_to(h: History, stage: str) -> bool:
        return any(
            stage_after(i) == stage and start <= hour < end for i, hour in enumerate(h.transitions)
        )

    at_start = [h for h in chosen if stage_before(h, start) == "customer"]
    at_end = [h for h in chosen if stage_before(h, end) == "customer"]
    churned = [h for h in chosen if changed_to(h, "churned")]
    acquired = [h for h in chosen if changed_to(h, "customer")]
    lost = [h for h in at_start if changed_to(h, "churned")]
    active = [h for h in chosen if h in at_start or h in acquired]

    def share(part, whole):
        return 100 * len(part) / len(whole) if whole else None

    retention = (100 * (len(at_end) - len(acquired)) / len(at_start)) if at_start else None
    purchases = [(hour, margin) for h in chosen for hour, margin in h.purchases if hour < end]
    buyers = [h for h in chosen if any(hour < end for hour, _ in h.purchases)]
    historical = float(sum(Decimal(m) for _, m in purchases) / len(buyers)) if buyers else None
    predictive = None
    if retention is not None and active:
        period_margin = sum(Decimal(m) for hour, m in purchases if hour >= start)
        r = max(retention / 100, 0)
        if 1 + discount_rate - r > 0:
            predictive = float(period_margin / len(active)) * r / (1 + discount_rate - r)
    leads = [
        h
        for h in chosen
        if start <= h.created < end and (not h.transitions or h.transitions[0] > h.created)
    ]
    converted = [h for h in leads if h.transitions and h.transitions[0] < end]
    return {
        "churn_rate": share(lost, at_start),
        "retention_rate": retention,
        "retention_counts": (len(at_start), len(at_end), len(acquired)),
        "churn_vs_acquisition": len(churned) / len(acquired) if acquired else None,
        "clv": (historical, len(buyers)),
        "predictive": predictive,
        "conversion_rate": (share(converted, leads), len(leads)),
    }


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    generated=st.lists(histories(), max_size=8),
    segment=st.sampled_from([None, "smb"]),
)
def test_customer_kpis_equal_a_plain_reading_of_the_same_rows(generated, segment):
    Customer.objects.all().delete()
    for history in generated:
        save(history)
    f = KpiFilter(PERIOD.date_from, PERIOD.date_to, segment=segment)
    expected = oracle(generated, segment, discount_rate=0.10)

    assert kpi_churn_rate(f)["value"] == pytest.approx(expected["churn_rate"])
    retention = kpi_retention_rate(f)
    assert retention["value"] == pytest.approx(expected["retention_rate"])
    assert (retention["at_start"], retention["at_end"], retention["acquired"]) == expected[
        "retention_counts"
    ]
    assert kpi_churn_vs_acquisition(f)["value"] == pytest.approx(expected["churn_vs_acquisition"])
    clv = kpi_clv(f)
    assert (clv["historical"], clv["n"]) == expected["clv"]
    assert clv["predictive"] == pytest.approx(expected["predictive"])
    conversion = kpi_conversion_rate(f)
    assert (conversion["value"], conversion["n"]) == expected["conversion_rate"]


def lifecycle_groups(histories: list[History], segment: str | None) -> dict[str, int]:
    """The six lifecycle figures of the period, read literally one customer at a time."""
    chosen = [h for h in histories if segment is None or h.segment == segment]

    def customer_before(h: History, instant: int) -> bool:
        stages = [stage_after(i) for i, hour in enumerate(h.transitions) if hour < instant]
        return stages[-1:] == ["customer"]

    def changed_to(h: History, stage: str) -> bool:
        return any(
            stage_after(i) == stage and 0 <= hour < PERIOD_HOURS
            for i, hour in enumerate(h.transitions)
        )

    at_start = {id(h) for h in chosen if customer_before(h, 0)}
    churned = {id(h) for h in chosen if changed_to(h, "churned")}
    acquired = {id(h) for h in chosen if changed_to(h, "customer")}
    return {
        "at_start": len(at_start),
        "at_end": sum(customer_before(h, PERIOD_HOURS) for h in chosen),
        "lost": len(at_start & churned),
        "churned": len(churned),
        "acquired": len(acquired),
        "active_during": len(at_start | acquired),
    }


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    generated=st.lists(histories(), max_size=8),
    segment=st.sampled_from([None, "smb"]),
)
def test_lifecycle_counts_and_their_drill_down_rows_equal_a_plain_reading(generated, segment):
    Customer.objects.all().delete()
    for history in generated:
        save(history)
    f = KpiFilter(PERIOD.date_from, PERIOD.date_to, segment=segment)
    expected = lifecycle_groups(generated, segment)

    retention = kpi_retention_rate(f)
    shown = {
        "at_start": retention["at_start"],
        "at_end": retention["at_end"],
        "lost": kpi_churn_rate(f)["lost"],
        "churned": kpi_churn_vs_acquisition(f)["churned"],
        "acquired": retention["acquired"],
    }
    assert shown == {name: expected[name] for name in shown}
    people, groups = lifecycle_customers(f)
    assert {name: people.filter(q).count() for name, q in groups.items()} == expected


@pytest.mark.django_db
def test_several_periods_computed_in_one_pass_equal_each_period_computed_alone():
    from analytics.kpis.customers import _lifecycle_queries

    customers = customers_at_start(3, segment="pyme")
    services.customer_churn(customer=customers[0], at=madrid(2024, 12, 20))
    services.customer_churn(customer=customers[1], at=madrid(2025, 1, 5))
    services.customer_reactivate(customer=customers[1], at=madrid(2025, 1, 25))
    signed_customer(madrid(2024, 12, 28), segment="pyme")
    signed_customer(madrid(2025, 1, 3))
    periods = [JANUARY, JANUARY.previous(), replace(JANUARY, date_from=date(2024, 7, 1))]
    for segment in (None, "pyme"):
        chosen = [replace(f, segment=segment) for f in periods]
        together = _lifecycle_queries(chosen)
        alone = [_lifecycle_queries([f])[0] for f in chosen]
        assert together == alone
        assert len({tuple(figures.values()) for figures in together}) == 3  # they differ
