"""The local outbox: an email backend that keeps each message as an .eml file.

Used when no SMTP server is configured, so a newcomer can see every email the
product sends (survey invitations, replies to customers) on the outbox page.
"""

import email
import email.policy
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formataddr, parsedate_to_datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

# The names OutboxBackend gives its files: a UTC timestamp and a random suffix. A key
# is only ever looked up if it has exactly this shape, so it cannot name another file.
_KEY_RE = re.compile(r"[0-9]{8}T[0-9]{12}-[0-9a-f]{8}")


def one_line(text: str) -> str:
    """A header value: never CR/LF (header injection), runs of spaces folded."""
    return " ".join(str(text).split())


def recipient(name: str, address: str) -> str:
    """'Name <address>' with the name made safe for a header."""
    return formataddr((one_line(name), address))


def outbox_dir() -> Path:
    return Path(settings.EMAIL_FILE_PATH)


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = outbox_dir()
        folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(message.message().as_bytes(linesep="\n"))
            temporary.rename(path)  # the page never sees a half-written file
            sent += 1
        return sent


@dataclass(frozen=True)
class OutboxMessage:
    key: str
    subject: str
    sender: str
    to: str
    date: datetime | None
    text: str
    html: str
    headers: dict[str, str]


def _read(path: Path) -> OutboxMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    try:
        date = parsedate_to_datetime(parsed["Date"]) if parsed["Date"] else None
    except (TypeError, ValueError):
        date = None
    if date is not None and timezone.is_naive(date):
        # Django dates its emails in UTC written as "-0000", which Python reads as naive.
        date = timezone.make_aware(date, UTC)
    return OutboxMessage(
        key=path.stem,
        subject=str(parsed["Subject"] or ""),
        sender=str(parsed["From"] or ""),
        to=str(parsed["To"] or ""),
        date=date,
        text=text_part.get_content() if text_part else "",
        html=html_part.get_content() if html_part else "",
        headers={key: str(value) for key, value in parsed.items()},
    )


def outbox_messages(limit: int = 200) -> list[OutboxMessage]:
    """The newest messages first."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.eml"), reverse=True)[:limit]
    return [_read(path) for path in paths]


def outbox_message(key: str) -> OutboxMessage | None:
    """The message kept under `key`, or None for an unknown or malformed key."""
    if not _KEY_RE.fullmatch(key):
        return None
    path = outbox_dir() / f"{key}.eml"
    return _read(path) if path.is_file() else None
