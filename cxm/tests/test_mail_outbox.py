"""The local outbox backend: every email kept as one .eml file, read back intact."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings

from cxm.lib.mail import outbox_message, outbox_messages


@pytest.fixture
def outbox(tmp_path) -> Path:
    folder = tmp_path / "var" / "mail"
    with override_settings(EMAIL_BACKEND="cxm.lib.mail.OutboxBackend", EMAIL_FILE_PATH=folder):
        yield folder


def _email(subject: str = "Your order", to: str = "Lucía Pérez <lucia@example.com>"):
    email = EmailMultiAlternatives(
        subject=subject,
        body="Hola Lucía,\nyour order is on its way.",
        from_email="CXM <support@cxm.localhost>",
        to=[to],
        headers={"X-CXM-Ticket": "T-000042"},
    )
    email.attach_alternative("<p>Hola Lucía, your order is <b>on its way</b>.</p>", "text/html")
    return email


def test_each_email_becomes_one_file_in_a_folder_created_on_demand(outbox):
    assert not outbox.exists()

    sent = mail.get_connection().send_messages([_email(), _email("Second")])

    assert sent == 2
    assert len(list(outbox.glob("*.eml"))) == 2
    assert list(outbox.glob("*.tmp")) == []


def test_a_kept_email_reads_back_with_its_headers_and_both_parts(outbox):
    _email().send()

    (message,) = outbox_messages()

    assert message.subject == "Your order"
    assert message.sender == "CXM <support@cxm.localhost>"
    assert message.to == "Lucía Pérez <lucia@example.com>"
    assert message.text.strip() == "Hola Lucía,\nyour order is on its way."
    assert message.html.strip() == "<p>Hola Lucía, your order is <b>on its way</b>.</p>"
    assert message.headers["X-CXM-Ticket"] == "T-000042"
    assert message.date is not None
    assert outbox_message(message.key) == message


def test_the_outbox_lists_the_newest_first_up_to_a_limit(outbox, time_machine):
    time_machine.move_to(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), tick=False)
    for subject in ("first", "second", "third"):
        _email(subject).send()
        time_machine.shift(timedelta(seconds=1))

    assert [message.subject for message in outbox_messages()] == ["third", "second", "first"]
    assert [message.subject for message in outbox_messages(limit=2)] == ["third", "second"]
    assert outbox_messages()[0].date == datetime(2026, 11, 30, 9, 0, 2, tzinfo=UTC)


def test_an_outbox_that_was_never_written_is_empty(outbox):
    assert outbox_messages() == []


def test_a_half_written_file_is_not_listed(outbox):
    _email().send()
    (outbox / "20991231T235959000000-0123abcd.tmp").write_text("Subject: half")

    assert [message.subject for message in outbox_messages()] == ["Your order"]
    assert outbox_message("20991231T235959000000-0123abcd") is None


@pytest.mark.parametrize(
    "key",
    [
        "../secret",
        "../../secret",
        "..",
        "/var/tmp/secret",  # noqa: S108 (an absolute path is the point)
        "secret",
        "secret.eml",
        "20260101T000000000000-0123abcd/../../secret",
        "20260101T000000000000-0123ABCD",
        "\uff12\uff10\uff12\uff160101T000000000000-0123abcd",  # full-width digits
        "",
    ],
)
def test_a_malformed_key_never_reads_a_file(outbox, key):
    _email().send()
    secret = outbox.parent / "secret.eml"
    secret.write_bytes(next(outbox.glob("*.eml")).read_bytes())

    assert outbox_message(key) is None


def test_an_unknown_key_reads_nothing(outbox):
    _email().send()

    assert outbox_message("20260101T000000000000-0123abcd") is None
