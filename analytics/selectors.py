"""The analytics read paths: every KPI over a filter with its previous period, and one
KPI as a time series. The figures are defined by analytics.kpis (REGISTRY); those the
daily rollups hold are read from them (analytics.rollups.read: rollups for past clean
days, raw rows for the rest of the period), the others computed from the raw rows."""

from calendar import monthrange
from dataclasses import replace
from datetime import date, timedelta
from enum import StrEnum

from .filters import KpiFilter
from .kpis import REGISTRY
from .kpis.customers import shared_lifecycle
from .rollups.read import LIFECYCLE_KPIS, Reader, RollupIndex, SeriesReader, can_read


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


MAX_BUCKETS = 400
"""A series longer than this is refused: 400 buckets already draw a year of days."""


def kpis_compute(f: KpiFilter) -> dict[str, dict]:
    """Every registered KPI over the filter, each with `previous`: the same KPI over the
    period of equal length just before (same dimensions)."""
    previous = f.previous()
    reader = Reader(RollupIndex(upto=f.date_to))
    reader.prefetch_lifecycle(f, previous)  # both periods in one pass over the facts
    return {
        name: {**_kpi(reader, name, f), "previous": _kpi(reader, name, previous)}
        for name in REGISTRY
    }


class KpiReader:
    """Computes KPIs for one request (a breakdown's many cells), sharing one rollup index
    and the family reads between them. Use inside kpis.customers.shared_lifecycle()."""

    def __init__(self, upto) -> None:
        self._reader = Reader(RollupIndex(upto=upto))

    def __call__(self, name: str, f: KpiFilter) -> dict:
        return _kpi(self._reader, name, f)


def kpi_compute(name: str, f: KpiFilter) -> dict:
    """One KPI over the filter (no previous period)."""
    return _kpi(Reader(RollupIndex(upto=f.date_to)), name, f)


def _kpi(reader: Reader, name: str, f: KpiFilter) -> dict:
    return reader.kpi(name, f) if can_read(name, f) else REGISTRY[name](f)


def _bucket_end(start: date, interval: Interval) -> date:
    if interval == Interval.DAY:
        return start
    if interval == Interval.WEEK:
        return start + timedelta(days=6 - start.weekday())  # Sunday: weeks start on Monday
    return start.replace(day=monthrange(start.year, start.month)[1])


def series_buckets(
    date_from: date, date_to: date, interval: Interval | str
) -> list[tuple[date, date]]:
    """The inclusive (first day, last day) of each calendar day, Monday-to-Sunday week or
    month that the range touches, the first and last clipped to the range."""
    interval = Interval(interval)
    buckets = []
    start = date_from
    while start <= date_to:
        end = min(_bucket_end(start, interval), date_to)
        buckets.append((start, end))
        start = end + timedelta(days=1)
    return buckets


def series_bucket_count(date_from: date, date_to: date, interval: Interval | str) -> int:
    """How many buckets series_buckets would return, without building them."""
    interval = Interval(interval)
    if interval == Interval.DAY:
        return (date_to - date_from).days + 1
    if interval == Interval.WEEK:
        first_monday = date_from - timedelta(days=date_from.weekday())
        return (date_to - first_monday).days // 7 + 1
    return (date_to.year - date_from.year) * 12 + date_to.month - date_from.month + 1


def kpi_series(
    metric: str, f: KpiFilter, interval: Interval | str, *, reader: SeriesReader | None = None
) -> list[dict]:
    """One KPI per day, week (Monday to Sunday) or month of the filter's period, in the
    company's time zone. Each bucket is the KPI over that bucket's local days (so a
    series point equals the KPI asked for that period alone), with its first and last
    day as `period_start` and `period_end`. Raises KeyError for an unknown metric.
    Series of the same filter drawn together share a `reader` (series_reader(f)), so
    NPS, CSAT and CES read the answers once."""
    kpi = REGISTRY[metric]
    buckets = series_buckets(f.date_from, f.date_to, interval)
    if not can_read(metric, f):
        with shared_lifecycle():
            return [
                {
                    "period_start": start,
                    "period_end": end,
                    **kpi(replace(f, date_from=start, date_to=end)),
                }
                for start, end in buckets
            ]
    reader = reader or series_reader(f)
    reader.use_buckets(buckets)
    if metric in LIFECYCLE_KPIS:
        reader.prefetch_lifecycle(*(replace(f, date_from=s, date_to=e) for s, e in buckets))
    return [
        {
            "period_start": start,
            "period_end": end,
            **reader.kpi(metric, replace(f, date_from=start, date_to=end)),
        }
        for start, end in buckets
    ]


def series_reader(f: KpiFilter) -> SeriesReader:
    """A reader to share between the series of one filter (see kpi_series)."""
    return SeriesReader(Reader(RollupIndex(upto=f.date_to)), f)
