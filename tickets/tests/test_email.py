"""Replies reach customers by email: once, after commit, in their language, and a
failure is retried and then shown on the ticket.

The delivery tests talk to a real SMTP server (aiosmtpd on a free local port) through
Django's SMTP backend; tasks run eagerly, as the test settings say."""

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from celery import signals as celery_signals
from django.core import mail
from django.test import override_settings
from django.utils import translation
from django.utils.translation import gettext

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from cxm.lib.exceptions import ApplicationError
from tickets import services, tasks
from tickets.models import Message, Ticket, TicketEvent
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

EmailStatus = Message.EmailStatus
SIGNATURE = "Your request %(reference)s. Reply to this email to add to it."


# --- A real SMTP server ------------------------------------------------------------------


@dataclass
class SMTPRecorder:
    """An aiosmtpd handler that keeps what it receives; it can turn the first
    `refuse` deliveries away with a temporary error, as a busy server does."""

    received: list = field(default_factory=list)
    refuse: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.received.append(envelope)
        return "250 2.0.0 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            for envelope in self.received
        ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _smtp_settings(port: int) -> override_settings:
    return override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        EMAIL_TIMEOUT=5,
    )


@pytest.fixture
def smtp_server() -> Iterator[SMTPRecorder]:
    recorder = SMTPRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        with _smtp_settings(controller.port):
            yield recorder
    finally:
        controller.stop()


@pytest.fixture
def dead_smtp_server() -> Iterator[None]:
    """Settings pointing at a local port nobody listens on."""
    with _smtp_settings(_free_port()):
        yield


@pytest.fixture
def retry_countdowns() -> Iterator[list[float]]:
    """The countdown of every retry, as a worker would schedule them.

    The test settings run tasks eagerly and propagate their exceptions; Celery's
    eager mode then raises Retry at the caller instead of running the retry, so
    propagation is off here and the retries run in place, one after another."""
    conf = tasks.send_reply_email.app.conf
    propagates = conf.task_eager_propagates
    conf.task_eager_propagates = False
    countdowns: list[float] = []

    def on_retry(sender, request, reason, **kwargs):
        countdowns.append(reason.when)

    celery_signals.task_retry.connect(on_retry, weak=False)
    yield countdowns
    celery_signals.task_retry.disconnect(on_retry)
    conf.task_eager_propagates = propagates


# --- Helpers -----------------------------------------------------------------------------


@pytest.fixture
def ana():
    return agent(username="ana", first_name="Ana", last_name="García")


def _ticket(**customer) -> Ticket:
    defaults = {"name": "Lucía Pérez", "email": "lucia@example.com", "language": "es"}
    return TicketFactory(customer=CustomerFactory(**{**defaults, **customer}), subject="Broken zip")


def _reply(ticket: Ticket, author, capture, body: str = "We have sent a new one.") -> Message:
    with capture(execute=True):
        message = services.ticket_reply(ticket=ticket, author=author, body=body)
    message.refresh_from_db()
    return message


def _parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


# --- What is sent ------------------------------------------------------------------------


def test_a_public_reply_is_emailed_once_after_commit_through_smtp(
    smtp_server, ana, django_capture_on_commit_callbacks
):
    ticket = _ticket()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = services.ticket_reply(ticket=ticket, author=ana, body="We have sent a new one.")
        assert smtp_server.received == []  # nothing leaves inside the transaction
    assert len(callbacks) == 1

    message.refresh_from_db()
    assert (message.email_status, message.email_attempts) == (EmailStatus.SENT, 1)
    assert message.emailed_at is not None
    assert message.email_error == ""
    (envelope,) = smtp_server.received
    assert envelope.rcpt_tos == ["lucia@example.com"]
    (sent,) = smtp_server.messages()
    assert sent["Subject"].startswith(f"[{ticket.reference}] ")
    assert "Broken zip" in sent["Subject"]
    assert sent["X-CXM-Ticket"] == ticket.reference
    assert sent["To"].addresses[0].addr_spec == "lucia@example.com"
    parts = _parts(sent)
    assert set(parts) == {"text/plain", "text/html"}
    assert "We have sent a new one." in parts["text/plain"]
    assert "We have sent a new one." in parts["text/html"]
    assert "Ana García" in parts["text/plain"]


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_email_is_in_the_customers_language_whatever_the_agents(
    language, ana, django_capture_on_commit_callbacks
):
    ticket = _ticket(language=language)
    other = "en" if language == "es" else "es"

    with translation.override(other):
        _reply(ticket, ana, django_capture_on_commit_callbacks)

    (sent,) = mail.outbox
    with translation.override(language):
        expected = gettext(SIGNATURE) % {"reference": ticket.reference}
    with translation.override(other):
        not_expected = gettext(SIGNATURE) % {"reference": ticket.reference}
    assert expected != not_expected, "the es catalog lacks the reply email's strings"
    assert expected in sent.body
    assert expected in sent.alternatives[0].content
    assert not_expected not in sent.body
    assert f'lang="{language}"' in sent.alternatives[0].content


def test_markup_in_a_reply_is_escaped_in_the_html_part_and_kept_in_the_text_part(
    ana, django_capture_on_commit_callbacks
):
    ticket = _ticket()

    _reply(ticket, ana, django_capture_on_commit_callbacks, body='<img src=x onerror="alert(1)">')

    (sent,) = mail.outbox
    assert '<img src=x onerror="alert(1)">' in sent.body
    html = sent.alternatives[0].content
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_an_internal_note_never_leaves(ana, django_capture_on_commit_callbacks):
    ticket = _ticket()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        note = services.ticket_add_note(ticket=ticket, author=ana, body="Customer is rude.")

    assert callbacks == []
    assert mail.outbox == []
    note.refresh_from_db()
    assert note.email_status == EmailStatus.NONE


def test_a_customer_without_an_email_address_gets_nothing(ana, django_capture_on_commit_callbacks):
    ticket = _ticket(email="")

    message = _reply(ticket, ana, django_capture_on_commit_callbacks)

    assert mail.outbox == []
    assert message.email_status == EmailStatus.NONE


def test_line_breaks_in_the_subject_or_the_name_never_reach_the_headers(
    smtp_server, ana, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(
        customer=CustomerFactory(
            name="Lucía\r\nBcc: spy@evil.example", email="lucia@example.com", language="en"
        ),
        subject="Refund\r\nBcc: spy2@evil.example\nX-Injected: yes",
    )

    message = _reply(ticket, ana, django_capture_on_commit_callbacks)

    assert message.email_status == EmailStatus.SENT
    (envelope,) = smtp_server.received
    assert envelope.rcpt_tos == ["lucia@example.com"]
    (sent,) = smtp_server.messages()
    assert sent["Bcc"] is None
    assert sent["X-Injected"] is None
    assert "\n" not in sent["Subject"] and "\r" not in sent["Subject"]
    assert "Refund Bcc: spy2@evil.example X-Injected: yes" in sent["Subject"]
    assert [address.addr_spec for address in sent["To"].addresses] == ["lucia@example.com"]


# --- Once, and only once -----------------------------------------------------------------


def test_sending_the_same_reply_twice_emails_it_once(ana, django_capture_on_commit_callbacks):
    ticket = _ticket()
    with django_capture_on_commit_callbacks(execute=False):
        message = services.ticket_reply(ticket=ticket, author=ana, body="Done.")

    assert services.message_send_email(message_id=message.pk) is True
    assert services.message_send_email(message_id=message.pk) is False
    tasks.send_reply_email.delay(message.pk)

    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert (message.email_status, message.email_attempts) == (EmailStatus.SENT, 1)


def test_a_note_or_a_customers_message_cannot_be_sent_by_the_task(ana):
    ticket = _ticket()
    note = services.ticket_add_note(ticket=ticket, author=ana, body="Internal.")
    incoming = services.ticket_customer_reply(ticket=ticket, body="Hello?")

    for message in (note, incoming):
        assert services.message_send_email(message_id=message.pk) is False
    assert mail.outbox == []


# --- Failures ----------------------------------------------------------------------------


def test_an_unreachable_server_is_retried_with_backoff_then_the_reply_is_marked_failed(
    dead_smtp_server, ana, retry_countdowns, django_capture_on_commit_callbacks
):
    ticket = _ticket()

    message = _reply(ticket, ana, django_capture_on_commit_callbacks)

    assert retry_countdowns == [30, 60, 120, 240, 480]
    assert message.email_status == EmailStatus.FAILED
    assert message.email_attempts == tasks.EMAIL_RETRIES + 1
    assert "refused" in message.email_error.lower()
    event = ticket.events.get(kind=TicketEvent.Kind.EMAIL_FAILED)
    assert "refused" in event.to_value.lower()
    # The reply itself stays on the ticket; only its email failed.
    assert ticket.messages.filter(pk=message.pk, kind=Message.Kind.REPLY).exists()


def test_a_server_that_refuses_for_a_while_gets_the_email_on_a_retry(
    smtp_server, ana, retry_countdowns, django_capture_on_commit_callbacks
):
    smtp_server.refuse = 2
    ticket = _ticket()

    message = _reply(ticket, ana, django_capture_on_commit_callbacks)

    assert retry_countdowns == [30, 60]
    assert (message.email_status, message.email_attempts) == (EmailStatus.SENT, 3)
    assert message.email_error == ""
    assert len(smtp_server.received) == 1
    assert not ticket.events.filter(kind=TicketEvent.Kind.EMAIL_FAILED).exists()


def test_the_backoff_grows_and_stays_under_a_quarter_of_an_hour():
    delays = [tasks._backoff(retry) for retry in range(10)]

    assert delays == sorted(delays)
    assert max(delays) == 15 * 60


def test_a_failed_reply_can_be_sent_again(
    ana, retry_countdowns, django_capture_on_commit_callbacks
):
    ticket = _ticket()
    with _smtp_settings(_free_port()):
        message = _reply(ticket, ana, django_capture_on_commit_callbacks)
    assert message.email_status == EmailStatus.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        services.message_email_retry(message=message, actor=ana)

    message.refresh_from_db()
    assert message.email_status == EmailStatus.SENT
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("status", [EmailStatus.SENT, EmailStatus.QUEUED, EmailStatus.NONE])
def test_only_a_failed_reply_can_be_sent_again(ana, status):
    ticket = _ticket()
    message = Message.objects.create(
        ticket=ticket, author_agent=ana, body="Hi", email_status=status
    )

    with pytest.raises(ApplicationError):
        services.message_email_retry(message=message, actor=ana)

    message.refresh_from_db()
    assert message.email_status == status
