"""Thin Celery wrappers: load nothing, decide nothing, call one service."""

from smtplib import SMTPException

from celery import shared_task

from .services import email, sweeps

# 30 s, 1 min, 2 min, 4 min, 8 min: an SMTP hiccup heals, a dead server is reported.
EMAIL_RETRIES = 5


def _backoff(retries: int) -> int:
    return min(30 * 2**retries, 15 * 60)


@shared_task(bind=True, max_retries=EMAIL_RETRIES, acks_late=True)
def send_reply_email(self, message_id: int) -> None:
    try:
        email.message_send_email(message_id=message_id)
    except (SMTPException, OSError) as error:
        if self.request.retries >= self.max_retries:
            email.message_email_failed(message_id=message_id, error=str(error))
            return
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
    except Exception as error:
        # Not a passing fault (a broken template, a bad address…): trying again would
        # fail the same way, so say so on the ticket now.
        email.message_email_failed(message_id=message_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task
def requeue_stale_reply_emails() -> int:
    return email.messages_requeue_stale_emails()


@shared_task
def mark_sla_breaches() -> int:
    return sweeps.sla_mark_breaches()


@shared_task
def auto_close_solved_tickets() -> int:
    return sweeps.tickets_auto_close()
