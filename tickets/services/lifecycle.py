"""The verbs that change tickets. Each locks the ticket row, checks the transition,
writes the change and its audit event in one transaction, and announces solved /
closed / reopened through tickets.signals inside that transaction."""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from customers.models import Customer
from cxm.lib.exceptions import ApplicationError

from .. import signals
from ..models import Message, Tag, Team, Ticket, TicketEvent
from ..sla import (
    BusinessCalendars,
    business_schedule,
    business_seconds_since_created,
    business_times_refresh,
    sla_pause,
    sla_refresh,
    sla_resume,
)
from .assignment import pick_assignee
from .notifications import notify, queue_reply_email

Status = Ticket.Status
_UNSET = object()
# The foreign keys ticket_create fills from rows its caller has read.
_READ_ROWS = ("customer", "team", "assignee", "created_by")


def _lock(ticket: Ticket) -> Ticket:
    """Reload the ticket's row under a lock, in place: the checks then see the current
    state, and the caller's instance shows the change when the service returns."""
    ticket.refresh_from_db(from_queryset=Ticket.objects.select_for_update())
    return ticket


def _save(ticket: Ticket, *fields: str) -> None:
    ticket.save(update_fields=[*fields, "updated_at"])


def _event(
    ticket: Ticket,
    kind: str,
    actor: AbstractBaseUser | None,
    from_value: object = "",
    to_value: object = "",
    at: datetime | None = None,
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor,
        from_value="" if from_value is None else str(from_value)[:100],
        to_value="" if to_value is None else str(to_value)[:100],
        created_at=at or timezone.now(),
    )


def _refuse_if_closed(ticket: Ticket, action: str) -> None:
    if ticket.status == Status.CLOSED:
        raise ApplicationError(
            _("Ticket %(reference)s is closed: %(action)s is not possible.")
            % {"reference": ticket.reference, "action": action},
            field="status",
        )


def _check_assignee_in_team(assignee, team: Team | None) -> None:
    if (
        assignee is not None
        and team is not None
        and not team.members.filter(pk=assignee.pk).exists()
    ):
        raise ValidationError(
            {
                "assignee": _("%(agent)s is not a member of team %(team)s.")
                % {"agent": assignee.get_username(), "team": team.name}
            }
        )


def tags_get_or_create(names: Iterable[str]) -> list[Tag]:
    """The tags for these names, slugified ("Billing issue" → billing-issue), each once."""
    max_length = Tag._meta.get_field("name").max_length
    slugs = dict.fromkeys(
        slugify(name, allow_unicode=True)[:max_length].strip("-_") for name in names
    )
    return [Tag.objects.get_or_create(name=slug)[0] for slug in slugs if slug]


@transaction.atomic
def ticket_create(
    *,
    customer: Customer,
    subject: str,
    body: str = "",
    channel: str = "email",
    priority: str = Ticket.Priority.NORMAL,
    category: str = "",
    team: Team | None = None,
    assignee=None,
    tags: Iterable[str] = (),
    created_by=None,
    do_not_survey: bool = False,
) -> Ticket:
    """Open a ticket for a customer. `body` is the customer's own description;
    `created_by` is the agent who opened it on the customer's behalf (phone, in person);
    `do_not_survey` keeps it out of every survey from the start."""
    _check_assignee_in_team(assignee, team)
    auto_assigned = assignee is None and team is not None
    if auto_assigned:
        assignee = pick_assignee(team=team)
    ticket = Ticket(
        customer=customer,
        subject=subject.strip(),
        channel=channel,
        priority=priority,
        category=category.strip(),
        team=team,
        assignee=assignee,
        created_by=created_by,
        status=Status.OPEN if assignee else Status.NEW,
        do_not_survey=do_not_survey,
    )
    # Each of these checks would cost a query, and a survey detractor's follow-up ticket
    # is opened within the customer's request. The customer, team and agents are rows the
    # caller has just read (its form or serializer found them), and a new ticket (no
    # external id, neither solved nor closed) cannot break the table's constraints; the
    # database still enforces both.
    ticket.full_clean(exclude=_READ_ROWS, validate_constraints=False)
    ticket.save()
    if tags:
        ticket.tags.set(tags_get_or_create(tags))
    if body.strip():
        Message.objects.create(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            from_customer=True,
            body=body,
            created_at=ticket.created_at,
        )
    _event(
        ticket, TicketEvent.Kind.CREATED, created_by, to_value=ticket.status, at=ticket.created_at
    )
    if assignee:
        _event(ticket, TicketEvent.Kind.ASSIGNED, created_by, to_value=assignee.get_username())
        if auto_assigned:
            notify(user=assignee, ticket=ticket, kind="assigned")
    ticket.save(update_fields=sla_refresh(ticket, now=timezone.now()))
    return ticket


def _require_body(body: str) -> None:
    if not body or not body.strip():
        raise ValidationError({"body": _("Write a message before sending.")})


@transaction.atomic
def ticket_reply(*, ticket: Ticket, author, body: str) -> Message:
    """A public reply from an agent to the customer. The first one sets first_response_at."""
    _require_body(body)
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("replying"))
    now = timezone.now()
    message = Message.objects.create(
        ticket=ticket, kind=Message.Kind.REPLY, author_agent=author, body=body, created_at=now
    )
    fields = []
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        fields += ["first_response_at", *sla_refresh(ticket, now=now)]
        # After sla_refresh: ticket.sla_policy is the policy that applies now.
        ticket.first_response_business_s = business_seconds_since_created(
            ticket, now, business_schedule(ticket.sla_policy)
        )
        fields.append("first_response_business_s")
    if ticket.status == Status.NEW:
        ticket.status = Status.OPEN
        fields.append("status")
        _event(ticket, TicketEvent.Kind.STATUS_CHANGED, author, Status.NEW, Status.OPEN, at=now)
    _save(ticket, *fields)
    _event(ticket, TicketEvent.Kind.REPLIED, author, at=now)
    queue_reply_email(message)
    return message


@transaction.atomic
def ticket_customer_reply(*, ticket: Ticket, body: str) -> Message:
    """The customer wrote back: a pending ticket opens again; a solved one reopens."""
    _require_body(body)
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("replying"))
    message = Message.objects.create(
        ticket=ticket, kind=Message.Kind.REPLY, from_customer=True, body=body
    )
    _event(ticket, TicketEvent.Kind.CUSTOMER_REPLIED, None)
    if ticket.status == Status.SOLVED:
        _reopen(ticket, actor=None)
    elif ticket.status == Status.PENDING:
        ticket.status = Status.OPEN
        _save(ticket, "status", *sla_resume(ticket, now=timezone.now()))
        _event(ticket, TicketEvent.Kind.STATUS_CHANGED, None, Status.PENDING, Status.OPEN)
    else:
        # The queue sorts on updated_at: a customer's message brings the ticket up.
        _save(ticket)
    return message


@transaction.atomic
def ticket_add_note(*, ticket: Ticket, author, body: str) -> Message:
    """An internal note: agents only, never sent to the customer."""
    _require_body(body)
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("adding a note"))
    message = Message.objects.create(
        ticket=ticket, kind=Message.Kind.NOTE, author_agent=author, body=body
    )
    _save(ticket)
    _event(ticket, TicketEvent.Kind.NOTE, author)
    return message


@transaction.atomic
def ticket_assign(
    *, ticket: Ticket, assignee, actor, team: Team | object | None = _UNSET
) -> Ticket:
    """Give the ticket to an agent (None: unassign) and optionally move it to a team."""
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("assigning"))
    new_team = ticket.team if team is _UNSET else team
    _check_assignee_in_team(assignee, new_team)
    if assignee == ticket.assignee and new_team == ticket.team:
        raise ApplicationError(_("The ticket is already assigned that way."), field="assignee")
    fields = []
    if new_team != ticket.team:
        _event(ticket, TicketEvent.Kind.TEAM_CHANGED, actor, ticket.team, new_team)
        ticket.team = new_team
        fields.append("team")
    if assignee != ticket.assignee:
        _event(
            ticket,
            TicketEvent.Kind.ASSIGNED,
            actor,
            ticket.assignee.get_username() if ticket.assignee else "",
            assignee.get_username() if assignee else "",
        )
        ticket.assignee = assignee
        fields.append("assignee")
    if assignee is not None and ticket.status == Status.NEW:
        _event(ticket, TicketEvent.Kind.STATUS_CHANGED, actor, Status.NEW, Status.OPEN)
        ticket.status = Status.OPEN
        fields.append("status")
    if "team" in fields:
        fields += sla_refresh(ticket, now=timezone.now())
    _save(ticket, *fields)
    if "assignee" in fields and assignee is not None and assignee != actor:
        notify(user=assignee, ticket=ticket, kind="assigned")
    return ticket


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: str, actor) -> Ticket:
    if priority not in Ticket.Priority.values:
        raise ValidationError(
            {"priority": _("Unknown priority “%(value)s”.") % {"value": priority}}
        )
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("changing the priority"))
    if priority == ticket.priority:
        raise ApplicationError(_("The ticket already has that priority."), field="priority")
    _event(ticket, TicketEvent.Kind.PRIORITY_CHANGED, actor, ticket.priority, priority)
    ticket.priority = priority
    _save(ticket, "priority", *sla_refresh(ticket, now=timezone.now()))
    return ticket


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str, actor) -> Ticket:
    """Move a ticket between statuses; solving, closing and reopening go through their
    own verbs so that their timestamps and announcements are never skipped."""
    if status not in Status.values:
        raise ValidationError({"status": _("Unknown status “%(value)s”.") % {"value": status}})
    if status == Status.SOLVED:
        return ticket_solve(ticket=ticket, actor=actor)
    if status == Status.CLOSED:
        return ticket_close(ticket=ticket, actor=actor)
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("changing the status"))
    if ticket.status == status:
        raise ApplicationError(
            _("The ticket is already %(status)s.") % {"status": ticket.get_status_display()},
            field="status",
        )
    if status == Status.NEW:
        raise ApplicationError(_("A ticket cannot go back to New."), field="status")
    if ticket.status == Status.SOLVED:
        ticket = _reopen(ticket, actor=actor)
        if status == Status.OPEN:
            return ticket
    _event(ticket, TicketEvent.Kind.STATUS_CHANGED, actor, ticket.status, status)
    ticket.status = status
    # The resolution clock stops while we wait on the customer.
    now = timezone.now()
    clock = sla_pause(ticket, now=now) if status == Status.PENDING else sla_resume(ticket, now=now)
    _save(ticket, "status", *clock)
    return ticket


def _solve(ticket: Ticket, *, actor, at: datetime) -> None:
    previous = ticket.status
    ticket.status = Status.SOLVED
    ticket.solved_at = at
    ticket.solved_by = ticket.assignee or actor
    clock = sla_resume(ticket, now=at) or sla_refresh(ticket, now=at)
    ticket.resolution_business_s = business_seconds_since_created(
        ticket, at, business_schedule(ticket.sla_policy)
    )
    _save(ticket, "status", "solved_at", "solved_by", "resolution_business_s", *clock)
    _event(ticket, TicketEvent.Kind.SOLVED, actor, previous, Status.SOLVED, at=at)
    signals.ticket_solved.send(sender=Ticket, ticket=ticket, actor=actor)


@transaction.atomic
def ticket_solve(*, ticket: Ticket, actor) -> Ticket:
    """Mark the customer's issue resolved. Credit goes to the assignee (or the actor)."""
    ticket = _lock(ticket)
    if ticket.status not in Ticket.UNRESOLVED:
        raise ApplicationError(
            _("Ticket %(reference)s is already %(status)s.")
            % {"reference": ticket.reference, "status": ticket.get_status_display()},
            field="status",
        )
    _solve(ticket, actor=actor, at=timezone.now())
    return ticket


@transaction.atomic
def ticket_close(*, ticket: Ticket, actor) -> Ticket:
    """Close a ticket for good; an unresolved ticket is solved first (same instant)."""
    ticket = _lock(ticket)
    if ticket.status == Status.CLOSED:
        raise ApplicationError(
            _("Ticket %(reference)s is already closed.") % {"reference": ticket.reference},
            field="status",
        )
    now = timezone.now()
    if ticket.status != Status.SOLVED:
        _solve(ticket, actor=actor, at=now)
    ticket.status = Status.CLOSED
    ticket.closed_at = now
    _save(ticket, "status", "closed_at")
    _event(ticket, TicketEvent.Kind.CLOSED, actor, Status.SOLVED, Status.CLOSED, at=now)
    signals.ticket_closed.send(sender=Ticket, ticket=ticket, actor=actor)
    return ticket


def _reopen(ticket: Ticket, *, actor) -> Ticket:
    previous, undone_solved_at = ticket.status, ticket.solved_at
    ticket.status = Status.OPEN
    ticket.reopen_count += 1
    ticket.solved_at = None
    ticket.closed_at = None
    ticket.solved_by = None
    ticket.resolution_business_s = None  # measured again at the next resolution
    _save(
        ticket,
        "status",
        "reopen_count",
        "solved_at",
        "closed_at",
        "solved_by",
        "resolution_business_s",
        *sla_refresh(ticket, now=timezone.now()),
    )
    _event(ticket, TicketEvent.Kind.REOPENED, actor, previous, Status.OPEN)
    signals.ticket_reopened.send(
        sender=Ticket, ticket=ticket, actor=actor, undone_solved_at=undone_solved_at
    )
    return ticket


@transaction.atomic
def ticket_reopen(*, ticket: Ticket, actor) -> Ticket:
    """Open a solved or closed ticket again; it counts as a reopening."""
    ticket = _lock(ticket)
    if not ticket.is_resolved:
        raise ApplicationError(_("Only a solved or closed ticket can be reopened."), field="status")
    return _reopen(ticket, actor=actor)


@transaction.atomic
def ticket_import_upsert(
    *,
    external_id: str,
    customer: Customer,
    subject: str,
    channel: str,
    priority: str,
    category: str,
    team: Team | None,
    assignee,
    created_at: datetime,
    first_response_at: datetime | None,
    solved_at: datetime | None,
    closed_at: datetime | None,
    reopen_count: int,
    calendars: BusinessCalendars | None = None,
) -> tuple[Ticket, bool]:
    """Create or update the ticket imported under `external_id`, keeping the source's
    timestamps. The status follows from them; the business-hours response and resolution
    times are measured in the calendar of the SLA policy matching the ticket (none: left
    empty); a bulk import passes one `calendars` for all its rows, so each policy and
    calendar is read once. Imports announce nothing: a historical ticket must not survey
    anybody today. Returns (ticket, created)."""
    if not external_id or not external_id.strip():
        raise ValidationError({"external_id": _("An imported ticket needs an external id.")})
    for name, value in (("first_response_at", first_response_at), ("solved_at", solved_at)):
        if value is not None and value < created_at:
            raise ValidationError({name: _("It is earlier than created_at.")})
    if closed_at is not None and (solved_at is None or closed_at < solved_at):
        raise ValidationError(
            {"closed_at": _("A closed ticket needs a solved_at no later than closed_at.")}
        )
    _check_assignee_in_team(assignee, team)
    if closed_at:
        status = Status.CLOSED
    elif solved_at:
        status = Status.SOLVED
    elif assignee or first_response_at:
        status = Status.OPEN
    else:
        status = Status.NEW
    # The exclude() repeats the unique index's condition, so SQLite uses that index.
    ticket = (
        Ticket.objects.select_for_update()
        .filter(external_id=external_id)
        .exclude(external_id="")
        .first()
    )
    created = ticket is None
    if created:
        ticket = Ticket(external_id=external_id)
    values = {
        "customer": customer,
        "subject": subject,
        "channel": channel,
        "priority": priority,
        "category": category,
        "team": team,
        "assignee": assignee,
        "created_at": created_at,
        "first_response_at": first_response_at,
        "solved_at": solved_at,
        "closed_at": closed_at,
        "reopen_count": reopen_count,
        "status": status,
        "solved_by": assignee if solved_at else None,
    }
    # A new ticket has no customer yet: reading ticket.customer would raise.
    changed = created or [name for name, value in values.items() if getattr(ticket, name) != value]
    for name, value in values.items():
        setattr(ticket, name, value)
    # The source's own response and resolution, in the business calendar that applies.
    measured = first_response_at is not None or solved_at is not None
    calendars = calendars or BusinessCalendars()
    business_times_refresh(ticket, calendars.schedule_for_ticket(ticket) if measured else None)
    # The rules behind the constraints are checked above, and the database enforces
    # them; re-checking them through full_clean doubled the time of a bulk import.
    ticket.full_clean(validate_constraints=False)
    ticket.save()
    if created or changed:
        _event(ticket, TicketEvent.Kind.IMPORTED, None, to_value=status)
    return ticket, created
