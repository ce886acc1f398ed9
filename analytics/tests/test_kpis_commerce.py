"""Cross-sell / up-sell share and average order value, computed by the database."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.kpis.commerce import kpi_average_order_value, kpi_upsell_cross_sell_share
from customers.models import Customer, Purchase
from customers.tests.factories import PayingCustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

MARCH = KpiFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
MID_MARCH = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


def buy(kind: str, amount: str = "100.00", *, customer: Customer | None = None, at=None):
    return PurchaseFactory(
        kind=kind,
        amount=Decimal(amount),
        customer=customer or PayingCustomerFactory(),
        occurred_at=at or MID_MARCH,
    )


def test_both_commerce_kpis_are_registered_for_the_api():
    assert REGISTRY["upsell_cross_sell_share"] is kpi_upsell_cross_sell_share
    assert REGISTRY["average_order_value"] is kpi_average_order_value


def test_share_counts_upsells_and_cross_sells_among_all_purchases():
    # Hand-computed: 10 orders, 2 up-sells and 3 cross-sells → 50% (20% + 30%).
    for kind, count in (("new", 4), ("renewal", 1), ("upsell", 2), ("cross_sell", 3)):
        for _ in range(count):
            buy(kind)

    result = kpi_upsell_cross_sell_share(MARCH)

    assert result == {
        "value": 50.0,
        "n": 10,
        "upsell_share": 20.0,
        "cross_sell_share": 30.0,
        "small_sample": True,
    }


def test_share_keeps_full_precision():
    buy("upsell")
    buy("new")
    buy("new")

    assert kpi_upsell_cross_sell_share(MARCH)["value"] == pytest.approx(100 / 3, abs=1e-12)


def test_average_order_value_is_the_mean_amount_with_the_total():
    # Hand-computed: 10.00 + 20.50 + 30.25 = 60.75, over 3 orders = 20.25.
    for amount in ("10.00", "20.50", "30.25"):
        buy("new", amount)

    result = kpi_average_order_value(MARCH)

    assert result == {"value": 20.25, "n": 3, "total": 60.75, "small_sample": True}


def test_a_period_without_purchases_has_no_data_rather_than_zero():
    buy("upsell", at=datetime(2026, 2, 10, tzinfo=UTC))

    assert kpi_upsell_cross_sell_share(MARCH) == {
        "value": None,
        "n": 0,
        "upsell_share": None,
        "cross_sell_share": None,
        "small_sample": True,
    }
    assert kpi_average_order_value(MARCH) == {
        "value": None,
        "n": 0,
        "total": None,
        "small_sample": True,
    }


def test_one_purchase_is_its_own_average():
    buy("cross_sell", "99.99")

    assert kpi_average_order_value(MARCH)["value"] == 99.99
    assert kpi_upsell_cross_sell_share(MARCH)["value"] == 100.0


def test_a_purchase_counts_on_its_local_day_in_the_company_time_zone(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    # 23:30 UTC on 31 December is 00:30 on 1 January in Madrid.
    buy("upsell", "40.00", at=datetime(2025, 12, 31, 23, 30, tzinfo=UTC))
    december = KpiFilter(date_from=date(2025, 12, 1), date_to=date(2025, 12, 31))
    january = KpiFilter(date_from=date(2026, 1, 1), date_to=date(2026, 1, 1))

    assert kpi_average_order_value(december)["n"] == 0
    assert kpi_average_order_value(january)["value"] == 40.0


def test_period_bounds_are_inclusive_local_days(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    # First and last instants of March in Madrid (UTC+1 then UTC+2 after 29 March).
    buy("upsell", at=datetime(2026, 2, 28, 23, 0, tzinfo=UTC))
    buy("new", at=datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC))
    buy("new", at=datetime(2026, 3, 31, 22, 0, tzinfo=UTC))  # 1 April, 00:00 in Madrid
    buy("new", at=datetime(2026, 2, 28, 22, 59, 59, tzinfo=UTC))  # still February

    assert kpi_average_order_value(MARCH)["n"] == 2


def test_segment_filter_uses_the_customers_segment():
    enterprise = PayingCustomerFactory(segment="enterprise")
    buy("upsell", "500.00", customer=enterprise)
    buy("new", "100.00", customer=enterprise)
    buy("upsell", "10.00", customer=PayingCustomerFactory(segment="smb"))
    enterprise_only = KpiFilter(
        date_from=MARCH.date_from, date_to=MARCH.date_to, segment="enterprise"
    )

    assert kpi_upsell_cross_sell_share(enterprise_only)["value"] == 50.0
    assert kpi_average_order_value(enterprise_only)["value"] == 300.0


def test_a_segment_nobody_is_in_gives_no_data():
    buy("upsell")
    nobody = KpiFilter(date_from=MARCH.date_from, date_to=MARCH.date_to, segment="government")

    assert kpi_upsell_cross_sell_share(nobody)["value"] is None
    assert kpi_average_order_value(nobody)["n"] == 0


def test_ticket_dimensions_do_not_filter_purchases():
    buy("upsell", "80.00")
    with_ticket_filters = KpiFilter(
        date_from=MARCH.date_from, date_to=MARCH.date_to, team=999, channel="chat", survey=7
    )

    assert kpi_average_order_value(with_ticket_filters)["value"] == 80.0


def test_thirty_purchases_are_not_a_small_sample():
    customer = PayingCustomerFactory()
    for hour in range(30):
        buy("new", customer=customer, at=MID_MARCH + timedelta(hours=hour))

    assert kpi_average_order_value(MARCH)["small_sample"] is False
    assert kpi_upsell_cross_sell_share(MARCH)["small_sample"] is False


purchase_rows = st.lists(
    st.tuples(
        st.sampled_from([kind for kind, _ in Purchase.Kind.choices]),
        st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False),
        st.integers(min_value=-3, max_value=33),  # day offset from 1 March
        st.sampled_from(["smb", "enterprise"]),
    ),
    max_size=25,
)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=purchase_rows, segment=st.sampled_from([None, "smb", "enterprise"]))
def test_database_figures_equal_a_plain_python_count_over_the_same_purchases(rows, segment):
    Purchase.objects.all().delete()
    customers = {name: PayingCustomerFactory(segment=name) for name in ("smb", "enterprise")}
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for index, (kind, amount, day, customer_segment) in enumerate(rows):
        Purchase.objects.create(
            customer=customers[customer_segment],
            kind=kind,
            amount=amount,
            margin=Decimal("0"),
            occurred_at=start + timedelta(days=day, seconds=index),
        )
    f = KpiFilter(date_from=MARCH.date_from, date_to=MARCH.date_to, segment=segment)

    # The oracle: the definitions, applied row by row.
    chosen = [
        (kind, amount)
        for kind, amount, day, customer_segment in rows
        if 0 <= day <= 30 and segment in (None, customer_segment)
    ]
    n = len(chosen)
    extra = sum(kind in ("upsell", "cross_sell") for kind, _ in chosen)
    total = sum((amount for _, amount in chosen), Decimal("0"))

    share = kpi_upsell_cross_sell_share(f)
    average = kpi_average_order_value(f)
    assert share["n"] == average["n"] == n
    if n:
        assert share["value"] == pytest.approx(100 * extra / n)
        assert average["total"] == pytest.approx(float(total))
        assert average["value"] == pytest.approx(float(total / n))
    else:
        assert share["value"] is None
        assert average["value"] is None
