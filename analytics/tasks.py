"""Thin Celery wrappers around the rollup builder. Both are safe to run twice at once:
recomputations of the rollups take turns (build.recompute holds a lock)."""

from celery import shared_task

from .rollups import build


@shared_task(acks_late=True)
def recompute_dirty_rollups() -> int:
    """Every 30 s (beat): the past days marked dirty, and yesterday once it has ended."""
    return build.recompute_dirty()


@shared_task(acks_late=True)
def reconcile_rollups() -> int:
    """Nightly (beat): every day from the first with data to yesterday, recomputed, so
    anything no signal announced (a customer changing segment, a bulk UPDATE) is caught."""
    days, _rows = build.rebuild(jobs=2)
    return days
