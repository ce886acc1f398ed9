"""Who gets a new ticket: round-robin or fewest open tickets among available agents."""

from django.db import transaction
from django.db.models import Count, Q

from ..models import Team, Ticket


@transaction.atomic
def pick_assignee(*, team: Team, exclude: tuple = ()):
    """The team's next agent by its strategy, or None (manual team, nobody available).

    The team row is locked so two tickets created at once never pick from the same
    round-robin position."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    if team.assignment == Team.Assignment.MANUAL:
        return None
    candidates = team.members.filter(is_active=True, is_available=True).exclude(
        pk__in=[user.pk for user in exclude]
    )
    if team.assignment == Team.Assignment.LEAST_OPEN:
        return (
            candidates.annotate(
                open_tickets=Count(
                    "assigned_tickets", filter=Q(assigned_tickets__status__in=Ticket.UNRESOLVED)
                )
            )
            .order_by("open_tickets", "pk")
            .first()
        )
    ordered = list(candidates.order_by("pk"))
    if not ordered:
        return None
    after_last = [
        user for user in ordered if team.last_assigned_id and user.pk > team.last_assigned_id
    ]
    chosen = (after_last or ordered)[0]
    team.last_assigned = chosen
    team.save(update_fields=["last_assigned"])
    return chosen
