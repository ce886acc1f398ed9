"""Read paths for tickets: the filtered queue and one ticket with its conversation."""

from datetime import date

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet

from accounts.models import User
from customers.selectors import filter_day_range

from .models import Message, Team, Ticket, TicketEvent


def tickets_visible_to(user: AbstractBaseUser) -> QuerySet[Ticket]:
    """Every ticket, unless the user is restricted to their teams' tickets: then those
    of the teams they belong to or lead, and any ticket assigned to them."""
    tickets = Ticket.objects.all()
    if user.is_superuser or getattr(user, "ticket_access", None) != User.TicketAccess.TEAMS:
        return tickets
    their_teams = Team.objects.filter(Q(members=user) | Q(lead=user)).values("pk")
    return tickets.filter(Q(team__in=their_teams) | Q(assignee=user))


def ticket_list(
    *,
    user: AbstractBaseUser,
    status: list[str] | None = None,
    priority: str | None = None,
    team: int | None = None,
    assignee: int | None = None,
    unassigned: bool = False,
    customer: int | None = None,
    channel: str | None = None,
    category: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    search: str | None = None,
) -> QuerySet[Ticket]:
    """Tickets matching every filter given, newest first. Dates are local days, inclusive;
    `search` matches a reference (T-000123, 123) or part of the subject."""
    tickets = tickets_visible_to(user).prefetch_related("tags")
    if status:
        tickets = tickets.filter(status__in=status)
    if priority:
        tickets = tickets.filter(priority=priority)
    if team is not None:
        tickets = tickets.filter(team_id=team)
    if unassigned:
        tickets = tickets.filter(assignee__isnull=True)
    elif assignee is not None:
        tickets = tickets.filter(assignee_id=assignee)
    if customer is not None:
        tickets = tickets.filter(customer_id=customer)
    if channel:
        tickets = tickets.filter(channel=channel)
    if category:
        tickets = tickets.filter(category__iexact=category)
    tickets = filter_day_range(tickets, "created_at", day_from=created_from, day_to=created_to)
    if search:
        matches = Q(subject__icontains=search)
        ticket_id = Ticket.id_from_reference(search)
        if ticket_id is not None:
            matches |= Q(pk=ticket_id)
        tickets = tickets.filter(matches)
    return tickets


def ticket_get(ticket_id: int, *, user: AbstractBaseUser | None) -> Ticket | None:
    """One ticket the user may see, with its tags, its conversation (notes included)
    and its audit trail; None when it does not exist or is not theirs to see.
    `user=None` reads it whoever may see it: for a caller that has checked already."""
    tickets = Ticket.objects.all() if user is None else tickets_visible_to(user)
    return (
        tickets.prefetch_related(
            "tags",
            Prefetch("messages", queryset=Message.objects.order_by("created_at", "id")),
            Prefetch("events", queryset=TicketEvent.objects.order_by("created_at", "id")),
        )
        .filter(pk=ticket_id)
        .first()
    )
