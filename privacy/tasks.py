"""Thin Celery wrappers: load nothing, decide nothing, call one service."""

from celery import shared_task

from . import services


@shared_task
def anonymise_old_content() -> int:
    """Daily (beat): the retention sweep. A backlog too long for one run's time budget
    goes on in a new run at once rather than waiting for tomorrow."""
    run = services.content_anonymise_old()
    if not run.finished:
        anonymise_old_content.delay()
    return run.messages + run.answers
