"""Commerce KPIs: what customers buy (cross-sell / up-sell share, average order value).

Each purchase counts on the local day it occurred (Purchase.occurred_at, company time
zone). Purchases belong to a customer, not to a ticket, so only the `segment` filter
(the customer's current segment) applies; the ticket dimensions (team, agent, channel,
category) and `survey` are ignored.
"""

from collections.abc import Callable
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

import analytics.kpis
from analytics.filters import KpiFilter
from customers.models import Purchase


def purchases_in_period(f: KpiFilter) -> QuerySet[Purchase]:
    purchases = Purchase.objects.filter(occurred_at__gte=f.start, occurred_at__lt=f.end)
    if f.segment is not None:
        purchases = purchases.filter(customer__segment=f.segment)
    return purchases


# The purchases of kpi_upsell_cross_sell_share's numerator, kind by kind.
UPSELL = Q(kind=Purchase.Kind.UPSELL)
CROSS_SELL = Q(kind=Purchase.Kind.CROSS_SELL)


def _share(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def _small(n: int) -> bool:
    # Read at call time: the package defines SMALL_SAMPLE after importing this module.
    return n < analytics.kpis.SMALL_SAMPLE


def kpi_upsell_cross_sell_share(f: KpiFilter) -> dict:
    """Cross-sell / up-sell share: purchases of kind up-sell or cross-sell in the period
    ÷ all purchases in the period * 100. Also each kind's own share (upsell_share,
    cross_sell_share). n = purchases in the period; no purchases → None.

    Counts purchases (orders), not money. Honours `segment` only.
    """
    counts = purchases_in_period(f).aggregate(
        n=Count("id"),
        upsell=Count("id", filter=UPSELL),
        cross_sell=Count("id", filter=CROSS_SELL),
    )
    n = counts["n"]
    return {
        "value": _share(counts["upsell"] + counts["cross_sell"], n),
        "n": n,
        "upsell_share": _share(counts["upsell"], n),
        "cross_sell_share": _share(counts["cross_sell"], n),
        "small_sample": _small(n),
    }


def kpi_average_order_value(f: KpiFilter) -> dict:
    """Average order value: the mean amount of the purchases in the period (total
    amount ÷ number of purchases); also the total. n = purchases; none → None.

    Amounts are summed as stored, in whatever currency each purchase has: the KPI
    assumes one company currency. Honours `segment` only.
    """
    figures = purchases_in_period(f).aggregate(n=Count("id"), total=Sum("amount"))
    n = figures["n"]
    total: Decimal | None = figures["total"]
    return {
        # Divide the exact decimal total, so the mean is the same on every database.
        "value": float(total / n) if n else None,
        "n": n,
        "total": float(total) if n else None,
        "small_sample": _small(n),
    }


KPIS: dict[str, Callable[[KpiFilter], dict]] = {
    "upsell_cross_sell_share": kpi_upsell_cross_sell_share,
    "average_order_value": kpi_average_order_value,
}
