"""Sending invitations: claim due rows, email them over one SMTP connection, record.

States: scheduled → sending → sent | failed (| cancelled | skipped, decided earlier).
A row is claimed by a conditional UPDATE (with FOR UPDATE SKIP LOCKED to find it), so
two workers, a retried task or a second beat never send one invitation twice. A row
whose worker died mid-send is put back after STALE_CLAIM, far beyond EMAIL_TIMEOUT.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from cxm.lib.mail import one_line, recipient

from ..models import Invitation

logger = logging.getLogger(__name__)
Status = Invitation.Status

BATCH = 200
MAX_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=15)
# Well under the Celery soft time limit (4 min), far under STALE_CLAIM.
BUDGET = timedelta(minutes=3)


def _backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** (attempt - 1), 3600))


def public_url(path: str) -> str:
    return settings.CXM_BASE_URL.rstrip("/") + path


def invitation_email(invitation: Invitation, *, reminder: bool = False) -> EmailMultiAlternatives:
    """The invitation email, in the customer's language, with the first question inline
    (one link per score) and a visible and a List-Unsubscribe unsubscribe link."""
    survey, customer = invitation.survey, invitation.customer
    questions = list(survey.questions.all())
    first = next((q for q in questions if q.follow_up_of_id is None), None)
    survey_url = public_url(reverse("surveys:answer", args=[invitation.token]))
    unsubscribe_url = public_url(reverse("surveys:unsubscribe", args=[invitation.token]))
    with translation.override(invitation.language):
        scores = []
        if first is not None and first.scale:
            low, high = first.scale
            scores = [(score, f"{survey_url}?score={score}") for score in range(low, high + 1)]
        context = {
            "invitation": invitation,
            "survey": survey,
            "customer": customer,
            "ticket": invitation.ticket,
            "question": first,
            "question_text": first.text_in(invitation.language) if first else "",
            "scores": scores,
            "survey_url": survey_url,
            "unsubscribe_url": unsubscribe_url,
            "company_name": settings.CXM_COMPANY_NAME,
            "reminder": reminder,
        }
        subject = render_to_string("emails/surveys/invitation_subject.txt", context)
        text = render_to_string("emails/surveys/invitation.txt", context)
        html = render_to_string("emails/surveys/invitation.html", context)
    email = EmailMultiAlternatives(
        subject=one_line(subject),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient(customer.name, customer.email)],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-CXM-Invitation": str(invitation.pk),
        },
    )
    email.attach_alternative(html, "text/html")
    return email


def _claim(now: datetime, limit: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            Invitation.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SCHEDULED, send_after__lte=now)
            .order_by("send_after", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            # Stamped with the claim's own time, not the run's start: a long run's later
            # batches must not look stale to another worker's sweep.
            Invitation.objects.filter(pk__in=ids, status=Status.SCHEDULED).update(
                status=Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
            )
    return ids


def _expire_unsent(now: datetime) -> int:
    """Scheduled invitations that could not go out before they expired are skipped."""
    return Invitation.objects.filter(status=Status.SCHEDULED, expires_at__lte=now).update(
        status=Status.SKIPPED, skip_reason=Invitation.SkipReason.EXPIRED
    )


def _release_stale_claims(now: datetime) -> int:
    return Invitation.objects.filter(
        status=Status.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(status=Status.SCHEDULED)


def invitations_dispatch_due(
    *, now: datetime | None = None, limit: int = BATCH, budget: timedelta = BUDGET
) -> int:
    """Send every due invitation, batch after batch, reusing one SMTP connection.
    Returns how many were sent. Failures go back to scheduled with a backoff, and end
    failed with the error after MAX_ATTEMPTS. No new batch is claimed once `budget`
    has passed (the next sweep goes on), so a task never reaches its time limit with
    claimed rows in hand."""
    now = now or timezone.now()
    _expire_unsent(now)
    _release_stale_claims(now)
    sent = 0
    deadline = time.monotonic() + budget.total_seconds()
    connection = get_connection()
    try:
        while time.monotonic() < deadline and (ids := _claim(now, limit)):
            invitations = list(
                Invitation.objects.filter(pk__in=ids, status=Status.SENDING)
                .select_related("survey", "customer", "ticket")
                .prefetch_related("survey__questions")
            )
            for position, invitation in enumerate(invitations):
                try:
                    connection.open()  # once per run; again after a failed send closed it
                except Exception as error:
                    # Unreachable, refusing or silent: the rest of the batch counts this
                    # try now instead of each waiting EMAIL_TIMEOUT on the same server.
                    for unsent in invitations[position:]:
                        _record_failure(unsent, error)
                    return sent
                sent += _send_one(invitation, connection=connection)
            if len(ids) < limit:
                break
    finally:
        _close_quietly(connection)
    return sent


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # a server that went silent times out on QUIT too
        logger.debug("closing a broken SMTP connection failed", exc_info=True)


def _record_failure(invitation: Invitation, error: Exception) -> None:
    """Back to scheduled after a backoff, or failed for good after MAX_ATTEMPTS; the
    reason is kept either way (the admin shows it and can send it again)."""
    logger.warning("Invitation %s not sent: %s", invitation.pk, error)
    final = invitation.attempts >= MAX_ATTEMPTS
    Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING).update(
        status=Status.FAILED if final else Status.SCHEDULED,
        send_after=timezone.now() + _backoff(invitation.attempts),
        last_error=f"{type(error).__name__}: {error}"[:2000],
    )


def _send_one(invitation: Invitation, *, connection) -> int:
    try:
        connection.send_messages([invitation_email(invitation)])
    except Exception as error:  # SMTP, network, a template: keep the reason, retry later
        _close_quietly(connection)  # a broken connection is reopened for the next one
        _record_failure(invitation, error)
        return 0
    Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return 1


@transaction.atomic
def invitation_resend(*, invitation: Invitation) -> Invitation:
    """An admin sends a failed invitation again."""
    updated = Invitation.objects.filter(pk=invitation.pk, status=Status.FAILED).update(
        status=Status.SCHEDULED, send_after=timezone.now(), attempts=0
    )
    invitation.refresh_from_db()
    if updated:
        from .invitations import _kick_dispatch

        _kick_dispatch()
    return invitation


def invitations_send_reminders(*, now: datetime | None = None) -> int:
    """One reminder to those who have not answered, for surveys that ask for one."""
    now = now or timezone.now()
    candidates = (
        Invitation.objects.filter(
            status=Status.SENT,
            reminder_sent_at__isnull=True,
            response__isnull=True,
            survey__reminder_after_days__isnull=False,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("survey", "customer", "ticket")
        .prefetch_related("survey__questions")
    )
    reminded = 0
    connection = get_connection()
    try:
        for invitation in candidates.iterator(chunk_size=BATCH):
            if invitation.sent_at > now - timedelta(days=invitation.survey.reminder_after_days):
                continue
            if invitation.customer.survey_opt_out:
                continue
            # Claim first: a second worker finds reminder_sent_at set and skips it.
            if not Invitation.objects.filter(
                pk=invitation.pk, reminder_sent_at__isnull=True
            ).update(reminder_sent_at=now):
                continue
            try:
                connection.send_messages([invitation_email(invitation, reminder=True)])
            except Exception:
                logger.warning("Reminder for invitation %s not sent", invitation.pk, exc_info=True)
                Invitation.objects.filter(pk=invitation.pk).update(reminder_sent_at=None)
                continue
            reminded += 1
    finally:
        connection.close()
    return reminded
