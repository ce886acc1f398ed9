"""The lifecycle facts: the customer KPIs read from them equal the raw computation, and
the services keep them current without a rebuild."""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.models import LifecycleFact
from analytics.rollups import lifecycle
from analytics.rollups.read import LIFECYCLE_KPIS, Reader, RollupIndex
from analytics.selectors import kpi_series, kpis_compute
from customers import services
from customers.models import Customer, LifecycleChange

from .test_kpis_customers import (
    PERIOD,
    PERIOD_HOURS,
    histories,
    hours,
    lifecycle_groups,
    madrid,
    oracle,
    save,
)

# Changes on the periods' bounds (local midnights) and next to them, often at one instant.
near_midnight = st.sampled_from(
    [day + step for day in range(-72, PERIOD_HOURS + 73, 24) for step in (-1, 0, 0, 1)]
)


def read(name: str, f: KpiFilter) -> dict:
    return Reader(RollupIndex(upto=f.date_to)).kpi(name, f)


def facts() -> list[tuple]:
    return sorted(
        LifecycleFact.objects.values_list(
            "customer_id",
            "segment",
            "kind",
            "at",
            "previous_at",
            "ends_at",
            "churns_at",
            "rejoins_at",
            "converts_at",
        )
    )


def assert_facts_current() -> None:
    """The facts the receivers kept equal those a full rebuild writes."""
    kept = facts()
    lifecycle.refresh()
    assert kept == facts()


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    generated=st.lists(histories(hours=near_midnight | hours), max_size=8),
    segment=st.sampled_from([None, "smb"]),
    shift=st.integers(min_value=-3, max_value=3),
)
def test_customer_kpis_from_the_facts_equal_the_raw_computation(generated, segment, shift):
    Customer.objects.all().delete()
    for history in generated:
        save(history)  # bulk-created changes send no signal: the rebuild writes the facts
    lifecycle.refresh()
    f = KpiFilter(PERIOD.date_from, PERIOD.date_to, segment=segment)

    expected = lifecycle_groups(generated, segment)
    counted = lifecycle.figures([f])[0]
    assert {name: counted[name] for name in expected} == expected
    plain = oracle(generated, segment, discount_rate=0.10)
    assert (counted["leads"], read("conversion_rate", f)["value"]) == (
        plain["conversion_rate"][1],
        plain["conversion_rate"][0],
    )
    # Other periods, whose bounds fall elsewhere in the histories: the raw definition.
    moved = replace(
        f, date_from=f.date_from + timedelta(days=shift), date_to=f.date_to - timedelta(days=1)
    )
    for period in (f, moved, f.previous(), replace(f, date_to=f.date_from)):
        for name in LIFECYCLE_KPIS:
            assert read(name, period) == pytest.approx(REGISTRY[name](period)), (name, period)


@pytest.mark.django_db
def test_the_services_keep_the_facts_current_without_a_rebuild():
    lead = services.customer_create(name="Lead", segment="smb")
    services.customer_become_customer(customer=lead, at=madrid(2025, 1, 5))
    assert_facts_current()
    services.customer_churn(customer=lead, at=madrid(2025, 1, 9))
    services.customer_reactivate(customer=lead, at=madrid(2025, 1, 12, 8))
    assert_facts_current()

    imported, _ = services.customer_import_upsert(
        external_id="C-1",
        name="Imported",
        stage=Customer.Stage.CHURNED,
        became_customer_at=madrid(2024, 11, 2),
        churned_at=madrid(2025, 1, 15),
    )
    assert_facts_current()
    services.customer_update(customer=imported, segment="enterprise")
    assert_facts_current()
    assert set(
        LifecycleFact.objects.filter(customer=imported).values_list("segment", flat=True)
    ) == {"enterprise"}

    # A change removed by hand (admin, shell) leaves no fact behind.
    LifecycleChange.objects.filter(customer=lead, to_stage=Customer.Stage.CHURNED).delete()
    assert_facts_current()
    # Nor does a deleted customer.
    Customer.objects.filter(pk=lead.pk).delete()
    assert not LifecycleFact.objects.filter(customer_id=lead.pk).exists()
    assert_facts_current()


@pytest.mark.django_db
def test_the_kpi_reads_count_lifecycle_changes_made_a_moment_ago():
    january = KpiFilter(date_from=date(2025, 1, 1), date_to=date(2025, 1, 31))
    customers = [
        services.customer_create(
            name=f"C{i}", stage=Customer.Stage.CUSTOMER, stage_changed_at=madrid(2024, 6, 1)
        )
        for i in range(5)
    ]
    before = kpis_compute(january)["churn_rate"]
    assert (before["value"], before["n"]) == (0.0, 5)

    services.customer_churn(customer=customers[0], at=madrid(2025, 1, 20))
    services.customer_create(
        name="New", stage=Customer.Stage.CUSTOMER, stage_changed_at=madrid(2025, 1, 22)
    )

    after = kpis_compute(january)
    assert (after["churn_rate"]["value"], after["churn_rate"]["lost"]) == (20.0, 1)
    assert after["retention_rate"]["acquired"] == 1
    for name in LIFECYCLE_KPIS:
        assert after[name]["value"] == pytest.approx(REGISTRY[name](january)["value"])
    months = kpi_series(
        "churn_rate", KpiFilter(date_from=date(2024, 12, 1), date_to=date(2025, 1, 31)), "month"
    )
    assert [point["lost"] for point in months] == [0, 1]


@pytest.mark.django_db
@pytest.mark.parametrize("logged", ["churn", "signing"])
def test_a_legacy_signing_and_a_churn_at_the_same_instant_end_churned(logged):
    # Imported history: signed and left at one instant, one of the two only in the
    # timestamps. Rows win ties with a legacy join; a legacy churn wins ties with rows.
    instant = madrid(2025, 1, 10)
    customer = Customer.objects.create(
        name="Legacy",
        stage=Customer.Stage.CHURNED,
        became_customer_at=instant,
        churned_at=instant,
        created_at=madrid(2024, 12, 1),
    )
    from_stage, to_stage = ("customer", "churned") if logged == "churn" else ("lead", "customer")
    LifecycleChange.objects.create(
        customer=customer, from_stage=from_stage, to_stage=to_stage, occurred_at=instant
    )
    lifecycle.refresh()
    f = KpiFilter(date_from=date(2025, 1, 10), date_to=date(2025, 1, 20))
    assert lifecycle.figures([f])[0]["at_end"] == 0 == REGISTRY["retention_rate"](f)["at_end"]
    assert read("churn_vs_acquisition", f) == REGISTRY["churn_vs_acquisition"](f)
