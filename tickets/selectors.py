"""Read paths for tickets: the filtered queue and one ticket with its conversation."""

import heapq
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import (
    Case,
    CharField,
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from customers import selectors as customer_selectors
from customers.models import Customer
from customers.selectors import filter_day_range
from cxm import roles

from .models import (
    CannedReply,
    Message,
    Notification,
    Team,
    Ticket,
    TicketEvent,
)


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


# --- The agent desk's queue -------------------------------------------------------------


class QueueView:
    """The queue's saved views: which slice of the tickets an agent is looking at."""

    MINE = "mine"
    UNASSIGNED = "unassigned"
    MY_TEAMS = "teams"
    ALL = "all"
    BREACHING = "breaching"


class QueueSort:
    PRIORITY = "priority"
    SLA_DUE = "sla"
    UPDATED = "updated"


# Both are generated columns on the ticket (see tickets.models), so the sorts use indexes.
_PRIORITY_RANK = F("priority_rank")

SLA_SOON = timedelta(hours=1)


def _sla_due() -> F:
    """The nearer running target (first response until answered, then resolution);
    None for resolved or paused tickets. Stored by the database as Ticket.sla_due_at."""
    return F("sla_due_at")


def _breaching(now: datetime) -> Q:
    return Q(status__in=Ticket.UNRESOLVED) & (
        Q(first_response_breached=True)
        | Q(resolution_breached=True)
        | Q(first_response_at__isnull=True, first_response_due_at__lt=now)
        | Q(resolution_due_at__lt=now)
    )


def user_team_ids(user: AbstractBaseUser) -> QuerySet:
    """The ids of the teams the user belongs to or leads (a subquery)."""
    return Team.objects.filter(Q(members=user) | Q(lead=user)).values("pk")


def queue_search(tickets: QuerySet[Ticket], text: str) -> QuerySet[Ticket]:
    """A reference (T-000123) finds exactly that ticket; anything else matches the
    subject or the customer's name or email (and a bare number also the ticket id)."""
    text = text.strip()
    if not text:
        return tickets
    ticket_id = Ticket.id_from_reference(text)
    if ticket_id is not None and not text.isdigit():
        return tickets.filter(pk=ticket_id)
    # The customers as a subquery rather than an OR across the join: each side can
    # then use its own index, and the customers side is small.
    customers = Customer.objects.filter(Q(name__icontains=text) | Q(email__icontains=text))
    matches = Q(subject__icontains=text) | Q(customer__in=customers.values("pk"))
    if ticket_id is not None:
        matches |= Q(pk=ticket_id)
    return tickets.filter(matches)


def queue_tickets(
    *,
    user: AbstractBaseUser,
    view: str = QueueView.MINE,
    status: list[str] | None = None,
    priority: str | None = None,
    channel: str | None = None,
    category: str | None = None,
    team: int | None = None,
    assignee: int | None = None,
    tag: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    search: str | None = None,
    sort: str = QueueSort.UPDATED,
    now: datetime | None = None,
) -> QuerySet[Ticket]:
    """One of the queue's views, filtered, searched and sorted, for a user.

    Without a status filter, every view but "all" shows only the tickets that still
    need work. Each row carries `sla_due` (the nearer running target) and `sla_state`
    ("past", "soon" within SLA_SOON, "ok" or "" without a target); customer and
    assignee come in the same query. Slice it: the queue never counts the rows."""
    now = now or timezone.now()
    tickets = tickets_visible_to(user)
    if view == QueueView.MINE:
        tickets = tickets.filter(assignee=user)
    elif view == QueueView.UNASSIGNED:
        tickets = tickets.filter(assignee__isnull=True)
    elif view == QueueView.MY_TEAMS:
        tickets = tickets.filter(team__in=user_team_ids(user))
    elif view == QueueView.BREACHING:
        tickets = tickets.filter(_breaching(now))
    if status:
        tickets = tickets.filter(status__in=status)
    elif view != QueueView.ALL:
        tickets = tickets.filter(status__in=Ticket.UNRESOLVED)
    if priority:
        tickets = tickets.filter(priority=priority)
    if channel:
        tickets = tickets.filter(channel=channel)
    if category:
        tickets = tickets.filter(category__iexact=category.strip())
    if team is not None:
        tickets = tickets.filter(team_id=team)
    if assignee is not None:
        tickets = tickets.filter(assignee_id=assignee)
    if tag:
        tickets = tickets.filter(tags__name=slugify(tag, allow_unicode=True))
    tickets = filter_day_range(tickets, "created_at", day_from=created_from, day_to=created_to)
    if search:
        tickets = queue_search(tickets, search)
    tickets = tickets.select_related("customer", "assignee").annotate(sla_due=_sla_due())
    tickets = tickets.annotate(
        sla_state=Case(
            When(sla_due__isnull=True, then=Value("")),
            When(sla_due__lt=now, then=Value("past")),
            When(sla_due__lt=now + SLA_SOON, then=Value("soon")),
            default=Value("ok"),
            output_field=CharField(),
        )
    )
    if sort == QueueSort.PRIORITY:
        return tickets.order_by(_PRIORITY_RANK, "-updated_at", "-pk")
    if sort == QueueSort.SLA_DUE:
        return tickets.order_by(F("sla_due").asc(nulls_last=True), _PRIORITY_RANK, "pk")
    return tickets.order_by("-updated_at", "-pk")


def page_of(rows: QuerySet, *, page: int, page_size: int) -> tuple[list, bool]:
    """One page of rows and whether another follows, from a single query that reads
    one row more than it shows: no COUNT(*), which costs a full scan at a million rows."""
    start = (page - 1) * page_size
    fetched = list(rows[start : start + page_size + 1])
    return fetched[:page_size], len(fetched) > page_size


def assignable_agents() -> QuerySet[User]:
    """Active staff who work tickets (any role), by name: the assignee choices."""
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__name__in=[roles.AGENT, roles.MANAGER, roles.ADMIN]) | Q(is_superuser=True)
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def teams_for(user: AbstractBaseUser) -> QuerySet[Team]:
    """The teams a user may pick: theirs when restricted to their teams, else all."""
    teams = Team.objects.order_by("name")
    if user.is_superuser or getattr(user, "ticket_access", None) != User.TicketAccess.TEAMS:
        return teams
    return teams.filter(pk__in=user_team_ids(user))


def notification_list(*, user: AbstractBaseUser) -> QuerySet[Notification]:
    return (
        Notification.objects.filter(user=user)
        .select_related("ticket")
        .order_by("-created_at", "-pk")
    )


def notification_unread_count(*, user: AbstractBaseUser, up_to: int = 100) -> int:
    """How many unread notifications the user has, counted only up to `up_to`: the
    badge says "99+" beyond that, and reading a few ids costs less than a COUNT."""
    return len(
        Notification.objects.filter(user=user, read_at__isnull=True)
        .order_by()
        .values_list("pk")[:up_to]
    )


# --- The ticket page and the customer's history -----------------------------------------


def ticket_get_for_page(ticket_id: int, *, user: AbstractBaseUser) -> Ticket | None:
    """One ticket the user may see, with everything the ticket page draws: customer and
    account owner, team, assignee, SLA policy, tags, the conversation with its authors
    and the audit trail with its actors. The number of queries does not depend on the
    length of the conversation. None when it does not exist or is not theirs to see."""
    return (
        tickets_visible_to(user)
        .select_related("customer__account_owner", "team", "assignee", "sla_policy")
        .prefetch_related(
            "tags",
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author_agent").order_by(
                    "created_at", "id"
                ),
            ),
            Prefetch(
                "events",
                queryset=TicketEvent.objects.select_related("actor").order_by("created_at", "id"),
            ),
        )
        .filter(pk=ticket_id)
        .first()
    )


def ticket_get_for_action(ticket_id: int, *, user: AbstractBaseUser) -> Ticket | None:
    """The bare ticket row, if the user may see it: what a verb on it needs."""
    return tickets_visible_to(user).filter(pk=ticket_id).first()


def ticket_message_get(*, ticket: Ticket, message_id: int) -> Message | None:
    return Message.objects.filter(ticket=ticket, pk=message_id).first()


def customer_ticket_list(
    *, customer_id: int, user: AbstractBaseUser, exclude_id: int | None = None, limit: int = 10
) -> list[Ticket]:
    """The customer's latest tickets that the user may see (but `exclude_id`)."""
    tickets = tickets_visible_to(user).filter(customer_id=customer_id)
    if exclude_id is not None:
        tickets = tickets.exclude(pk=exclude_id)
    return list(tickets.select_related("assignee").order_by("-created_at", "-id")[:limit])


def canned_reply_list(*, user: AbstractBaseUser) -> QuerySet[CannedReply]:
    """The canned replies a user may use: the shared ones and their own. Each carries
    `editable`: whether the user may change it (their own; shared ones for managers)."""
    editable = Q(owner=user)
    if roles.is_manager(user):
        editable |= Q(owner__isnull=True)
    return (
        CannedReply.objects.filter(Q(owner__isnull=True) | Q(owner=user))
        .annotate(editable=Case(When(editable, then=Value(True)), default=Value(False)))
        .order_by("title", "id")
    )


def canned_reply_get(canned_id: int, *, user: AbstractBaseUser) -> CannedReply | None:
    """A shared canned reply or one of the user's own; None for anybody else's."""
    return canned_reply_list(user=user).filter(pk=canned_id).first()


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened with a customer: a ticket opened, a purchase, an event."""

    at: datetime
    kind: str  # "ticket", "purchase" or "event"
    item: object


def customer_timeline(
    *, customer_id: int, user: AbstractBaseUser, limit: int = 200
) -> tuple[list[TimelineEntry], bool]:
    """The customer's tickets (those the user may see), purchases and touchpoints,
    newest first, at most `limit` of them; and whether older ones were left out.
    Three queries, each reading at most limit + 1 rows, merged by time."""
    tickets = (
        tickets_visible_to(user)
        .filter(customer_id=customer_id)
        .select_related("assignee")
        .order_by("-created_at", "-id")[: limit + 1]
    )
    purchases = customer_selectors.purchase_list(customer=customer_id).order_by(
        "-occurred_at", "-id"
    )[: limit + 1]
    events = customer_selectors.customer_event_list(customer=customer_id).order_by(
        "-occurred_at", "-id"
    )[: limit + 1]
    streams = (
        (TimelineEntry(ticket.created_at, "ticket", ticket) for ticket in tickets),
        (TimelineEntry(purchase.occurred_at, "purchase", purchase) for purchase in purchases),
        (TimelineEntry(event.occurred_at, "event", event) for event in events),
    )
    merged = list(
        islice(heapq.merge(*streams, key=lambda entry: entry.at, reverse=True), limit + 1)
    )
    return merged[:limit], len(merged) > limit
