"""Sending the outbox: only due invitations, each claimed before it is emailed and sent
once; SMTP failures retried with backoff and kept when they give up; stale claims
released; unsent invitations expire; one reminder to non-responders when asked for."""

import smtplib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.test import override_settings

from customers.tests.factories import CustomerFactory
from surveys import services, tasks
from surveys.models import Invitation, Question, Response, Survey
from surveys.services.dispatch import MAX_ATTEMPTS, STALE_CLAIM

pytestmark = pytest.mark.django_db

Status = Invitation.Status
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def survey() -> Survey:
    survey = Survey.objects.create(name="NPS after support", is_active=True)
    Question.objects.create(
        survey=survey,
        type=Question.Type.NPS,
        position=1,
        text_en="How likely are you to recommend us?",
        text_es="¿Nos recomendarías?",
    )
    Question.objects.create(
        survey=survey,
        type=Question.Type.TEXT,
        position=2,
        required=False,
        text_en="Why?",
        text_es="¿Por qué?",
    )
    return survey


def invite(survey: Survey, *, send_after: datetime = NOW, **fields) -> Invitation:
    customer = fields.pop("customer", None) or CustomerFactory()
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        language=customer.language,
        send_after=send_after,
        expires_at=fields.pop("expires_at", send_after + timedelta(days=14)),
        **fields,
    )


def reload(invitation: Invitation) -> Invitation:
    invitation.refresh_from_db()
    return invitation


class RefusingBackend(EmailBackend):
    """An SMTP server that refuses mail to addresses containing "refused"."""

    def send_messages(self, messages):
        if any("refused" in address for message in messages for address in message.to):
            raise smtplib.SMTPRecipientsRefused({"refused@example.com": (550, b"No such user")})
        return super().send_messages(messages)


class DownBackend(EmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


# --- what goes out, and when ---


def test_only_due_invitations_are_sent(survey):
    due = invite(survey, send_after=NOW - timedelta(minutes=1))
    later = invite(survey, send_after=NOW + timedelta(minutes=1))

    sent = services.invitations_dispatch_due()

    assert sent == 1
    assert [message.extra_headers["X-CXM-Invitation"] for message in mail.outbox] == [str(due.pk)]
    assert reload(due).status == Status.SENT
    assert reload(due).sent_at == NOW
    assert reload(due).attempts == 1
    assert reload(later).status == Status.SCHEDULED


def test_dispatching_twice_sends_each_invitation_once(survey):
    invitations = [invite(survey) for _ in range(3)]

    services.invitations_dispatch_due()
    services.invitations_dispatch_due()

    assert len(mail.outbox) == 3
    assert {reload(i).status for i in invitations} == {Status.SENT}


def test_an_invitation_another_worker_has_claimed_is_left_alone(survey):
    claimed = invite(survey, status=Status.SENDING, claimed_at=NOW - timedelta(minutes=2))

    assert services.invitations_dispatch_due() == 0

    assert mail.outbox == []
    assert reload(claimed).status == Status.SENDING


def test_cancelled_skipped_and_failed_invitations_are_never_sent(survey):
    invite(survey, status=Status.CANCELLED)
    invite(survey, status=Status.SKIPPED, skip_reason=Invitation.SkipReason.FATIGUE)
    invite(survey, status=Status.FAILED)

    assert services.invitations_dispatch_due() == 0
    assert mail.outbox == []


def test_more_invitations_than_one_batch_all_go_out(survey):
    invitations = [invite(survey) for _ in range(7)]

    assert services.invitations_dispatch_due(limit=3) == 7

    assert {reload(i).status for i in invitations} == {Status.SENT}
    assert len(mail.outbox) == 7


def test_a_run_out_of_time_claims_nothing_more_and_leaves_the_rest_to_the_next_sweep(survey):
    waiting = invite(survey)

    assert services.invitations_dispatch_due(budget=timedelta(0)) == 0

    assert (reload(waiting).status, reload(waiting).attempts) == (Status.SCHEDULED, 0)
    assert services.invitations_dispatch_due() == 1


def test_the_dispatch_task_sends_the_due_invitations(survey):
    invite(survey)

    assert tasks.dispatch_due_invitations.delay().get() == 1
    assert len(mail.outbox) == 1


def test_beat_sweeps_the_outbox_every_minute_and_sends_reminders_hourly():
    schedule = {
        entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }

    assert schedule["surveys.tasks.dispatch_due_invitations"] == 60
    assert schedule["surveys.tasks.send_survey_reminders"] == 60 * 60
    assert "surveys.tasks.run_due_campaigns" in schedule


# --- the email ---


def links(body: str) -> list[str]:
    return [word for word in body.split() if word.startswith("http")]


def test_the_email_carries_the_first_question_with_one_link_per_score(survey):
    invitation = invite(survey, customer=CustomerFactory(language="en", email="ana@example.com"))

    services.invitations_dispatch_due()

    [email] = mail.outbox
    assert email.to[0].endswith("<ana@example.com>")
    assert "How likely are you to recommend us?" in email.body
    score_links = [link for link in links(email.body) if "score=" in link]
    assert [parse_qs(urlparse(link).query)["score"] for link in score_links] == [
        [str(score)] for score in range(11)
    ]
    assert {urlparse(link).path for link in score_links} == {f"/s/{invitation.token}/"}
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert html.count("?score=") == 11
    assert settings.CXM_COMPANY_NAME in email.body


def test_a_csat_email_has_five_links(survey):
    survey.questions.update(type=Question.Type.CSAT)
    survey.questions.filter(position=2).update(type=Question.Type.TEXT)
    invite(survey)

    services.invitations_dispatch_due()

    assert len([link for link in links(mail.outbox[0].body) if "score=" in link]) == 5


def test_the_email_speaks_the_customers_language(survey):
    invite(survey, customer=CustomerFactory(language="es"))

    services.invitations_dispatch_due()

    assert "¿Nos recomendarías?" in mail.outbox[0].body
    assert "How likely" not in mail.outbox[0].body


def test_the_email_has_a_list_unsubscribe_header_and_a_visible_unsubscribe_link(survey):
    invitation = invite(survey)

    services.invitations_dispatch_due()

    [email] = mail.outbox
    unsubscribe = f"{settings.CXM_BASE_URL}/s/{invitation.token}/unsubscribe/"
    assert email.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in email.body
    assert unsubscribe in email.alternatives[0][0]


def test_the_link_carries_the_random_token_never_the_customers_id(survey):
    invitation = invite(survey)

    services.invitations_dispatch_due()

    assert len(invitation.token) >= 43  # 256 bits, URL-safe base64
    path = urlparse(links(mail.outbox[0].body)[0]).path
    assert path == f"/s/{invitation.token}/"
    assert str(invitation.customer.pk) not in path.split("/")


# --- failures ---


@override_settings(EMAIL_BACKEND="surveys.tests.test_dispatch.RefusingBackend")
def test_a_refused_address_does_not_stop_the_others(survey):
    refused = invite(survey, customer=CustomerFactory(email="refused@example.com"))
    fine = invite(survey)

    assert services.invitations_dispatch_due() == 1

    assert reload(fine).status == Status.SENT
    refused = reload(refused)
    assert refused.status == Status.SCHEDULED
    assert "SMTPRecipientsRefused" in refused.last_error
    assert refused.send_after == NOW + timedelta(minutes=1)


@override_settings(EMAIL_BACKEND="surveys.tests.test_dispatch.DownBackend")
def test_smtp_failures_retry_with_growing_backoff_then_fail_with_the_error(survey, time_machine):
    invitation = invite(survey)
    attempted_at, waits = NOW, []

    for attempt in range(1, MAX_ATTEMPTS):
        assert services.invitations_dispatch_due() == 0
        invitation = reload(invitation)
        assert (invitation.status, invitation.attempts) == (Status.SCHEDULED, attempt)
        waits.append(invitation.send_after - attempted_at)
        time_machine.move_to(invitation.send_after - timedelta(seconds=1), tick=False)
        services.invitations_dispatch_due()  # not due yet: no attempt
        assert reload(invitation).attempts == attempt
        attempted_at = invitation.send_after
        time_machine.move_to(attempted_at, tick=False)
    services.invitations_dispatch_due()

    invitation = reload(invitation)
    assert waits == [timedelta(minutes=minutes) for minutes in (1, 2, 4, 8)]
    assert invitation.status == Status.FAILED
    assert invitation.attempts == MAX_ATTEMPTS
    assert invitation.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    time_machine.shift(timedelta(days=1))
    assert services.invitations_dispatch_due() == 0
    assert reload(invitation).status == Status.FAILED


@override_settings(EMAIL_BACKEND="surveys.tests.test_dispatch.DownBackend")
def test_a_failed_invitation_can_be_sent_again_by_an_admin(survey, time_machine):
    invitation = invite(survey, status=Status.FAILED, attempts=MAX_ATTEMPTS, last_error="boom")

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        services.invitation_resend(invitation=invitation)
        services.invitations_dispatch_due()

    invitation = reload(invitation)
    assert invitation.status == Status.SENT
    assert invitation.attempts == 1
    assert invitation.last_error == ""


# --- stale claims and expiry ---


def test_a_claim_abandoned_by_a_dead_worker_is_released_and_sent(survey):
    abandoned = invite(survey, status=Status.SENDING, claimed_at=NOW - STALE_CLAIM - timedelta(1))
    recent = invite(survey, status=Status.SENDING, claimed_at=NOW - STALE_CLAIM + timedelta(1))

    assert services.invitations_dispatch_due() == 1

    assert reload(abandoned).status == Status.SENT
    assert reload(recent).status == Status.SENDING
    assert len(mail.outbox) == 1


def test_an_invitation_not_sent_before_it_expired_is_skipped_as_expired(survey):
    expired = invite(
        survey, send_after=NOW - timedelta(days=15), expires_at=NOW - timedelta(days=1)
    )

    assert services.invitations_dispatch_due() == 0

    expired = reload(expired)
    assert expired.status == Status.SKIPPED
    assert expired.skip_reason == Invitation.SkipReason.EXPIRED
    assert mail.outbox == []


# --- reminders ---


def sent(survey: Survey, *, days_ago: float, **fields) -> Invitation:
    at = NOW - timedelta(days=days_ago)
    return invite(survey, status=Status.SENT, send_after=at, sent_at=at, attempts=1, **fields)


def test_no_reminders_unless_the_survey_asks_for_them(survey):
    sent(survey, days_ago=10)

    assert services.invitations_send_reminders() == 0
    assert mail.outbox == []


def test_one_reminder_goes_to_non_responders_after_the_configured_days(survey, time_machine):
    survey.reminder_after_days = 3
    survey.save()
    waiting = sent(survey, days_ago=3, customer=CustomerFactory(language="en"))
    answered = sent(survey, days_ago=3)
    Response.objects.create(invitation=answered, survey=survey, customer=answered.customer)
    too_soon = sent(survey, days_ago=2)

    assert services.invitations_send_reminders() == 1

    [reminder] = mail.outbox
    assert reminder.extra_headers["X-CXM-Invitation"] == str(waiting.pk)
    assert "Reminder" in reminder.subject
    assert reload(waiting).reminder_sent_at == NOW
    assert reload(too_soon).reminder_sent_at is None

    time_machine.shift(timedelta(days=5))
    assert services.invitations_send_reminders() == 1  # too_soon's turn; waiting had its one
    assert len(mail.outbox) == 2
    assert mail.outbox[1].extra_headers["X-CXM-Invitation"] == str(too_soon.pk)


def test_no_reminder_to_an_unsubscribed_customer_or_for_an_expired_survey(survey):
    survey.reminder_after_days = 1
    survey.save()
    sent(survey, days_ago=2, customer=CustomerFactory(survey_opt_out=True))
    sent(survey, days_ago=20, expires_at=NOW - timedelta(days=6))

    assert services.invitations_send_reminders() == 0
    assert mail.outbox == []


@override_settings(EMAIL_BACKEND="surveys.tests.test_dispatch.DownBackend")
def test_a_reminder_that_could_not_be_sent_is_tried_again_later(survey):
    survey.reminder_after_days = 1
    survey.save()
    waiting = sent(survey, days_ago=2)

    assert services.invitations_send_reminders() == 0

    assert reload(waiting).reminder_sent_at is None
