"""Agents' availability, and what happens to their tickets when they step away."""

from django.db import transaction

from ..models import Team, Ticket
from .assignment import pick_assignee
from .lifecycle import ticket_assign


@transaction.atomic
def agent_set_availability(*, agent, available: bool, actor) -> int:
    """Mark an agent available or not. Going unavailable hands their unresolved tickets
    in auto-assigning teams to the team's next agent (or leaves them unassigned for the
    team when nobody is available). Returns how many tickets moved."""
    agent.is_available = available
    agent.save(update_fields=["is_available"])
    if available:
        return 0
    moved = 0
    tickets = (
        Ticket.objects.filter(assignee=agent, status__in=Ticket.UNRESOLVED)
        .exclude(team__isnull=True)
        .exclude(team__assignment=Team.Assignment.MANUAL)
        .select_related("team")
        .order_by("pk")
    )
    for ticket in list(tickets):
        successor = pick_assignee(team=ticket.team, exclude=(agent,))
        ticket_assign(ticket=ticket, assignee=successor, actor=actor)
        moved += 1
    return moved
