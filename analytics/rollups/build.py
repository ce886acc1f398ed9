"""Writing the rollups: recompute runs of days (upserts, then the rows of those days that
were not written again are removed), keep RollupDay's bookkeeping, mark days dirty.

Concurrency, without a hot row: a change marks its days dirty only once it has
committed (on_commit), and only for past days (today is always read live) where they
are not dirty already, so a busy day costs one
write per recomputation, not one per change. A recomputation first claims its days:
clears `dirty` and `final` and stamps `computed_at` with the claim's instant (committed
on their own); then reads the raw rows and writes the rollups; then sets `final` on the
days still under its own claim that had ended FINAL_AFTER before it claimed them (so a
transaction that began before midnight and commits after it is in what it read). A change that
commits before the claim is in what the recomputation reads; one that commits after
marks the day dirty again for the next pass; a day claimed again by another worker is
left for that one to finish. While a day is being recomputed (final unset) it is read
live. A process that dies in between leaves `final` unset, which the next pass picks
up; a mark lost with a dying process is caught by the nightly reconciliation.
"""

import logging
import threading
from calendar import monthrange
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, Min, Q, Value, When
from django.utils import timezone

from analytics.models import Dimension, DurationMonth, LifecycleFact, RollupDay

from . import lifecycle
from .families import DAY, DURATIONS, FAMILIES, Family, zone

logger = logging.getLogger(__name__)

CHUNK_DAYS = 31
"""Most days recomputed per transaction (recompute_dirty): bounds each transaction."""
DURATION_FAMILIES = list(DURATIONS.values())
BATCH = 2000
FINAL_AFTER = timedelta(minutes=10)
"""A day becomes final only when recomputed this long after it ended: longer than any
transaction (requests, tasks: 5 min hard limit) that began on it may take to commit, and
whose change, today's when it was made, was not marked."""
ROLLUP_LOCK = 0x6B70_6973  # any constant: the advisory lock's key


def local_day(moment: datetime | None) -> date | None:
    return None if moment is None else timezone.localtime(moment, zone()).date()


def today() -> date:
    return timezone.localtime(timezone.now(), zone()).date()


def yesterday() -> date:
    return today() - timedelta(days=1)


def _take_turns(first: date, last: date) -> None:
    """On PostgreSQL, recomputations of the same months wait for each other (one
    transaction-scoped advisory lock per month, taken in order), so two workers never
    upsert the same rows in different orders, while different months can be recomputed
    side by side. SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for month, _end in months_of(first, last):
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    [ROLLUP_LOCK, month.year * 12 + month.month],
                )


def mark_dirty(days: Iterable[date | None]) -> None:
    """Mark past days dirty once the current transaction commits (today is always read
    live, so it needs no mark)."""
    days = sorted({day for day in days if day is not None and day < today()})
    if days:
        # robust: the change has committed; a failed mark must not turn the user's request
        # into an error (it is logged, and the nightly reconciliation repairs the days).
        transaction.on_commit(lambda: _mark(days), robust=True)


def _mark(days: list[date]) -> None:
    RollupDay.objects.bulk_create([RollupDay(day=day) for day in days], ignore_conflicts=True)
    RollupDay.objects.filter(day__in=days, dirty=False).update(dirty=True, marked_at=timezone.now())


def q_day() -> str:
    return connection.ops.quote_name(DAY)


def _write(
    family: Family,
    first: date,
    last: date,
    stamp: datetime,
    *,
    month: date | None = None,
) -> int:
    """Upsert the family's rows for the days first..last, every dimension at once: one
    INSERT … SELECT whose source rows are read once (the finest grouping, a CTE), then
    summed per dimension value (UNION ALL). Nothing passes through Python. With `month`
    (a duration family), the days are summed into that month's DurationMonth rows."""
    fine, dimensions = family.fine([(first, last)])
    model = DurationMonth if month else family.model
    names = family.dimension_names() if month else family.daily_dimensions()
    day_sql = "%s" if month else q_day()
    inner_sql, inner_params = fine.query.sql_with_params()
    q = connection.ops.quote_name
    keys = list(family.keys)
    measures = list(family.measures())
    key_sources = [q(source) for source in family.keys.values()]
    head = ["%s", "%s"] + (["%s"] if family.metric else [])  # dimension, computed_at, metric
    selects, params = [], list(inner_params)
    for dimension in names:
        group = ([] if month else [q(DAY)]) + key_sources
        if dimension == Dimension.ALL:
            value, where = "''", ""
        else:
            column = q(dimensions[dimension])
            value, where = f"CAST({column} AS TEXT)", f" WHERE {column} IS NOT NULL"
            group.append(column)
        sums = [f"SUM({q(measure)})" for measure in measures]
        selects.append(  # identifiers from model metadata, quoted; values are parameters
            f"SELECT {day_sql}, {', '.join(head)}, {value}, {', '.join([*key_sources, *sums])} "  # noqa: S608
            f"FROM fine{where} GROUP BY {', '.join(group)}"
        )
        params += ([month] if month else []) + [dimension, stamp]
        params += [family.metric] if family.metric else []
    columns = ["day", "dimension", "computed_at", *(["metric"] if family.metric else [])]
    columns += ["value", *keys, *measures]
    unique = ["day", "dimension", "value", *(["metric"] if family.metric else []), *keys]
    updates = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in [*measures, "computed_at"])
    sql = (
        f"INSERT INTO {q(model._meta.db_table)} ({', '.join(map(q, columns))}) "  # noqa: S608
        f"SELECT * FROM (WITH fine AS ({inner_sql}) {' UNION ALL '.join(selects)}) AS rollup "
        # WHERE true: SQLite's parser needs it before ON CONFLICT after a SELECT.
        f"WHERE true ON CONFLICT ({', '.join(map(q, unique))}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def recompute(first: date, last: date) -> int:
    """Recompute every rollup for the local days first..last; returns the rows written."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    # The claim: its instant identifies this recomputation, and the days that had ended
    # by then are the ones it may make final (it reads the raw rows after this).
    claim = timezone.now()
    ended = local_day(claim - FINAL_AFTER)
    with transaction.atomic():
        RollupDay.objects.bulk_create([RollupDay(day=day) for day in days], ignore_conflicts=True)
        # Claimed: from here on a change marks the days dirty again, and they are read
        # live until they are final.
        RollupDay.objects.filter(day__range=(first, last)).update(
            dirty=False, final=False, computed_at=claim
        )
    with transaction.atomic():
        _take_turns(first, last)
        stamp = timezone.now()
        written = 0
        for family in FAMILIES:
            written += _write(family, first, last, stamp)
            stale = family.model.objects.filter(day__range=(first, last), computed_at__lt=stamp)
            if family.metric:
                stale = stale.filter(metric=family.metric)
            stale.delete()
        # The duration histograms per month, of every month these days fall in, whole.
        for month_first, month_last in months_of(first, last):
            for family in DURATION_FAMILIES:
                written += _write(family, month_first, month_last, stamp, month=month_first)
            DurationMonth.objects.filter(day=month_first, computed_at__lt=stamp).delete()
        # Only the days still under this claim: one claimed again by another worker
        # meanwhile (after a change this one may have missed) is that worker's to finish.
        RollupDay.objects.filter(day__range=(first, last), computed_at=claim).update(
            final=Case(When(day__lt=ended, then=Value(True)), default=Value(False))
        )
    return written


def month_end(day: date) -> date:
    return day.replace(day=monthrange(day.year, day.month)[1])


def months_of(first: date, last: date) -> list[tuple[date, date]]:
    """(first day, last day) of every calendar month the days first..last touch."""
    months = []
    month = first.replace(day=1)
    while month <= last:
        months.append((month, month_end(month)))
        month = month_end(month) + timedelta(days=1)
    return months


def chunks(first: date, last: date) -> Iterator[tuple[date, date]]:
    """first..last cut at the ends of calendar months (so each month's histograms are
    computed once in a rebuild)."""
    while first <= last:
        end = min(month_end(first), last)
        yield first, end
        first = end + timedelta(days=1)


def runs_of(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into inclusive runs, none longer than CHUNK_DAYS."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if (
            runs
            and runs[-1][1] + timedelta(days=1) == day
            and (day - runs[-1][0]).days < CHUNK_DAYS
        ):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def recompute_dirty() -> int:
    """Recompute the past days that are dirty or were computed before they ended, and
    make sure yesterday has its row. Returns the days recomputed."""
    current = today()
    # A new row is dirty: yesterday gets computed once it has ended, even with no change.
    RollupDay.objects.bulk_create(
        [RollupDay(day=current - timedelta(days=1))], ignore_conflicts=True
    )
    days = list(
        RollupDay.objects.filter(Q(dirty=True) | Q(final=False), day__lt=current).values_list(
            "day", flat=True
        )
    )
    for first, last in runs_of(days):
        recompute(first, last)
    return len(days)


def first_day_with_data() -> date | None:
    """The earliest local day any rolled-up row counts on."""
    firsts = []
    for family in FAMILIES:
        if family.metric:
            continue  # the durations count on the days of their ticket or response families
        found = family.source().order_by().aggregate(first=Min(family.timestamp))["first"]
        if found is not None:
            firsts.append(local_day(found))
    return min(firsts, default=None)


def rebuild(
    first: date | None = None,
    last: date | None = None,
    *,
    progress: Callable[[date, date, int], None] | None = None,
    jobs: int = 1,
) -> tuple[int, int]:
    """Recompute every day from `first` (default: the first day with data) to `last`
    (default: yesterday), a calendar month per transaction, `jobs` months at a time (each
    in its own thread and database connection; 1 on SQLite, which has one writer).
    The customers' lifecycle facts are rewritten too (beside the first months when
    `jobs` > 1). Returns (days, rows written, lifecycle facts included)."""
    last = last or yesterday()
    first = first or first_day_with_data()
    if first is None or first > last:
        return 0, lifecycle.refresh()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # SQLite has one writer; inside a transaction (a test's) other connections would
        # neither see its rows nor get past its locks.
        jobs = 1
    days = rows = 0
    reporting = threading.Lock()

    def one(chunk: tuple[date, date]) -> None:
        nonlocal days, rows
        try:
            written = recompute(*chunk)
        finally:
            if jobs > 1:
                connection.close()  # this thread's own connection
        with reporting:
            days += (chunk[1] - chunk[0]).days + 1
            rows += written
            if progress:
                progress(chunk[0], chunk[1], written)

    def facts() -> None:
        nonlocal rows
        try:
            written = lifecycle.refresh()
        finally:
            if jobs > 1:
                connection.close()
        with reporting:
            rows += written

    if jobs == 1:
        facts()
        for chunk in chunks(first, last):
            one(chunk)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            work = [pool.submit(facts)] + [pool.submit(one, chunk) for chunk in chunks(first, last)]
            for done in work:
                done.result()  # re-raises a failed month's error
    _analyze()
    return days, rows


def _analyze() -> None:
    """Fresh planner statistics after a rebuild (PostgreSQL): with stale ones the planner
    scans a table's whole dimension instead of the days a period asks for. Outside a
    transaction, a table the rebuild rewrote (over a tenth of its rows now dead) is
    vacuumed too: until the old versions are cleared every read scans twice the pages
    (measured: the overview 1.3 to 1.8 times slower; throttled autovacuum had not
    cleared them ten minutes later). A first build leaves none, and skips the cost."""
    if connection.vendor != "postgresql":
        return
    tables = [family.model._meta.db_table for family in FAMILIES]
    tables += [DurationMonth._meta.db_table, RollupDay._meta.db_table]
    tables.append(LifecycleFact._meta.db_table)
    tables = list(dict.fromkeys(tables))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s)"
            " AND n_dead_tup > n_live_tup / 10",
            [tables],
        )
        rewritten = {name for (name,) in cursor.fetchall()}
        for table in tables:
            vacuum = table in rewritten and not connection.in_atomic_block
            command = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
            cursor.execute(f"{command} {connection.ops.quote_name(table)}")
