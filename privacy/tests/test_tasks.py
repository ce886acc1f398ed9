"""The retention sweep: off unless CXM_RETENTION_MONTHS is set; then it blanks message
bodies and survey comments older than that, and only those, in batches, once, and
writes what it did in the audit log."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from privacy import services, tasks
from privacy.models import ErasureRecord
from surveys.models import Answer, Question, Response, Survey
from tickets.models import Message
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def message(age: timedelta, body: str) -> Message:
    return Message.objects.create(
        ticket=TicketFactory(), body=body, created_at=timezone.now() - age
    )


def answer(age: timedelta, text: str, score: int = 9) -> Answer:
    survey, _ = Survey.objects.get_or_create(name="NPS")
    question, _ = Question.objects.get_or_create(
        survey=survey, type=Question.Type.NPS, defaults={"text_en": "?", "text_es": "?"}
    )
    response = Response.objects.create(
        survey=survey, customer=CustomerFactory(), answered_at=timezone.now() - age
    )
    return Answer.objects.create(
        response=response, question=question, question_type="nps", score=score, text=text
    )


def text_of(row) -> str:
    row.refresh_from_db()
    return row.body if isinstance(row, Message) else row.text


OLD = timedelta(days=200)  # older than six months
RECENT = timedelta(days=150)


@pytest.fixture
def content():
    return {
        "old_message": message(OLD, "An old complaint about my neighbour"),
        "recent_message": message(RECENT, "A recent question"),
        "old_answer": answer(OLD, "Old comment", score=3),
        "recent_answer": answer(RECENT, "Recent comment"),
    }


def test_retention_is_off_by_default_and_then_touches_nothing(content):
    assert django_settings.CXM_RETENTION_MONTHS == 0

    assert tasks.anonymise_old_content.delay().get() == 0

    assert text_of(content["old_message"]) == "An old complaint about my neighbour"
    assert text_of(content["old_answer"]) == "Old comment"
    assert not ErasureRecord.objects.exists()


def test_retention_blanks_only_content_older_than_the_setting(content, settings):
    settings.CXM_RETENTION_MONTHS = 6

    assert tasks.anonymise_old_content.delay().get() == 2

    assert text_of(content["old_message"]) == ""
    assert text_of(content["old_answer"]) == ""
    assert text_of(content["recent_message"]) == "A recent question"
    assert text_of(content["recent_answer"]) == "Recent comment"
    assert content["old_answer"].score == 3  # the KPIs keep their figures
    record = ErasureRecord.objects.get()
    assert record.kind == ErasureRecord.Kind.RETENTION
    assert record.counts == {"messages": 1, "answers": 1}
    assert (
        timezone.now() - timedelta(days=186) < record.cutoff < timezone.now() - timedelta(days=179)
    )


def test_retention_run_twice_changes_nothing_the_second_time(content, settings):
    settings.CXM_RETENTION_MONTHS = 6
    tasks.anonymise_old_content.delay()

    assert tasks.anonymise_old_content.delay().get() == 0

    assert ErasureRecord.objects.count() == 1
    assert text_of(content["recent_message"]) == "A recent question"


def test_a_backlog_goes_in_batches_and_a_cut_short_run_goes_on_in_a_new_one(settings, monkeypatch):
    settings.CXM_RETENTION_MONTHS = 6
    old = [message(OLD, f"Old body {n}") for n in range(5)]
    monkeypatch.setattr(services, "RETENTION_BATCH", 2)
    # No time left after the first batch: each run does one batch, then queues the next.
    monkeypatch.setattr(services, "RETENTION_BUDGET", timedelta(0))

    first_run = tasks.anonymise_old_content.delay().get()

    assert first_run == 2
    assert [text_of(row) for row in old] == [""] * 5
    assert sorted(r.counts["messages"] for r in ErasureRecord.objects.all()) == [1, 2, 2]


def test_one_run_goes_through_every_batch_while_it_has_time(settings):
    settings.CXM_RETENTION_MONTHS = 6
    for n in range(5):
        message(OLD, f"Old body {n}")

    run = services.content_anonymise_old(batch_size=2)

    assert (run.messages, run.finished) == (5, True)
    assert not Message.objects.exclude(body="").exists()


def test_the_sweep_is_scheduled_daily():
    schedule = {
        entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
    }

    assert schedule["privacy.tasks.anonymise_old_content"] == 24 * 60 * 60


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 3, 31, 8, tzinfo=UTC), 1, datetime(2026, 2, 28, 8, tzinfo=UTC)),
        (datetime(2024, 3, 31, 8, tzinfo=UTC), 1, datetime(2024, 2, 29, 8, tzinfo=UTC)),
        (datetime(2026, 1, 15, 8, tzinfo=UTC), 13, datetime(2024, 12, 15, 8, tzinfo=UTC)),
    ],
)
def test_months_are_calendar_months(moment, months, expected):
    assert services.months_before(moment, months) == expected
