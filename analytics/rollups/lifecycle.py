"""The customer lifecycle KPIs read from LifecycleFact (see analytics/models.py).

analytics.kpis.customers defines the figures (customers at the start and at the end of a
period, lost, churned, acquired, active during it; leads created and converted) and
computes them from the raw rows by following every customer's changes across the period:
about 170 ms at 100,000 customers. The facts hold, for every change to "customer" and to
"churned", logged or legacy, what that computation derives at read time, so the figures
of any period are plain comparisons, counted in one pass:

- at an instant t a customer is a customer when one of their changes to "customer" is
  the latest change before t: at < t <= ends_at (ends_at: the next change of any kind);
- lost: a customer at the start whose next churn after that change (churns_at) is before
  the end; active during the period: a customer at the start, or acquired, less those who
  were both (a customer at the start whose next change to "customer", rejoins_at, is
  before the end);
- churned and acquired count each customer once: a change in the period whose previous
  change to the same stage (previous_at) is before the period's start;
- leads: customers created in the period who were leads then (their first lead → customer
  change, converts_at, later or missing); converted when converts_at is before the end.

The facts are refreshed per customer, inside the transaction that changes the customer
or their lifecycle (receivers), so they never lag the raw rows. rebuild_kpis and the
nightly reconciliation rebuild them whole (catching bulk UPDATEs, which send no signal).
The SQL is portable (window functions: PostgreSQL, SQLite >= 3.28); tests check every
figure against the raw computation over random histories, legacy timestamps included.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, transaction

from analytics.filters import KpiFilter
from analytics.models import LifecycleFact
from customers.models import Customer, LifecycleChange

Stage = Customer.Stage
Kind = LifecycleFact.Kind

_CHUNK = 500  # customers per refresh statement (SQLite's bound on parameters)


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "facts": quote(LifecycleFact._meta.db_table),
        "customers": quote(Customer._meta.db_table),
        "changes": quote(LifecycleChange._meta.db_table),
    }


# The customer's changes in their order (time, then id), with the legacy timestamps in the
# places analytics.kpis.customers.stage_before() gives them: a legacy join before the
# logged rows of the same instant (rows win ties with it), a legacy churn after them.
# {only} restricts it to some customers.
_REFRESH = """
INSERT INTO {facts}
    (customer_id, segment, kind, at, previous_at, ends_at, churns_at, rejoins_at, converts_at)
WITH events AS (
    SELECT l.customer_id, l.occurred_at AS at, 1 AS tie, l.id AS seq, l.to_stage AS stage
    FROM {changes} l
    WHERE 1 = 1 {only_l}
    UNION ALL
    SELECT c.id, c.became_customer_at, 0, 0, %(customer)s
    FROM {customers} c
    WHERE c.became_customer_at IS NOT NULL {only_c} AND NOT EXISTS (
        SELECT 1 FROM {changes} l WHERE l.customer_id = c.id
        AND l.from_stage = %(lead)s AND l.to_stage = %(customer)s)
    UNION ALL
    SELECT c.id, c.churned_at, 2, 0, %(churned)s
    FROM {customers} c
    WHERE c.churned_at IS NOT NULL {only_c} AND NOT EXISTS (
        SELECT 1 FROM {changes} l WHERE l.customer_id = c.id AND l.to_stage = %(churned)s)
),
ordered AS (
    SELECT customer_id, at, stage,
        LEAD(at) OVER (PARTITION BY customer_id ORDER BY at, tie, seq) AS ends_at,
        MAX(CASE WHEN stage = %(customer)s THEN at END) OVER (
            PARTITION BY customer_id ORDER BY at, tie, seq
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_join,
        MAX(CASE WHEN stage = %(churned)s THEN at END) OVER (
            PARTITION BY customer_id ORDER BY at, tie, seq
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_churn,
        MIN(CASE WHEN stage = %(churned)s THEN at END) OVER (
            PARTITION BY customer_id ORDER BY at, tie, seq
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS churns_at,
        MIN(CASE WHEN stage = %(customer)s THEN at END) OVER (
            PARTITION BY customer_id ORDER BY at, tie, seq
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS rejoins_at
    FROM events
),
first_joins AS (
    SELECT l.customer_id, MIN(l.occurred_at) AS at
    FROM {changes} l
    WHERE l.from_stage = %(lead)s AND l.to_stage = %(customer)s {only_l}
    GROUP BY l.customer_id
)
SELECT o.customer_id, c.segment, o.stage, o.at,
    CASE WHEN o.stage = %(customer)s THEN o.previous_join ELSE o.previous_churn END,
    CASE WHEN o.stage = %(customer)s THEN o.ends_at END,
    CASE WHEN o.stage = %(customer)s THEN o.churns_at END,
    CASE WHEN o.stage = %(customer)s THEN o.rejoins_at END,
    NULL
FROM ordered o JOIN {customers} c ON c.id = o.customer_id
WHERE o.stage IN (%(customer)s, %(churned)s)
UNION ALL
SELECT c.id, c.segment, %(lead_kind)s, c.created_at, NULL, NULL, NULL, NULL,
    COALESCE(j.at, c.became_customer_at)
FROM {customers} c LEFT JOIN first_joins j ON j.customer_id = c.id
WHERE (COALESCE(j.at, c.became_customer_at) IS NULL
    OR COALESCE(j.at, c.became_customer_at) > c.created_at) {only_c}
"""


def _params() -> dict[str, str]:
    return {
        "lead": Stage.LEAD.value,
        "customer": Stage.CUSTOMER.value,
        "churned": Stage.CHURNED.value,
        "lead_kind": Kind.LEAD.value,
    }


@transaction.atomic
def refresh(customer_ids: Iterable[int] | None = None) -> int:
    """Rewrite the facts of these customers (None: of everyone, as rebuild_kpis does).
    Each customer's row is locked first, so two refreshes of one customer take turns
    and neither sees the other half done. Returns the facts written."""
    tables = _tables()
    if customer_ids is None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {tables['facts']}")  # noqa: S608
            cursor.execute(_REFRESH.format(**tables, only_l="", only_c=""), _params())
            return cursor.rowcount
    ids = sorted(set(customer_ids))
    written = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        list(Customer.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values("pk"))
        marks = ", ".join(f"%(id{i})s" for i in range(len(chunk)))
        params = {**_params(), **{f"id{i}": pk for i, pk in enumerate(chunk)}}
        sql = _REFRESH.format(
            **tables, only_l=f"AND l.customer_id IN ({marks})", only_c=f"AND c.id IN ({marks})"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {tables['facts']} WHERE customer_id IN ({marks})",  # noqa: S608
                params,
            )
            cursor.execute(sql, params)
            written += cursor.rowcount
    return written


# --- reading -------------------------------------------------------------------------------

FIGURES = (
    "at_start",
    "at_end",
    "lost",
    "churned",
    "acquired",
    "active_during",
    "leads",
    "converted",
)


def _columns(i: int) -> dict[str, dict[str, str]]:
    """Period i's counts, by the kind of fact each one counts (a condition per figure;
    "both": customers at the start who were acquired too, see figures())."""
    s, e = f"%(s{i})s", f"%(e{i})s"

    def customer_at(instant: str) -> str:
        return f"at < {instant} AND (ends_at IS NULL OR ends_at >= {instant})"

    first_in_period = f"at >= {s} AND at < {e} AND (previous_at IS NULL OR previous_at < {s})"
    at_start = customer_at(s)
    return {
        Kind.CUSTOMER: {
            "at_start": at_start,
            "at_end": customer_at(e),
            "lost": f"{at_start} AND churns_at < {e}",
            "both": f"{at_start} AND rejoins_at < {e}",
            "acquired": first_in_period,
        },
        Kind.CHURNED: {"churned": first_in_period},
        Kind.LEAD: {
            "leads": f"at >= {s} AND at < {e}",
            "converted": f"at >= {s} AND at < {e} AND converts_at < {e}",
        },
    }


def figures(filters: Sequence[KpiFilter]) -> list[dict[str, int]]:
    """The lifecycle and lead figures of these periods (of one segment), in one query:
    analytics.kpis.customers._lifecycle's six figures plus `leads` and `converted`.
    Each kind of fact is counted apart, churns and leads only within the periods
    (an index range), changes to "customer" only if still a customer at the first start."""
    segments = {f.segment for f in filters}
    if len(segments) != 1:
        raise ValueError("The periods must share one segment.")
    segment = segments.pop()
    adapt = connection.ops.adapt_datetimefield_value
    params: dict[str, object] = {kind.value: kind.value for kind in Kind}
    for i, f in enumerate(filters):
        params[f"s{i}"], params[f"e{i}"] = adapt(f.start), adapt(f.end)
    params["first"] = adapt(min(f.start for f in filters))
    params["last"] = adapt(max(f.end for f in filters))
    in_segment = ""
    if segment is not None:
        in_segment, params["segment"] = " AND segment = %(segment)s", segment
    bounds = {
        Kind.CUSTOMER: "(ends_at IS NULL OR ends_at >= %(first)s)",
        Kind.CHURNED: "at >= %(first)s AND at < %(last)s",
        Kind.LEAD: "at >= %(first)s AND at < %(last)s",
    }
    names: list[tuple[int, str]] = []
    parts = []
    for kind, bound in bounds.items():
        counts = []
        for i in range(len(filters)):
            for name, condition in _columns(i)[kind].items():
                names.append((i, name))
                counts.append(f"COUNT(*) FILTER (WHERE {condition})")
        parts.append(
            f"(SELECT {', '.join(counts)} FROM {_tables()['facts']}"  # noqa: S608
            f" WHERE kind = %({kind.value})s AND {bound}{in_segment}) AS {kind.value}_facts"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {', '.join(parts)}", params)  # noqa: S608
        row = cursor.fetchone()
    counted: list[dict[str, int]] = [{} for _ in filters]
    for (i, name), count in zip(names, row, strict=True):
        counted[i][name] = count
    for figures in counted:
        figures["active_during"] = figures["at_start"] + figures["acquired"] - figures.pop("both")
    return [{name: figures[name] for name in FIGURES} for figures in counted]
