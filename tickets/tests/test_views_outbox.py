"""The staff outbox page: what customers were sent, listed and shown safely."""

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings
from django.urls import reverse

from accounts.tests.factories import UserFactory, agent
from cxm import roles
from cxm.lib.mail import outbox_messages
from tickets import services
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

NASTY_HTML = (
    '<p>Hi "Lucía" &amp; co.</p><script>parent.document.title = "owned"</script>'
    "<img src=x onerror=\"alert('x')\">"
)


@pytest.fixture
def outbox(tmp_path) -> Path:
    folder = tmp_path / "mail"
    with override_settings(EMAIL_BACKEND="cxm.lib.mail.OutboxBackend", EMAIL_FILE_PATH=folder):
        yield folder


def _send(subject: str, to: str = "lucia@example.com", html: str = "<p>Hello</p>") -> str:
    """Send one email through the configured backend; returns its outbox key."""
    email = EmailMultiAlternatives(subject=subject, body="Hello in plain text", to=[to])
    email.attach_alternative(html, "text/html")
    email.send()
    return outbox_messages(limit=1)[0].key


class _Iframes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "iframe":
            self.found.append(dict(attrs))


def _iframes(html: str) -> list[dict[str, str | None]]:
    parser = _Iframes()
    parser.feed(html)
    return parser.found


def test_the_outbox_lists_sent_emails_newest_first(outbox, admin_user, client, time_machine):
    time_machine.move_to(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), tick=False)
    _send("Older message", to="old@example.com")
    time_machine.shift(timedelta(minutes=5))
    _send("Newer message", to="new@example.com")
    client.force_login(admin_user)

    response = client.get(reverse("desk:outbox"))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("Newer message") < page.index("Older message")
    assert "new@example.com" in page and "old@example.com" in page
    for message in outbox_messages():
        assert reverse("desk:outbox_detail", args=[message.key]) in page
    # Sent at 9:05 UTC, shown in the site's time zone (Madrid, UTC+1 in November).
    assert 'datetime="2026-11-30T10:05:00+01:00"' in page


def test_an_empty_outbox_says_so(outbox, admin_user, client):
    client.force_login(admin_user)

    response = client.get(reverse("desk:outbox"))

    assert response.status_code == 200
    assert "No emails have been sent yet." in response.content.decode()


def test_a_customer_reply_appears_in_the_outbox_as_the_customer_gets_it(
    outbox, admin_user, client, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(subject="Broken zip")
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_reply(ticket=ticket, author=agent(), body="A new one is on its way.")
    (message,) = outbox_messages()
    client.force_login(admin_user)

    response = client.get(reverse("desk:outbox_detail", args=[message.key]))

    page = response.content.decode()
    assert ticket.reference in page
    assert ticket.customer.email in page
    assert "A new one is on its way." in page
    (iframe,) = _iframes(page)
    assert "A new one is on its way." in iframe["srcdoc"]


def test_the_message_page_shows_headers_text_and_the_html_in_a_sandbox(outbox, admin_user, client):
    key = _send('Your "order" <update>', html=NASTY_HTML)
    client.force_login(admin_user)

    response = client.get(reverse("desk:outbox_detail", args=[key]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Your &quot;order&quot; &lt;update&gt;" in page
    assert "lucia@example.com" in page
    assert "Hello in plain text" in page
    (iframe,) = _iframes(page)
    # An empty sandbox attribute: no scripts, no same origin, no forms, no top navigation.
    assert iframe["sandbox"] in ("", None)
    assert iframe["srcdoc"] == NASTY_HTML  # the browser gets it back exactly, as a document
    # ...and nothing of it is markup in our own page.
    assert "<script>parent" not in page
    assert "<img src=x" not in page


def test_links_in_the_text_part_can_be_followed_but_scripts_cannot(outbox, admin_user, client):
    EmailMultiAlternatives(
        subject="Survey",
        body="Rate us: https://cxm.example/s/abc123/?score=9\nNot this: javascript:alert(1)",
        to=["a@b.example"],
    ).send()
    (message,) = outbox_messages()
    client.force_login(admin_user)

    page = client.get(reverse("desk:outbox_detail", args=[message.key])).content.decode()

    assert 'href="https://cxm.example/s/abc123/?score=9"' in page
    assert 'href="javascript:' not in page


def test_an_email_without_html_shows_its_text_and_no_frame(outbox, admin_user, client):
    EmailMultiAlternatives(subject="Plain only", body="<b>just text</b>", to=["a@b.example"]).send()
    (message,) = outbox_messages()
    client.force_login(admin_user)

    page = client.get(reverse("desk:outbox_detail", args=[message.key])).content.decode()

    assert _iframes(page) == []
    assert "&lt;b&gt;just text&lt;/b&gt;" in page


def test_the_page_says_when_mail_goes_out_through_smtp_instead(admin_user, client):
    client.force_login(admin_user)
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend"):
        page = client.get(reverse("desk:outbox")).content.decode()

    assert "SMTP" in page


def _user(kind: str):
    if kind == "staff":
        return UserFactory(username="staffer", is_staff=True)
    if kind == "admin_role":
        user = UserFactory(username="admin_role", is_staff=False)
        user.groups.add(Group.objects.get(name=roles.ADMIN))
        return user
    return UserFactory(username=kind, role=kind.capitalize())


@pytest.mark.parametrize("kind", ["staff", "admin_role"])
def test_staff_and_admins_may_read_the_outbox(outbox, client, kind):
    key = _send("Hello")
    client.force_login(_user(kind))

    assert client.get(reverse("desk:outbox")).status_code == 200
    assert client.get(reverse("desk:outbox_detail", args=[key])).status_code == 200


@pytest.mark.parametrize("kind", ["agent", "manager"])
def test_agents_and_managers_may_not_read_the_outbox(outbox, client, kind):
    key = _send("Hello")
    client.force_login(_user(kind))

    assert client.get(reverse("desk:outbox")).status_code == 403
    assert client.get(reverse("desk:outbox_detail", args=[key])).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(outbox, client):
    key = _send("Hello")

    for url in (reverse("desk:outbox"), reverse("desk:outbox_detail", args=[key])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_the_outbox_is_read_only(outbox, admin_user, client):
    key = _send("Hello")
    client.force_login(admin_user)

    assert client.post(reverse("desk:outbox")).status_code == 405
    assert client.post(reverse("desk:outbox_detail", args=[key])).status_code == 405
    assert len(outbox_messages()) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/desk/outbox/20260101T000000000000-0123abcd/",  # well formed, no such message
        "/desk/outbox/nope/",
        "/desk/outbox/../secret/",
        "/desk/outbox/..%2Fsecret/",
        "/desk/outbox/..%2F..%2Fsecret/",
        "/desk/outbox/%2Ftmp%2Fsecret/",
        "/desk/outbox/..%5Csecret/",
        "/desk/outbox/secret.eml/",
        "/desk/outbox/../../secret/",
    ],
)
def test_unknown_or_malformed_keys_are_not_found(outbox, admin_user, client, path):
    _send("Hello")
    # A message just outside the outbox that a path trick would reach.
    (outbox.parent / "secret.eml").write_bytes((outbox / f"{_send('Secret')}.eml").read_bytes())
    client.force_login(admin_user)

    response = client.get(path)

    assert response.status_code == 404
    assert b"Secret" not in response.content
