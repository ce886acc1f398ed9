"""KPIs read from the daily rollups: past days that are clean come from the rollup tables,
every other day of the period (today, days marked dirty and not yet recomputed, days
never built) from the raw rows, through the very query that builds the rollups. The two
parts cover the period's days exactly once and are added, then each KPI is finished from
the sums with the same formulas as analytics.kpis (which stays the definition).

A filter may name at most one dimension that applies to the KPI (team, agent, channel,
category, segment, survey; ticket KPIs ignore the survey, commerce KPIs all but the
segment): the rollups hold one set of rows per dimension value, not per combination.
Beyond that, `can_read` says no and the caller computes from the raw rows. The customer
lifecycle KPIs (churn, retention, churn vs acquisition, conversion, and CLV's active
customers), whose figures follow each customer across the period, which daily sums cannot
give, are read from the lifecycle facts instead (analytics.rollups.lifecycle): exact.

Medians and 90th percentiles come from the duration histograms and are within 1 % of
the raw figures (analytics.rollups.histogram); counts, sums, means and rates are exact.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Case, DateField, F, Q, QuerySet, Sum, Value, When

from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY, SMALL_SAMPLE
from analytics.kpis._stats import MEDIAN, P90
from analytics.kpis.customers import (
    churn_rate_figures,
    churn_vs_acquisition_figures,
    clv_figures,
    conversion_rate_figures,
    retention_rate_figures,
)
from analytics.kpis.surveys import CES_AGREE_FROM, CES_POINTS, nps_figures
from analytics.models import Dimension, DurationMonth, RollupDay
from surveys.models import Question

from . import histogram, lifecycle
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
    "churn_rate": "commerce",
    "retention_rate": "commerce",
    "churn_vs_acquisition": "commerce",
    "conversion_rate": "commerce",
}
DAILY_HISTOGRAMS_UP_TO = 92
"""Series up to this many days read their duration buckets from the daily histograms in
one query; longer ones are drawn by month, from the monthly histograms."""
LIFECYCLE_PERIODS_PER_QUERY = 50
"""Periods counted per pass over the lifecycle facts (8 columns each: PostgreSQL takes at
most 1,664 in a SELECT)."""


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
        self._splits: dict[tuple, tuple] = {}

    def split(self, first: date | None, last: date) -> tuple[Runs, Runs]:
        """The days first..last (first None: from the very beginning) as runs served by the
        rollups and runs to read live; together they hold each day once. (Kept per range:
        a page asks for the same ones many times.)"""
        key = ("split", first, last)
        if key not in self._splits:
            self._splits[key] = self._split(first, last)
        return self._splits[key]

    def _split(self, first: date | None, last: date) -> tuple[Runs, Runs]:
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
        key = ("months", first, last, dimension == Dimension.ALL)
        if key not in self._splits:
            self._splits[key] = self._split_months(first, last, dimension)
        return self._splits[key]

    def _split_months(
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
    buckets: Sequence[tuple[date, date]] = (),
) -> list[dict]:
    """The family's sums over first..last for one dimension value, per key (and per day
    with by_day, under "day"): at most one query on the rollups and one on the raw rows.
    With by_day and `buckets` (runs of days covering first..last), per bucket instead:
    "day" is the bucket's first day."""
    if family.metric and not by_day:
        return _durations(family, index, first, last, dimension, value)
    stored_value, live_value = dimension_value(dimension, value)
    keys = list(family.keys)
    measures = list(family.measures())
    group = keys + (["day"] if by_day else [])
    bucket_of = None
    if by_day and any(start != end for start, end in buckets):
        bucket_of = Case(
            *[When(day__range=(start, end), then=Value(start)) for start, end in buckets],
            output_field=DateField(),
        )
    rows: list[dict] = []
    if family.metric and dimension != Dimension.ALL:
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
        if bucket_of is not None:
            rows += (
                stored.order_by()
                .values(*keys, series_bucket=bucket_of)
                .annotate(**sums)
                .values(*keys, *measures, day=F("series_bucket"))
            )
        elif group:
            rows += stored.order_by().values(*group).annotate(**sums)
        else:
            # No key: one row of totals (values() with no field would group by every column).
            rows.append(stored.aggregate(**sums))
    if live_runs:
        renamed = {source: key for key, source in family.keys.items()} | {DAY: "day"}
        starts = _bucket_starts(buckets) if bucket_of is not None else {}
        for row in family.live(live_runs, dimension, live_value, by_day=by_day):
            row = {renamed.get(name, name): item for name, item in row.items()}
            if starts:
                row["day"] = starts[row["day"]]
            rows.append(row)
    return _sum_rows(rows, group, measures)


def _durations(
    family: Family, index: "RollupIndex", first: date, last: date, dimension: str, value
) -> list[dict]:
    """A duration's histogram over first..last for one dimension value: its whole clean
    months (monthly histograms), its other clean days (daily ones, company-wide only) and
    the rest from the raw rows, added up and cut down by the database (_reduced)."""
    stored_value, live_value = dimension_value(dimension, value)
    keys = list(family.keys)
    sums = {m: Sum(m) for m in family.measures()}
    months, (stored_runs, live_runs) = index.split_months(first, last, dimension)
    parts = []
    if months:
        parts.append(_month_sums(family, months, dimension, stored_value))
    if stored_runs:
        parts.append(
            family.model.objects.filter(
                _days_q(stored_runs), dimension=dimension, value=stored_value, metric=family.metric
            )
            .order_by()
            .values(*keys)
            .annotate(**sums)
        )
    if live_runs:
        parts.append(family.live(live_runs, dimension, live_value))
    return _reduced(parts, [])


def _month_sums(family: Family, months, dimension: str, stored_value, *group: str) -> QuerySet:
    """A duration's monthly histograms over these months, summed per bucket (and group)."""
    return (
        DurationMonth.objects.filter(
            day__in=months, dimension=dimension, value=stored_value, metric=family.metric
        )
        .order_by()
        .values(*group, *family.keys)
        .annotate(**{m: Sum(m) for m in family.measures()})
    )


def _reduced(parts: list[QuerySet], group: list[str]) -> list[dict]:
    """Duration histograms (values() queries of group, bucket, count and total_s, in that
    order), added up per group and bucket, cut down by the database to what
    duration_figures() reads: the buckets holding the ranks the median and the 90th
    percentile fall on (one rank either side, for the floating-point position Python
    computes), with the counts between them as filler rows whose bucket no such rank
    reaches, and the group's total in its first row. So n, the mean, the median and the
    p90 are exactly those of the whole histogram, from a handful of rows instead of
    hundreds per period: a year of monthly histograms is ten thousand rows."""
    if not parts:
        return []
    q = connection.ops.quote_name
    names = [*group, "bucket", "count", "total_s"]
    # The UNION takes its column names from this first, empty, SELECT.
    sqls = ["SELECT " + ", ".join(f"NULL AS {q(n)}" for n in names) + " WHERE 1 = 0"]
    params: list = []
    for part in parts:
        sql, part_params = part.query.sql_with_params()
        sqls.append(sql)
        params += part_params
    lead = "".join(f"{q(g)}, " for g in group)
    over = f"PARTITION BY {', '.join(map(q, group))}" if group else ""
    ranks = " OR ".join(
        f"(upto - c <= CEILING({fraction} * (n - 1)) + 1"
        f" AND FLOOR({fraction} * (n - 1)) - 1 < upto)"
        for fraction in (MEDIAN, P90)
    )
    sql = (  # identifiers from model metadata, quoted; values are parameters
        f"WITH h AS (SELECT {lead}{q('bucket')} AS bucket, SUM({q('count')}) AS c, "  # noqa: S608
        f"SUM({q('total_s')}) AS t FROM ({' UNION ALL '.join(sqls)}) AS parts "
        f"GROUP BY {lead}{q('bucket')}), "
        f"w AS (SELECT {lead}bucket, c, SUM(c) OVER ({over} ORDER BY bucket "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto, "
        f"SUM(c) OVER ({over}) AS n, SUM(t) OVER ({over}) AS total FROM h) "
        f"SELECT {lead}bucket, c, upto, n, total FROM w WHERE {ranks} ORDER BY {lead}bucket"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    by_group: dict[tuple, list[tuple]] = defaultdict(list)
    for row in fetched:
        by_group[tuple(row[: len(group)])].append(row[len(group) :])
    rows = []
    for key, selected in by_group.items():
        labels = dict(zip(group, key, strict=True))
        histogram_rows, seen = [], 0
        for bucket, count, upto, _n, _total in selected:
            gap = int(upto) - int(count) - seen
            if gap:
                histogram_rows.append({"bucket": bucket - 1, "count": gap, "total_s": 0.0})
            histogram_rows.append({"bucket": bucket, "count": int(count), "total_s": 0.0})
            seen = int(upto)
        bucket, _count, _upto, n, total = selected[-1]
        if int(n) > seen:
            histogram_rows.append({"bucket": bucket + 1, "count": int(n) - seen, "total_s": 0.0})
        histogram_rows[0]["total_s"] = float(total)
        rows += [{**labels, **row} for row in histogram_rows]
    return rows


def _bucket_starts(buckets: Sequence[tuple[date, date]]) -> dict[date, date]:
    """Each day of the buckets → its bucket's first day."""
    starts = {}
    for start, end in buckets:
        day = start
        while day <= end:
            starts[day] = start
            day += timedelta(days=1)
    return starts


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
        self._lifecycle: dict[tuple, dict[str, int]] = {}
        self._scales: dict[int, tuple[int, int, bool]] = {}
        self._finished: dict[int, tuple[list[dict], dict]] = {}

    def finish_answers(self, rows: list[dict]) -> dict:
        """finish_answers() of these rows, computed once for NPS, CSAT and CES alike, with
        the CES questions' scales read once per request."""
        done = self._finished.get(id(rows))
        if done is None or done[0] is not rows:
            missing = [
                row
                for row in rows
                if row["question_type"] == Question.Type.CES
                and row["question_id"] not in self._scales
            ]
            self._scales.update(question_scales(missing))
            done = (rows, finish_answers(rows, self._scales))
            self._finished[id(rows)] = done
        return done[1]

    def lifecycle(self, f: KpiFilter) -> dict[str, int]:
        """The lifecycle figures of the filter's period and segment (read once)."""
        key = (f.start, f.end, f.segment)
        if key not in self._lifecycle:
            self.prefetch_lifecycle(f)
        return self._lifecycle[key]

    def prefetch_lifecycle(self, *filters: KpiFilter) -> None:
        """Count the lifecycle figures of these periods together: one pass over the facts
        per segment (and per LIFECYCLE_PERIODS_PER_QUERY periods)."""
        wanted: dict[tuple, KpiFilter] = {}
        for f in filters:
            key = (f.start, f.end, f.segment)
            if key not in self._lifecycle:
                wanted.setdefault(key, f)
        by_segment: dict[object, list[KpiFilter]] = defaultdict(list)
        for f in wanted.values():
            by_segment[f.segment].append(f)
        for group in by_segment.values():
            for start in range(0, len(group), LIFECYCLE_PERIODS_PER_QUERY):
                chunk = group[start : start + LIFECYCLE_PERIODS_PER_QUERY]
                for f, figures in zip(chunk, lifecycle.figures(chunk), strict=True):
                    self._lifecycle[(f.start, f.end, f.segment)] = figures

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
    series (once per family), so a series costs the same queries however many buckets.
    Durations are the exception: histograms per day would bring hundreds of rows a day
    to Python, so whole clean months come from the monthly histograms of the whole series
    (one query) and any other bucket reads its own sums (a few queries). Each bucket's
    sums are kept, so the KPIs of one family (NPS, CSAT, CES) add them up once."""

    def __init__(self, whole: Reader, series: KpiFilter) -> None:
        super().__init__(whole.index)
        self.whole, self.series = whole, series
        self._lifecycle = whole._lifecycle  # shared: kpi_series prefetches every bucket
        self._days: dict[tuple, dict[date, list[dict]]] = {}
        self._months: dict[tuple, dict[date, list[dict]]] = {}
        self._buckets: tuple[tuple[date, date], ...] = ()
        self._by_bucket: dict[tuple, dict[date, list[dict]]] = {}

    def use_buckets(self, buckets: Sequence[tuple[date, date]]) -> None:
        """The series' buckets (kpi_series says): their sums are then grouped by the
        database, one query per family, instead of read per day and added up here."""
        self._buckets = tuple(buckets)

    def rows(self, family, f, name, first=..., by_day=False) -> list[dict]:
        dimension, value = dimension_of(name, f)
        from_start = first is None
        key = (family.name, None if from_start else f.date_from, f.date_to, dimension, value)
        if key not in self._cache:
            if family.metric:
                self._cache[key] = self._duration_rows(family, f, name, first, dimension, value)
            else:
                self._cache[key] = self._bucket_rows(family, f, name, from_start)
        return self._cache[key]

    def _bucket_rows(self, family, f, name, from_start: bool) -> list[dict]:
        dimension, value = dimension_of(name, f)
        if not from_start and (f.date_from, f.date_to) in self._buckets:
            return self._grouped(family, dimension, value).get(f.date_from, [])
        key = (family.name, from_start, dimension, value)
        if key not in self._days:
            by_day: dict[date, list[dict]] = defaultdict(list)
            for row in self.whole.rows(
                family, self.series, name, first=None if from_start else ..., by_day=True
            ):
                by_day[row["day"]].append(row)
            self._days[key] = by_day
        by_day = self._days[key]
        if from_start:
            chosen = [row for day, rows in by_day.items() if day <= f.date_to for row in rows]
        else:
            chosen = []
            day = f.date_from
            while day <= f.date_to:
                chosen += by_day.get(day, ())
                day += timedelta(days=1)
        return _sum_rows(chosen, list(family.keys), list(family.measures()))

    def _grouped(self, family, dimension, value) -> dict[date, list[dict]]:
        """The family's sums over the whole series per bucket (by its first day)."""
        key = (family.name, dimension, value, self._buckets)
        if key not in self._by_bucket:
            grouped: dict[date, list[dict]] = defaultdict(list)
            for row in read(
                family,
                self.index,
                self.series.date_from,
                self.series.date_to,
                dimension,
                value,
                by_day=True,
                buckets=self._buckets,
            ):
                grouped[row["day"]].append(row)
            self._by_bucket[key] = grouped
        return self._by_bucket[key]

    def _duration_rows(self, family, f, name, first, dimension, value) -> list[dict]:
        if first is not ...:
            return Reader.rows(self, family, f, name, first=first)
        if (
            f.date_from.day == 1
            and f.date_to == month_end(f.date_from)
            and f.date_from in self._clean_months(family, dimension, value)
        ):
            return self._clean_months(family, dimension, value)[f.date_from]
        if (
            dimension == Dimension.ALL
            and self.series.days <= DAILY_HISTOGRAMS_UP_TO
            and (f.date_from, f.date_to) in self._buckets
        ):
            # Days and weeks: the daily histograms summed per bucket by the database.
            return self._grouped(family, dimension, value).get(f.date_from, [])
        return Reader.rows(self, family, f, name, first=first)

    def _clean_months(self, family, dimension, value) -> dict[date, list[dict]]:
        """The monthly histogram sums of every whole clean month of the series, by month."""
        key = (family.name, dimension, value)
        if key not in self._months:
            months, _rest = self.index.split_months(
                self.series.date_from, self.series.date_to, dimension
            )
            stored_value, _live = dimension_value(dimension, value)
            by_month: dict[date, list[dict]] = {month: [] for month in months}
            if months:
                monthly = _month_sums(family, months, dimension, stored_value, "day")
                for row in _reduced([monthly], ["day"]):
                    by_month[row.pop("day")].append(row)
            self._months[key] = by_month
        return self._months[key]


def _answers(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(ANSWERS, f, name)
    return reader.finish_answers(rows)[name]


def _response_rate(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(INVITATIONS, f, name)
    n = _total(rows, "sent")
    return {"value": _share(_total(rows, "answered"), n), "n": n, "small_sample": _small(n)}


def _closed_loop(reader: Reader, f: KpiFilter, name: str) -> dict:
    rows = reader.rows(LOOPS, f, name)
    n, closed = _total(rows, "follow_ups"), _total(rows, "closed")
    # The closed loops are the values of the time histogram (same rows, day and
    # dimensions): when few, the exact figures come from the raw rows without reading it.
    if 0 < closed <= EXACT_LIMIT:
        return REGISTRY[name](f)
    times = duration_figures(reader.rows(DURATIONS["closed_loop"], f, name) if closed else [])
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
        lifecycle=reader.lifecycle(f),
    )


def _from_lifecycle(finish):
    def kpi(reader: Reader, f: KpiFilter, name: str) -> dict:
        return finish(reader.lifecycle(f))

    return kpi


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
    "churn_rate": _from_lifecycle(churn_rate_figures),
    "retention_rate": _from_lifecycle(retention_rate_figures),
    "churn_vs_acquisition": _from_lifecycle(churn_vs_acquisition_figures),
    "conversion_rate": _from_lifecycle(conversion_rate_figures),
}
LIFECYCLE_KPIS = frozenset(
    ("churn_rate", "retention_rate", "churn_vs_acquisition", "conversion_rate", "clv")
)
