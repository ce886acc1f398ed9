"""KPIs read from the daily rollups: past days that are clean come from the rollup tables,
every other day of the period (today, days marked dirty and not yet recomputed, days
never built) from the raw rows, through the very query that builds the rollups. The two
parts cover the period's days exactly once and are added, then each KPI is finished from
the sums with the same formulas as analytics.kpis (which stays the definition).

A filter may name at most one dimension that applies to the KPI (team, agent, channel,
category, segment, survey; ticket KPIs ignore the survey, commerce KPIs all but the
segment): the rollups hold one set of rows per dimension value, not per combination.
Beyond that, and for the customer lifecycle KPIs (churn, retention, churn vs acquisition,
conversion: whose figures follow each customer across the period, which daily sums cannot
give), `can_read` says no and the caller computes from the raw rows.

Medians and 90th percentiles come from the duration histograms and are within 1 % of
the raw figures (analytics.rollups.histogram); counts, sums, means and rates are exact.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY, SMALL_SAMPLE
from analytics.kpis._stats import MEDIAN, P90
from analytics.kpis.customers import clv_figures
from analytics.kpis.surveys import CES_AGREE_FROM, CES_POINTS, nps_figures
from analytics.models import Dimension, DurationMonth, RollupDay
from surveys.models import Question

from . import histogram
from .build import month_end
from .families import (
    ANSWERS,
    DAY,
    DURATIONS,
    INVITATIONS,
    LOOPS,
    PURCHASES,
    RECEIVED,
    RESOLVED,
    Family,
    Runs,
    dimension_value,
)

MAX_LIVE_RUNS = 8
"""Past this many separate stretches of days to read live, the live part is read as one
stretch from its first day (still exact, and the query stays small)."""

_ALL_DIMENSIONS = ("team", "agent", "channel", "category", "segment", "survey")
_APPLIES = {
    "survey": _ALL_DIMENSIONS,
    "ticket": ("team", "agent", "channel", "category", "segment"),
    "commerce": ("segment",),
}
ROLLUP_KPIS = {
    "nps": "survey",
    "csat": "survey",
    "ces": "survey",
    "response_rate": "survey",
    "closed_loop_rate": "survey",
    "first_response_time": "ticket",
    "first_response_time_business": "ticket",
    "resolution_time": "ticket",
    "resolution_time_business": "ticket",
    "resolution_rate": "ticket",
    "fcr_rate": "ticket",
    "reopen_rate": "ticket",
    "sla_compliance": "ticket",
    "upsell_cross_sell_share": "commerce",
    "average_order_value": "commerce",
    "clv": "commerce",
}


def _small(n: int) -> bool:
    return n < SMALL_SAMPLE


def _share(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def dimension_of(name: str, f: KpiFilter) -> tuple[str, object] | None:
    """The one (dimension, value) of the filter that applies to KPI `name`, ("all", None)
    when none applies, or None when the rollups cannot answer (two or more apply, or the
    KPI is not rolled up)."""
    kind = ROLLUP_KPIS.get(name)
    if kind is None:
        return None
    applied = [(d, v) for d, v in f.dimensions().items() if d in _APPLIES[kind]]
    if len(applied) > 1:
        return None
    return applied[0] if applied else (Dimension.ALL, None)


def can_read(name: str, f: KpiFilter) -> bool:
    return dimension_of(name, f) is not None


class RollupIndex:
    """Which days the rollup tables serve, read once (one query) for a whole request."""

    def __init__(self, upto: date) -> None:
        self.clean = frozenset(
            RollupDay.objects.filter(dirty=False, final=True, day__lte=upto).values_list(
                "day", flat=True
            )
        )
        self.first_clean = min(self.clean, default=None)

    def split(self, first: date | None, last: date) -> tuple[Runs, Runs]:
        """The days first..last (first None: from the very beginning) as runs served by the
        rollups and runs to read live; together they hold each day once."""
        stored: list[tuple[date, date]] = []
        live: list[tuple[date | None, date]] = []
        if first is None:
            if self.first_clean is None or self.first_clean > last:
                return [], [(None, last)]
            live.append((None, self.first_clean - timedelta(days=1)))
            first = self.first_clean
        day, run_start, run_clean = first, first, first in self.clean
        while day <= last:
            clean = day in self.clean
            if clean != run_clean:
                (stored if run_clean else live).append((run_start, day - timedelta(days=1)))
                run_start, run_clean = day, clean
            day += timedelta(days=1)
        if first <= last:
            (stored if run_clean else live).append((run_start, last))
        live = _merge(live)
        if len(live) > MAX_LIVE_RUNS:
            cut = live[0][0]
            live = [(cut, last)]
            stored = [] if cut is None else [run for run in stored if run[1] < cut]
        return stored, live

    def split_months(
        self, first: date, last: date, dimension: str
    ) -> tuple[list[date], tuple[Runs, Runs]]:
        """For the duration histograms: the calendar months inside first..last whose days
        are all clean (read from DurationMonth), and the other days split like split()
        (dimension "all") or all to be read live (per-value histograms are monthly only)."""
        months, rest = [], []
        month = first.replace(day=1)
        while month <= last:
            end = month_end(month)
            days = [month + timedelta(days=i) for i in range(end.day)]
            if month >= first and end <= last and all(day in self.clean for day in days):
                months.append(month)
            else:
                rest += [day for day in days if first <= day <= last]
            month = end + timedelta(days=1)
        stored: list[tuple[date, date]] = []
        live: list[tuple[date | None, date]] = []
        for day in rest:
            clean = dimension == Dimension.ALL and day in self.clean
            runs = stored if clean else live
            if runs and runs[-1][1] + timedelta(days=1) == day:
                runs[-1] = (runs[-1][0], day)
            else:
                runs.append((day, day))
        return months, (stored, live)


def _merge(runs: list[tuple[date | None, date]]) -> list[tuple[date | None, date]]:
    merged: list[tuple[date | None, date]] = []
    for first, last in runs:
        if merged and first is not None and merged[-1][1] + timedelta(days=1) == first:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def _days_q(runs: Runs) -> Q:
    q = Q(pk__in=[])
    for first, last in runs:
        q |= Q(day__lte=last) if first is None else Q(day__range=(first, last))
    return q


def read(
    family: Family,
    index: RollupIndex,
    first: date | None,
    last: date,
    dimension: str,
    value: object | None,
    *,
    by_day: bool = False,
) -> list[dict]:
    """The family's sums over first..last for one dimension value, per key (and per day
    with by_day, under "day"): at most one query on the rollups and one on the raw rows."""
    stored_value, live_value = dimension_value(dimension, value)
    keys = list(family.keys)
    measures = list(family.measures())
    group = keys + (["day"] if by_day else [])
    rows: list[dict] = []
    if family.metric and not by_day:
        months, (stored_runs, live_runs) = index.split_months(first, last, dimension)
        if months:
            rows += (
                DurationMonth.objects.filter(
                    day__in=months, dimension=dimension, value=stored_value, metric=family.metric
                )
                .order_by()
                .values(*keys)
                .annotate(**{m: Sum(m) for m in measures})
            )
    elif family.metric and dimension != Dimension.ALL:
        stored_runs, live_runs = [], [(first, last)]  # no daily histograms per value
    else:
        stored_runs, live_runs = index.split(first, last)
    if stored_runs:
        stored = family.model.objects.filter(
            _days_q(stored_runs), dimension=dimension, value=stored_value
        )
        if family.metric:
            stored = stored.filter(metric=family.metric)
        sums = {m: Sum(m) for m in measures}
        # No key: one row of totals (values() with no field would group by every column).
        rows += (
            stored.order_by().values(*group).annotate(**sums)
            if group
            else [stored.aggregate(**sums)]
        )
    if live_runs:
        renamed = {source: key for key, source in family.keys.items()} | {DAY: "day"}
        for row in family.live(live_runs, dimension, live_value, by_day=by_day):
            rows.append({renamed.get(name, name): item for name, item in row.items()})
    return _sum_rows(rows, group, measures)


def _sum_rows(rows: Iterable[dict], group: list[str], measures: list[str]) -> list[dict]:
    totals: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[g] for g in group)
        total = totals.setdefault(key, {**{g: row[g] for g in group}, **dict.fromkeys(measures)})
        for m in measures:
            if row[m] is not None:
                total[m] = row[m] if total[m] is None else total[m] + row[m]
    return list(totals.values())


def _total(rows: list[dict], measure: str, default=0):
    values = [row[measure] for row in rows if row[measure] is not None]
    return sum(values, start=default) if values else default


# --- finishing each KPI from the sums (the formulas of analytics.kpis) ---


def finish_answers(rows: list[dict], scales: dict[int, tuple[int, int, bool]]) -> dict:
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_type[row["question_type"]].append(row)

    def count(kind: str, test) -> int:
        return sum(row["answers"] for row in by_type[kind] if test(row["score"]))

    nps = nps_figures(
        count(Question.Type.NPS, lambda s: s >= 9),
        count(Question.Type.NPS, lambda s: 7 <= s <= 8),
        count(Question.Type.NPS, lambda s: s <= 6),
    )
    csat_n = count(Question.Type.CSAT, lambda s: True)
    csat_sum = sum(row["score"] * row["answers"] for row in by_type[Question.Type.CSAT])
    csat = {
        "value": _share(count(Question.Type.CSAT, lambda s: s >= 4), csat_n),
        "n": csat_n,
        "mean": csat_sum / csat_n if csat_n else None,
        "small_sample": _small(csat_n),
    }
    ces_n = agreeing = 0
    ces_sum = 0.0
    steps = CES_POINTS - 1
    for row in by_type[Question.Type.CES]:
        low, high, reversed_ = scales[row["question_id"]]
        agreement = high - row["score"] if reversed_ else row["score"] - low
        scale = high - low
        ces_n += row["answers"]
        ces_sum += row["answers"] * (1.0 + (agreement * steps) / scale)
        if agreement * steps >= scale * (CES_AGREE_FROM - 1):
            agreeing += row["answers"]
    ces = {
        "value": ces_sum / ces_n if ces_n else None,
        "n": ces_n,
        "agree_share": _share(agreeing, ces_n),
        "small_sample": _small(ces_n),
    }
    return {"nps": nps, "csat": csat, "ces": ces}


def question_scales(rows: list[dict]) -> dict[int, tuple[int, int, bool]]:
    """Each CES question's current scale and direction (one query), as the raw KPI reads."""
    ids = {row["question_id"] for row in rows if row["question_type"] == Question.Type.CES}
    if not ids:
        return {}
    default_low, default_high = Question.DEFAULT_SCALES[Question.Type.CES]
    return {
        pk: (default_low if low is None else low, default_high if high is None else high, rev)
        for pk, low, high, rev in Question.objects.filter(pk__in=ids).values_list(
            "pk", "scale_min", "scale_max", "reversed"
        )
    }


def duration_figures(rows: list[dict]) -> dict:
    """n, mean (exact) and median, p90 (from the histogram) of a duration's rows."""
    n = _total(rows, "count")
    if not n:
        return {"median": None, "mean": None, "p90": None, "n": 0}
    marks = histogram.percentiles(((row["bucket"], row["count"]) for row in rows), (MEDIAN, P90))
    return {
        "median": marks[MEDIAN],
        "mean": float(_total(rows, "total_s", 0.0)) / n,
        "p90": marks[P90],
        "n": n,
    }


def finish_times(rows: list[dict]) -> dict:
    figures = duration_figures(rows)
    return {
        "median_s": figures["median"],
        "mean_s": figures["mean"],
        "p90_s": figures["p90"],
        "n": figures["n"],
        "small_sample": _small(figures["n"]),
    }


class Reader:
    """Reads KPIs from the rollups for one request, sharing each family read between the
    KPIs that need it (NPS, CSAT and CES share one read of the answers)."""

    def __init__(self, index: RollupIndex) -> None:
        self.index = index
        self._cache: dict[tuple, list[dict]] = {}

    def rows(
        self, family: Family, f: KpiFilter, name: str, first: date | None = ..., by_day=False
    ) -> list[dict]:
        dimension, value = dimension_of(name, f)
        first = f.date_from if first is ... else first
        key = (family.name, first, f.date_to, dimension, value, by_day)
        if key not in self._cache:
            self._cache[key] = read(
                family, self.index, first, f.date_to, dimension, value, by_day=by_day
            )
        return self._cache[key]

    def kpi(self, name: str, f: KpiFilter) -> dict:
        return FINISHERS[name](self, f, name)


class SeriesReader(Reader):
    """Reads the KPIs of one bucket of a series from rows fetched per day for the whole
    series (once per family), so a series costs the same queries however many buckets,
    except durations, read bucket by bucket (a few queries each)."""

    def __init__(self, whole: Reader, series: KpiFilter) -> None:
        super().__init__(whole.index)
        self.whole, self.series = whole, series

    def rows(self, family, f, name, first=..., by_day=False) -> list[dict]:
        if family.metric:
            # Duration histograms per day would bring hundreds of rows a day to Python:
            # each bucket reads its own sums instead (monthly histograms serve months).
            return super().rows(family, f, name, first=first)
        from_start = first is None
        days = self.whole.rows(
            family, self.series, name, first=None if from_start else ..., by_day=True
        )
        low = None if from_start else f.date_from
        chosen = [
            row for row in days if row["day"] <= f.date_to and (low is None or row["day"] >= low)
        ]
        return _sum_rows(chosen, list(family.keys), list(family.measures()))


def _answers(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(ANSWERS, f, name)
    return finish_answers(rows, question_scales(rows))[name]


def _response_rate(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(INVITATIONS, f, name)
    n = _total(rows, "sent")
    return {"value": _share(_total(rows, "answered"), n), "n": n, "small_sample": _small(n)}


def _closed_loop(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(LOOPS, f, name)
    n = _total(rows, "follow_ups")
    times = duration_figures(reader.rows(DURATIONS["closed_loop"], f, name))
    if 0 < times["n"] <= EXACT_LIMIT:
        return REGISTRY[name](f)
    return {
        "value": _share(_total(rows, "closed"), n),
        "n": n,
        "median_s": times["median"],
        "mean_s": times["mean"],
        "small_sample": _small(n),
    }


EXACT_LIMIT = 2_000
"""Up to this many durations, medians and p90s are computed exactly from the raw rows (one
query, a few milliseconds); beyond it they come from the histograms, within 1 %."""


def _times(metric: str):
    def finish(reader: Reader, f: KpiFilter, name: str) -> dict:
        figures = finish_times(reader.rows(DURATIONS[metric], f, name))
        if 0 < figures["n"] <= EXACT_LIMIT:
            return REGISTRY[name](f)
        return figures

    return finish


def _resolution_rate(reader: Reader, f: KpiFilter, name: str) -> dict:
    n = _total(reader.rows(RECEIVED, f, name), "received")
    resolved = _total(reader.rows(RESOLVED, f, name), "resolved")
    return {"value": _share(resolved, n), "n": n, "resolved": resolved, "small_sample": _small(n)}


def _resolved_share(part: str, out: str, *, of: str = "resolved", complement: bool = False):
    def finish(reader: Reader, f: KpiFilter, name: str) -> dict:
        rows = reader.rows(RESOLVED, f, name)
        n = _total(rows, of)
        count = _total(rows, part)
        if complement:
            count = n - count
        return {"value": _share(count, n), "n": n, out: count, "small_sample": _small(n)}

    return finish


def _upsell(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(PURCHASES, f, name)
    n = _total(rows, "purchases")
    upsells, cross_sells = _total(rows, "upsells"), _total(rows, "cross_sells")
    return {
        "value": _share(upsells + cross_sells, n),
        "n": n,
        "upsell_share": _share(upsells, n),
        "cross_sell_share": _share(cross_sells, n),
        "small_sample": _small(n),
    }


def _aov(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(PURCHASES, f, name)
    n = _total(rows, "purchases")
    total = _total(rows, "amount", Decimal("0"))
    return {
        "value": float(total / n) if n else None,
        "n": n,
        "total": float(total) if n else None,
        "small_sample": _small(n),
    }


def _clv(reader: Reader, f: KpiFilter, name: str) -> dict:
    history = reader.rows(PURCHASES, f, name, first=None)
    period = reader.rows(PURCHASES, f, name)
    buyers = _total(history, "first_buyers")
    return clv_figures(
        f,
        buyers=buyers,
        total_margin=_total(history, "margin", Decimal("0")) if buyers else None,
        period_margin=_total(period, "margin", Decimal("0")),
    )


FINISHERS = {
    "nps": _answers,
    "csat": _answers,
    "ces": _answers,
    "response_rate": _response_rate,
    "closed_loop_rate": _closed_loop,
    "first_response_time": _times("first_response"),
    "first_response_time_business": _times("first_response_business"),
    "resolution_time": _times("resolution"),
    "resolution_time_business": _times("resolution_business"),
    "resolution_rate": _resolution_rate,
    "fcr_rate": _resolved_share("first_contact", "first_contact"),
    "reopen_rate": _resolved_share("reopened", "reopened"),
    "sla_compliance": _resolved_share("sla_missed", "met", of="sla_targets", complement=True),
    "upsell_cross_sell_share": _upsell,
    "average_order_value": _aov,
    "clv": _clv,
}
