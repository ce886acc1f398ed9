"""Logarithmic histograms of durations, so medians and 90th percentiles can be summed.

A median cannot be added up from daily medians, so each day stores how many durations
fell in each bucket (with their exact count and exact total, so n and the mean stay
exact). Bucket i holds the positive values v with g^(i-1) < v ≤ g^i; the value that
stands for them, 2g^i ÷ (g + 1), is within ALPHA (1 %) of every one of them (the
relative-accuracy sketch of Masson, Rim and Lee, "DDSketch", VLDB 2019). A percentile
read from the buckets is interpolated exactly like percentile_cont between the values
standing for its two neighbouring ranks, so it too lies within 1 % of the percentile
of the raw durations: 36 seconds on an hour, 15 minutes on a day.

Zero is its own bucket and negative durations (data entered out of order) mirror the
positive ones, so the bucket keys sort like the values they hold.
"""

import math
from collections.abc import Iterable, Sequence

from django.db.models import Case, Expression, IntegerField, Value, When
from django.db.models.functions import Cast, Ceil, Ln
from django.db.models.lookups import GreaterThan, LessThan

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
# Keys of positive values sit around OFFSET (|i| stays far below it for any duration
# from a microsecond to a millennium), negative ones around -OFFSET, zero at 0.
OFFSET = 1_000_000


def bucket_expression(value: Expression) -> Case:
    """The bucket key of a duration in seconds, computed by the database."""
    index = Ceil(Ln(value) / Value(LN_GAMMA))
    mirrored = Ceil(Ln(-value) / Value(LN_GAMMA))
    return Case(
        # CASE evaluates a branch only when its condition holds, so Ln never sees 0 or less.
        When(GreaterThan(value, 0), then=Cast(index, IntegerField()) + Value(OFFSET)),
        When(LessThan(value, 0), then=Value(-OFFSET) - Cast(mirrored, IntegerField())),
        default=Value(0),
        output_field=IntegerField(),
    )


def bucket_of(seconds: float) -> int:
    """The same key, computed in Python (for tests and documentation)."""
    if seconds == 0:
        return 0
    index = math.ceil(math.log(abs(seconds)) / LN_GAMMA)
    return index + OFFSET if seconds > 0 else -(index + OFFSET)


def representative(key: int) -> float:
    """The value standing for every duration in bucket `key`."""
    if key == 0:
        return 0.0
    index = abs(key) - OFFSET
    magnitude = 2 * GAMMA**index / (GAMMA + 1)
    return magnitude if key > 0 else -magnitude


def percentiles(counts: Iterable[tuple[int, int]], fractions: Sequence[float]) -> dict:
    """Percentiles (as percentile_cont) of the values a histogram holds: `counts` is
    (bucket key, how many values) in any order. {fraction: value or None}."""
    ordered = sorted((key, n) for key, n in counts if n)
    total = sum(n for _, n in ordered)
    if not total:
        return dict.fromkeys(fractions)

    def at_rank(rank: int) -> float:  # 0-based rank among the sorted values
        seen = 0
        for key, n in ordered:
            seen += n
            if rank < seen:
                return representative(key)
        raise AssertionError("rank beyond the histogram")  # pragma: no cover

    result = {}
    for fraction in fractions:
        position = fraction * (total - 1)
        lo, hi = math.floor(position), math.ceil(position)
        lo_value = at_rank(lo)
        result[fraction] = (
            lo_value if hi == lo else lo_value + (position - lo) * (at_rank(hi) - lo_value)
        )
    return result
