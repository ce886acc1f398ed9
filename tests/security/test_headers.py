"""Header injection: line breaks in a ticket's subject, a customer's (or an admin's)
name and a survey's title never reach an email's headers. Each email is built by the
path that really sends it (the reply task, the invitation dispatch, the builder's test
email) and must carry exactly the headers the same email without the attack carries."""

from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.mail import BadHeaderError
from django.utils import timezone

from accounts.tests.factories import admin, agent
from customers.tests.factories import CustomerFactory
from surveys.models import Invitation, Question, Survey
from surveys.services.config import survey_send_test
from surveys.services.dispatch import invitation_email, invitations_dispatch_due
from tickets.models import Message
from tickets.services.lifecycle import ticket_create, ticket_reply

pytestmark = pytest.mark.django_db

# Every way to end a line that some mail software honours.
BREAKS = {
    "crlf": "\r\n",
    "lf": "\n",
    "cr": "\r",
    "nel": "\x85",
    "line-separator": "\u2028",
    "vertical-tab": "\x0b",
    "form-feed": "\x0c",
}
ADDRESS = "lucia@example.com"


def envelope(message) -> list[str]:
    """The addresses the SMTP server is asked to deliver to (RCPT TO)."""
    return [parseaddr(recipient)[1] for recipient in message.recipients()]


def hostile(text: str, line_break: str) -> str:
    return (
        f"{text}{line_break}Bcc: spy@evil.example{line_break}X-Injected: yes"
        f"{line_break}{line_break}<h1>body</h1>"
    )


def header_block(message) -> tuple[dict[str, str], list[str]]:
    """The headers as a reader of the sent bytes sees them, and the raw header lines."""
    raw = message.message().as_bytes()
    parsed = message_from_bytes(raw, policy=email_policy.default)
    lines = raw.split(b"\n\n", 1)[0].decode("ascii").split("\n")
    return {name: str(value) for name, value in parsed.items()}, lines


def assert_same_headers(attacked, plain) -> dict[str, str]:
    headers, lines = header_block(attacked)
    plain_headers, _lines = header_block(plain)
    assert sorted(headers) == sorted(plain_headers)  # nothing added, nothing lost
    for name, value in headers.items():
        assert "\r" not in value and "\n" not in value, name
    for line in lines:
        # A header line, or the continuation of a folded one: never a header of its own.
        assert line[:1] in (" ", "\t") or line.split(":", 1)[0] in plain_headers, line
    [to] = message_from_bytes(attacked.message().as_bytes(), policy=email_policy.default)[
        "To"
    ].addresses
    assert to.addr_spec == ADDRESS
    return headers


def reply_sent(*, subject: str, name: str, capture) -> object:
    """A ticket's reply, emailed by the task that sends replies (run after commit)."""
    customer = CustomerFactory(name=name, email=ADDRESS, language="en")
    ticket = ticket_create(customer=customer, subject=subject)
    before = len(mail.outbox)
    with capture(execute=True):
        message = ticket_reply(ticket=ticket, author=agent(username="ana"), body="Done.")
    message.refresh_from_db()
    assert message.email_status == Message.EmailStatus.SENT
    assert len(mail.outbox) == before + 1
    return mail.outbox[-1]


def invitation_sent(*, subject: str, name: str, survey_name: str) -> object:
    """A survey invitation, emailed by the dispatch that the beat sweep runs."""
    customer = CustomerFactory(name=name, email=ADDRESS, language="en")
    ticket = ticket_create(customer=customer, subject=subject)
    survey = Survey.objects.create(name=survey_name, is_active=True)
    Question.objects.create(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Nos recomiendas?"
    )
    now = timezone.now()
    Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        language="en",
        send_after=now - timedelta(minutes=1),
        expires_at=now + timedelta(days=14),
    )
    before = len(mail.outbox)
    assert invitations_dispatch_due() == 1
    assert len(mail.outbox) == before + 1
    return mail.outbox[-1]


@pytest.mark.parametrize("line_break", BREAKS.values(), ids=BREAKS.keys())
def test_a_reply_email_keeps_its_headers_whatever_the_subject_and_name_hold(
    line_break, django_capture_on_commit_callbacks
):
    plain = reply_sent(subject="Refund", name="Lucía", capture=django_capture_on_commit_callbacks)
    attacked = reply_sent(
        subject=hostile("Refund", line_break),
        name=hostile("Lucía", line_break),
        capture=django_capture_on_commit_callbacks,
    )

    headers = assert_same_headers(attacked, plain)
    assert "Refund Bcc: spy@evil.example X-Injected: yes <h1>body</h1>" in headers["Subject"]
    assert envelope(attacked) == [ADDRESS]


@pytest.mark.parametrize("line_break", BREAKS.values(), ids=BREAKS.keys())
def test_a_survey_invitation_keeps_its_headers_whatever_the_subject_name_and_title_hold(
    line_break,
):
    plain = invitation_sent(subject="Refund", name="Lucía", survey_name="After the ticket")
    attacked = invitation_sent(
        subject=hostile("Refund", line_break),
        name=hostile("Lucía", line_break),
        survey_name=hostile("After the ticket", line_break),
    )

    assert_same_headers(attacked, plain)
    assert envelope(attacked) == [ADDRESS]


def test_a_reminder_keeps_its_headers_too():
    plain = invitation_sent(subject="Refund", name="Lucía", survey_name="Plain")
    attacked = invitation_sent(
        subject=hostile("Refund", "\r\n"),
        name=hostile("Lucía", "\r\n"),
        survey_name=hostile("Attacked", "\r\n"),
    )
    [plain_invitation, attacked_invitation] = Invitation.objects.order_by("pk")

    assert_same_headers(
        invitation_email(attacked_invitation, reminder=True),
        invitation_email(plain_invitation, reminder=True),
    )
    assert envelope(attacked) == envelope(plain) == [ADDRESS]


def test_the_company_name_cannot_add_headers_to_a_survey_email(settings):
    plain = invitation_sent(subject="Refund", name="Lucía", survey_name="Plain")
    settings.CXM_COMPANY_NAME = hostile("Tiendas Sol", "\r\n")
    attacked = invitation_sent(subject="Refund", name="Lucía", survey_name="Attacked")

    headers = assert_same_headers(attacked, plain)
    assert "Tiendas Sol Bcc: spy@evil.example" in headers["Subject"]


def test_the_builders_test_email_keeps_its_headers_whatever_the_admins_name_holds():
    survey = Survey.objects.create(name=hostile("Survey", "\n"))
    Question.objects.create(
        survey=survey, type=Question.Type.CSAT, text_en="Happy?", text_es="¿Contento?"
    )
    plain_admin = admin(username="plain", first_name="Marta", email=ADDRESS)
    attacked_admin = admin(
        username="attacked", first_name=hostile("Marta", "\r\n"), last_name="\n", email=ADDRESS
    )

    for actor in (plain_admin, attacked_admin):
        survey_send_test(
            survey=survey, actor=actor, language="en", preview_url="http://testserver/p/"
        )

    plain, attacked = mail.outbox
    assert_same_headers(attacked, plain)


def test_a_subject_reads_as_written_not_html_escaped(django_capture_on_commit_callbacks, settings):
    """Subjects are plain text: no &amp; or &lt; where the customer wrote & or <."""
    settings.CXM_COMPANY_NAME = "Smith & Sons"
    reply = reply_sent(
        subject="Q&A: <urgent> 'today'",
        name="Lucía",
        capture=django_capture_on_commit_callbacks,
    )
    invitation = invitation_sent(subject="Q&A", name="Lucía", survey_name="After")

    assert reply.subject.endswith("Re: Q&A: <urgent> 'today'")
    assert invitation.subject.endswith("(Smith & Sons)")


def test_an_address_with_a_line_break_is_refused_not_turned_into_a_header():
    """Addresses are validated on the way in; one that got past (written to the database
    directly) makes the send fail with the reason kept, and adds no recipient."""
    customer = CustomerFactory(name="Lucía", email="lucia@example.com\r\nBcc: spy@evil.example")
    survey = Survey.objects.create(name="After", is_active=True)
    Question.objects.create(survey=survey, type=Question.Type.NPS, text_en="?", text_es="?")
    now = timezone.now()
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        language="en",
        send_after=now - timedelta(minutes=1),
        expires_at=now + timedelta(days=14),
    )

    with pytest.raises(BadHeaderError):
        invitation_email(invitation).message()
    assert invitations_dispatch_due() == 0
    assert mail.outbox == []
    invitation.refresh_from_db()
    assert "BadHeaderError" in invitation.last_error
