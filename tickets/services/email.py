"""Emailing public replies to customers, once each, with retries kept visible."""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cxm.lib.exceptions import ApplicationError
from cxm.lib.mail import one_line, recipient

from ..models import Message, TicketEvent

logger = logging.getLogger(__name__)

# Far above EMAIL_TIMEOUT and the task time limit: a claim this old has no worker left.
STALE_CLAIM = timedelta(minutes=15)
# One publish and one reconnect, no sleeping between: the message row is the outbox.
ENQUEUE_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0,
    "interval_max": 0,
}


def reply_email_enqueue(message_id: int) -> None:
    """Hand a queued reply to a worker (after commit). With the broker down the agent's
    request still succeeds: the reply stays queued and the stale-email sweep sends it."""
    from ..tasks import send_reply_email

    try:
        send_reply_email.apply_async((message_id,), retry_policy=ENQUEUE_RETRY_POLICY)
    except Exception as error:
        logger.warning("Broker unavailable (%s); reply %s waits for the sweep.", error, message_id)


def reply_email_build(message: Message) -> EmailMultiAlternatives:
    ticket = message.ticket
    customer = ticket.customer
    with translation.override(customer.language):
        context = {
            "message": message,
            "ticket": ticket,
            "customer": customer,
            "agent": message.author_agent,
            "company_name": settings.CXM_COMPANY_NAME,
        }
        subject = render_to_string("emails/tickets/reply_subject.txt", context)
        text = render_to_string("emails/tickets/reply.txt", context)
        html = render_to_string("emails/tickets/reply.html", context)
    email = EmailMultiAlternatives(
        subject=one_line(subject),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient(customer.name, customer.email)],
        headers={"X-CXM-Ticket": ticket.reference, "Auto-Submitted": "auto-replied"},
    )
    email.attach_alternative(html, "text/html")
    return email


def message_send_email(*, message_id: int) -> bool:
    """Send one queued reply. The conditional UPDATE claims it, so a retried or
    duplicated task never emails it twice. Returns False when there was nothing to do.
    Errors propagate (the task retries) after the message is put back in the queue."""
    claimed = Message.objects.filter(pk=message_id, email_status=Message.EmailStatus.QUEUED).update(
        email_status=Message.EmailStatus.SENDING,
        email_attempts=F("email_attempts") + 1,
        email_claimed_at=timezone.now(),
    )
    if not claimed:
        return False
    message = Message.objects.select_related("ticket__customer", "author_agent").get(pk=message_id)
    try:
        reply_email_build(message).send()
    except Exception as error:
        Message.objects.filter(pk=message_id).update(
            email_status=Message.EmailStatus.QUEUED, email_error=str(error)[:2000]
        )
        raise
    Message.objects.filter(pk=message_id).update(
        email_status=Message.EmailStatus.SENT, emailed_at=timezone.now(), email_error=""
    )
    return True


@transaction.atomic
def message_email_failed(*, message_id: int, error: str) -> None:
    """The last try failed: the reply stays on the ticket marked failed, with the reason."""
    message = Message.objects.select_for_update().get(pk=message_id)
    if message.email_status == Message.EmailStatus.SENT:
        return
    message.email_status = Message.EmailStatus.FAILED
    message.email_error = str(error)[:2000]
    message.save(update_fields=["email_status", "email_error"])
    TicketEvent.objects.create(
        ticket_id=message.ticket_id,
        kind=TicketEvent.Kind.EMAIL_FAILED,
        to_value=str(error)[:100],
    )


@transaction.atomic
def message_email_retry(*, message: Message, actor) -> Message:
    """An agent asks to send a failed reply again."""
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.email_status != Message.EmailStatus.FAILED:
        raise ApplicationError(_("Only a reply whose email failed can be sent again."))
    message.email_status = Message.EmailStatus.QUEUED
    message.email_claimed_at = None  # queued afresh: the sweep's "never handed over"
    message.save(update_fields=["email_status", "email_claimed_at"])
    transaction.on_commit(partial(reply_email_enqueue, message.pk))
    return message


def messages_requeue_stale_emails(*, older_than: timedelta = STALE_CLAIM) -> int:
    """Put back in the queue, and send, the replies a worker claimed but never finished
    (killed mid-send), and those queued that no worker ever claimed (the broker was down,
    or lost its queue). Both are far older than any SMTP timeout, so the worker is gone,
    not slow; the claim keeps a reply from going twice. Returns how many were requeued."""
    cutoff = timezone.now() - older_than
    stale = Message.objects.filter(
        email_status=Message.EmailStatus.SENDING,
        email_claimed_at__lt=cutoff,
    )
    never_claimed = Message.objects.filter(
        email_status=Message.EmailStatus.QUEUED,
        email_claimed_at__isnull=True,
        created_at__lt=cutoff,
    )
    requeued = list(never_claimed.values_list("pk", flat=True))
    for message_id in list(stale.values_list("pk", flat=True)):
        if Message.objects.filter(pk=message_id, email_status=Message.EmailStatus.SENDING).update(
            email_status=Message.EmailStatus.QUEUED
        ):
            requeued.append(message_id)

    from ..tasks import send_reply_email

    for message_id in requeued:
        send_reply_email.delay(message_id)
    return len(requeued)
