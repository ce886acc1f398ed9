"""Order statistics and durations computed by the database, alike on PostgreSQL and SQLite.

`percentiles()` follows PostgreSQL's `percentile_cont`: over the n non-null values sorted
ascending, fraction p sits at position p·(n-1) (0-based); between two neighbours the value
is interpolated linearly, lo + (p·(n-1) - ⌊p·(n-1)⌋)·(hi - lo). PostgreSQL runs the
aggregate itself; elsewhere (SQLite) the database counts the values, then returns only the
neighbouring rows, numbered by ROW_NUMBER() over the sorted values, and the same formula
combines them. Either way no more than two rows per fraction reach Python.
"""

import math
from collections.abc import Sequence

from django.db import NotSupportedError, connections
from django.db.models import Aggregate, Avg, Count, Expression, F, FloatField, Func, QuerySet
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber

MEDIAN = 0.5
P90 = 0.9

# The annotation names used inside the queries below; no model has fields so named.
_VALUE = "stats_value"
_RANK = "stats_rank"


class SecondsBetween(Func):
    """Seconds from `start` to `end` (two datetime fields or expressions), as a float;
    NULL when either is NULL. Exact to the microsecond on both databases: PostgreSQL
    subtracts the timestamps into an interval and takes its epoch; SQLite has Django's
    own timestamp difference in microseconds."""

    output_field = FloatField()

    def __init__(self, end: str | Expression, start: str | Expression, **extra) -> None:
        end = F(end) if isinstance(end, str) else end
        start = F(start) if isinstance(start, str) else start
        super().__init__(end - start, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"SecondsBetween is not written for {connection.vendor}.")

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template="(%(expressions)s / 1000000.0)", **extra_context
        )


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate percentile_cont(fraction) over an expression."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression: str | Expression, fraction: float, **extra) -> None:
        fraction = _checked_fraction(fraction)
        # A float's repr is a plain SQL numeric literal; it is checked above, not user text.
        super().__init__(expression, fraction=repr(fraction), **extra)


def _checked_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"A percentile fraction lies between 0 and 1, not {fraction}.")
    return fraction


def _expression(expression_or_field: str | Expression) -> Expression:
    return F(expression_or_field) if isinstance(expression_or_field, str) else expression_or_field


def _uses_postgresql(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _interpolate(lo: float, hi: float, proportion: float) -> float:
    # The very formula of PostgreSQL's percentile_cont (float8_lerp), so both agree.
    return lo + proportion * (hi - lo)


def _percentiles_by_offset(
    values: QuerySet, n: int, fractions: Sequence[float]
) -> dict[float, float | None]:
    """`values` holds the non-null values annotated as _VALUE; n is how many there are."""
    if n == 0:
        return dict.fromkeys(fractions)
    positions = {p: p * (n - 1) for p in fractions}
    ranks = sorted(
        {math.floor(pos) + 1 for pos in positions.values()}
        | {math.ceil(pos) + 1 for pos in positions.values()}
    )
    numbered = values.annotate(**{_RANK: Window(RowNumber(), order_by=F(_VALUE).asc())}).filter(
        **{f"{_RANK}__in": ranks}
    )
    by_rank = dict(numbered.values_list(_RANK, _VALUE))
    result: dict[float, float | None] = {}
    for fraction, pos in positions.items():
        lo, hi = math.floor(pos), math.ceil(pos)
        lo_value = float(by_rank[lo + 1])
        if hi == lo:
            result[fraction] = lo_value
        else:
            result[fraction] = _interpolate(lo_value, float(by_rank[hi + 1]), pos - lo)
    return result


def percentiles(
    queryset: QuerySet,
    expression_or_field: str | Expression,
    fractions: Sequence[float] = (MEDIAN, P90),
) -> dict[float, float | None]:
    """The continuous percentiles (as PostgreSQL's percentile_cont) of a numeric field or
    expression over the rows of `queryset`, NULLs left out: {fraction: value}. Every
    fraction maps to None when there is no value. One query on PostgreSQL, two elsewhere."""
    fractions = [_checked_fraction(p) for p in fractions]
    expression = _expression(expression_or_field)
    queryset = queryset.order_by()
    if _uses_postgresql(queryset):
        figures = queryset.aggregate(
            **{f"p{i}": PercentileCont(expression, p) for i, p in enumerate(fractions)}
        )
        return {p: figures[f"p{i}"] for i, p in enumerate(fractions)}
    values = queryset.annotate(**{_VALUE: expression}).filter(**{f"{_VALUE}__isnull": False})
    return _percentiles_by_offset(values, values.count(), fractions)


def distribution(queryset: QuerySet, expression_or_field: str | Expression) -> dict:
    """Median, mean and 90th percentile of a numeric field or expression (NULLs left out)
    with n, how many values there are: {"median": …, "mean": …, "p90": …, "n": …}; the
    figures are None when n is 0. One query on PostgreSQL, at most two elsewhere."""
    expression = _expression(expression_or_field)
    queryset = queryset.order_by()
    if _uses_postgresql(queryset):
        figures = queryset.aggregate(
            n=Count(expression),
            mean=Avg(expression),
            median=PercentileCont(expression, MEDIAN),
            p90=PercentileCont(expression, P90),
        )
        n = figures["n"]
    else:
        values = queryset.annotate(**{_VALUE: expression}).filter(**{f"{_VALUE}__isnull": False})
        figures = values.aggregate(n=Count(_VALUE), mean=Avg(_VALUE))
        n = figures["n"]
        order = _percentiles_by_offset(values, n, (MEDIAN, P90))
        figures.update(median=order[MEDIAN], p90=order[P90])
    if n == 0:
        return {"median": None, "mean": None, "p90": None, "n": 0}
    return {
        "median": float(figures["median"]),
        "mean": float(figures["mean"]),
        "p90": float(figures["p90"]),
        "n": n,
    }
