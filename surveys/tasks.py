"""Thin Celery wrappers around the survey services. Each is safe to run twice at once:
the services claim rows before acting."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def dispatch_due_invitations() -> int:
    return services.invitations_dispatch_due()


@shared_task(acks_late=True)
def send_survey_reminders() -> int:
    return services.invitations_send_reminders()


@shared_task(acks_late=True)
def run_due_campaigns() -> int:
    return services.campaigns_run_due()
