"""The Celery side of the help desk: beat runs tasks that exist, and the reply task
is safe to run late, twice, or for a message that is gone."""

import pytest
from django.conf import settings
from django.core import mail
from django.utils.module_loading import import_string

from accounts.tests.factories import agent
from tickets import services, tasks
from tickets.models import Message
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_the_beat_schedule_names_tasks_that_exist(entry):
    name = settings.CELERY_BEAT_SCHEDULE[entry]["task"]

    task = import_string(name)

    assert task.name == name
    assert callable(task.delay)


def test_beat_runs_the_help_desk_sweeps_every_minute_and_every_quarter_hour():
    schedule = {
        entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }

    assert schedule["tickets.tasks.mark_sla_breaches"] == 60
    assert schedule["tickets.tasks.auto_close_solved_tickets"] == 15 * 60


def test_the_sweep_tasks_report_how_many_tickets_they_changed():
    assert tasks.mark_sla_breaches.delay().get() == 0
    assert tasks.auto_close_solved_tickets.delay().get() == 0


@pytest.fixture
def queued_reply(django_capture_on_commit_callbacks) -> Message:
    with django_capture_on_commit_callbacks(execute=False):
        return services.ticket_reply(ticket=TicketFactory(), author=agent(), body="Fixed.")


def test_the_reply_task_for_a_message_that_is_gone_does_nothing(queued_reply):
    queued_reply.ticket.delete()

    tasks.send_reply_email.delay(queued_reply.pk)

    assert mail.outbox == []


def test_the_reply_task_run_late_or_twice_sends_one_email(queued_reply):
    tasks.send_reply_email.delay(queued_reply.pk)
    tasks.send_reply_email.delay(queued_reply.pk)

    assert len(mail.outbox) == 1
    queued_reply.refresh_from_db()
    assert queued_reply.email_status == Message.EmailStatus.SENT
