"""Periodic work over many tickets, run by Celery beat: SLA breaches and auto-close."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cxm.lib.exceptions import ApplicationError

from ..models import Notification, Ticket, TicketEvent
from .lifecycle import ticket_close
from .notifications import notify

_BATCH = 500
_CLOCKS = (
    ("first_response", "first_response_due_at", "first_response_breached", "first_response_at"),
    ("resolution", "resolution_due_at", "resolution_breached", "solved_at"),
)


def sla_mark_breaches(*, now: datetime | None = None) -> int:
    """Flag every unresolved ticket whose target passed, once, and tell its assignee
    and team lead. Rows another worker holds are skipped, not waited for."""
    now = now or timezone.now()
    flagged = 0
    for clock, due_field, flag, done_field in _CLOCKS:
        while True:
            with transaction.atomic():
                tickets = list(
                    Ticket.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(
                        Q(**{f"{due_field}__lt": now, flag: False, f"{done_field}__isnull": True}),
                        status__in=Ticket.UNRESOLVED,
                    )
                    .select_related("assignee", "team__lead")[:_BATCH]
                )
                for ticket in tickets:
                    setattr(ticket, flag, True)
                    ticket.save(update_fields=[flag])
                    TicketEvent.objects.create(
                        ticket=ticket, kind=TicketEvent.Kind.SLA_BREACHED, to_value=clock
                    )
                    recipients = {ticket.assignee, ticket.team.lead if ticket.team else None}
                    for user in recipients - {None}:
                        notify(user=user, ticket=ticket, kind=Notification.Kind.SLA_BREACH)
            flagged += len(tickets)
            if len(tickets) < _BATCH:
                break
    return flagged


def tickets_auto_close(*, now: datetime | None = None) -> int:
    """Close tickets solved more than CXM_AUTO_CLOSE_DAYS ago (0 turns this off). A
    customer reply reopens a solved ticket, so these had none since they were solved."""
    days = settings.CXM_AUTO_CLOSE_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    closed = 0
    due = Ticket.objects.filter(status=Ticket.Status.SOLVED, solved_at__lt=cutoff)
    for ticket_id in list(due.order_by("solved_at").values_list("pk", flat=True)):
        try:
            ticket_close(ticket=Ticket(pk=ticket_id), actor=None)
        except ApplicationError:
            continue  # reopened or closed by someone else meanwhile
        closed += 1
    return closed
