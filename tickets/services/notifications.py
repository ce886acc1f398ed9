"""Telling agents and customers: in-app notifications and the reply email outbox."""

from functools import partial

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import Message, Notification, Ticket
from .email import reply_email_enqueue

_TEXTS = {
    Notification.Kind.ASSIGNED: _("%(reference)s was assigned to you: %(subject)s"),
    Notification.Kind.SLA_BREACH: _("%(reference)s missed its SLA target: %(subject)s"),
    Notification.Kind.FOLLOW_UP: _("%(reference)s needs a follow-up: %(subject)s"),
}


def notify(*, user, ticket: Ticket, kind: str) -> Notification:
    """An in-app notification, written in the recipient's language."""
    from django.utils import translation

    with translation.override(getattr(user, "language", None)):
        text = str(_TEXTS[kind] % {"reference": ticket.reference, "subject": ticket.subject})
    return Notification.objects.create(user=user, ticket=ticket, kind=kind, text=text[:300])


def queue_reply_email(message: Message) -> None:
    """Mark a public agent reply for emailing and send it after commit, never in the
    request. A customer without an email address simply gets nothing."""
    if not message.ticket.customer.email:
        return
    message.email_status = Message.EmailStatus.QUEUED
    message.save(update_fields=["email_status"])
    transaction.on_commit(partial(reply_email_enqueue, message.pk))


def notifications_mark_read(*, user) -> int:
    """Mark every unread notification of the user as read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
