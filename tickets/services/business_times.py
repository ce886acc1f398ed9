"""Fill the business-hours response and resolution times of tickets that predate them
(or recompute them after a business calendar changed), in batches."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from ..models import SLAPolicy, Ticket
from ..sla import BusinessCalendars, business_times_refresh

_FIELDS = ["first_response_business_s", "resolution_business_s"]


@dataclass
class BackfillResult:
    examined: int = 0  # tickets with a first response or a resolution, read
    updated: int = 0  # tickets whose business-hours times were written
    # Calendars without working hours cannot measure anything; their tickets stay empty.
    unusable_calendars: set[str] = field(default_factory=set)


def tickets_backfill_business_times(
    *, recompute: bool = False, batch_size: int = 500
) -> BackfillResult:
    """Record the business-hours times (Ticket.first_response_business_s and
    resolution_business_s) of answered or resolved tickets that lack them, as the
    services would have recorded them: in the calendar of the ticket's SLA policy (for
    a ticket without one stored, an imported one, the policy matching it). Tickets whose
    policy counts calendar hours stay empty. `recompute` rewrites every ticket's values,
    e.g. after holidays were added to a calendar.

    Walks the tickets by id in batches, each in its own transaction with its rows locked,
    so a ticket answered or solved meanwhile is never overwritten with stale figures and
    the desk is never blocked for long. Safe to stop and run again."""
    result = BackfillResult()
    if not SLAPolicy.objects.filter(calendar__isnull=False).exists():
        return result  # no business calendar anywhere: every value stays empty
    calendars = BusinessCalendars()
    result.unusable_calendars = calendars.unusable  # filled as the calendars are read
    candidates = Ticket.objects.filter(
        Q(first_response_at__isnull=False) | Q(solved_at__isnull=False)
    )
    if not recompute:
        candidates = candidates.filter(
            Q(first_response_at__isnull=False, first_response_business_s__isnull=True)
            | Q(solved_at__isnull=False, resolution_business_s__isnull=True)
        )
    # Only tickets that can have a business calendar: a stored policy with one, or none.
    candidates = candidates.filter(
        Q(sla_policy__isnull=True) | Q(sla_policy__calendar__isnull=False)
    ).order_by("pk")
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                candidates.filter(pk__gt=last_pk)
                .select_related("sla_policy__calendar")
                .select_for_update(of=("self",))[:batch_size]
            )
            if not batch:
                return result
            changed = []
            for ticket in batch:
                before = (ticket.first_response_business_s, ticket.resolution_business_s)
                business_times_refresh(ticket, calendars.schedule_for_ticket(ticket))
                if (ticket.first_response_business_s, ticket.resolution_business_s) != before:
                    changed.append(ticket)
            # bulk_update leaves updated_at alone: the queue's order must not move.
            Ticket.objects.bulk_update(changed, _FIELDS)
        result.examined += len(batch)
        result.updated += len(changed)
        last_pk = batch[-1].pk
