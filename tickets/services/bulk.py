"""Changing several properties of a ticket, or one property of many tickets, at once.

Each change still goes through its own verb, so every ticket gets its audit rows,
announcements and SLA clocks exactly as if an agent had done it by hand."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cxm.lib.exceptions import ApplicationError

from ..models import Team, Ticket, TicketEvent
from .lifecycle import (
    _UNSET,
    _event,
    _lock,
    _refuse_if_closed,
    _save,
    tags_get_or_create,
    ticket_assign,
    ticket_close,
    ticket_set_priority,
    ticket_set_status,
)


@transaction.atomic
def ticket_set_tags(*, ticket: Ticket, tags: Iterable[str], actor) -> Ticket:
    ticket = _lock(ticket)
    _refuse_if_closed(ticket, _("changing the tags"))
    before = sorted(ticket.tags.values_list("name", flat=True))
    new_tags = tags_get_or_create(tags)
    after = sorted(tag.name for tag in new_tags)
    if before != after:
        ticket.tags.set(new_tags)
        _event(ticket, TicketEvent.Kind.TAGS_CHANGED, actor, ", ".join(before), ", ".join(after))
        _save(ticket)
    return ticket


@transaction.atomic
def ticket_set_do_not_survey(*, ticket: Ticket, do_not_survey: bool, actor) -> Ticket:
    """The agent's per-ticket switch: no satisfaction survey about this ticket."""
    ticket = _lock(ticket)
    if ticket.do_not_survey != do_not_survey:
        _event(ticket, TicketEvent.Kind.SURVEY_SWITCH, actor, ticket.do_not_survey, do_not_survey)
        ticket.do_not_survey = do_not_survey
        _save(ticket, "do_not_survey")
    return ticket


@transaction.atomic
def ticket_update_properties(
    *,
    ticket: Ticket,
    actor,
    status: str | None = None,
    priority: str | None = None,
    assignee=_UNSET,
    team: Team | object | None = _UNSET,
    tags: Iterable[str] | None = None,
    do_not_survey: bool | None = None,
) -> Ticket:
    """Apply what changed in the ticket page's properties form; unchanged values are
    left alone (no audit row for them)."""
    ticket = _lock(ticket)
    if do_not_survey is not None and do_not_survey != ticket.do_not_survey:
        ticket_set_do_not_survey(ticket=ticket, do_not_survey=do_not_survey, actor=actor)
    new_assignee = ticket.assignee if assignee is _UNSET else assignee
    new_team = ticket.team if team is _UNSET else team
    if new_assignee != ticket.assignee or new_team != ticket.team:
        ticket_assign(ticket=ticket, assignee=new_assignee, team=new_team, actor=actor)
    if priority is not None and priority != ticket.priority:
        ticket_set_priority(ticket=ticket, priority=priority, actor=actor)
    if tags is not None:
        ticket_set_tags(ticket=ticket, tags=tags, actor=actor)
    if status is not None and status != ticket.status:
        ticket_set_status(ticket=ticket, status=status, actor=actor)
    return _lock(ticket)


class BulkAction:
    ASSIGN = "assign"
    SET_STATUS = "status"
    ADD_TAG = "tag"
    CLOSE = "close"
    LABELS = {
        ASSIGN: gettext_lazy("Assign to"),
        SET_STATUS: gettext_lazy("Set status"),
        ADD_TAG: gettext_lazy("Add tag"),
        CLOSE: gettext_lazy("Close"),
    }


@dataclass
class BulkResult:
    changed: list[Ticket] = field(default_factory=list)
    refused: list[tuple[Ticket, str]] = field(default_factory=list)
    unchanged: list[Ticket] = field(default_factory=list)


def _message_of(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(getattr(error, "message", error))


@transaction.atomic
def tickets_bulk_apply(
    *, tickets: Iterable[Ticket], action: str, actor, value: object = None
) -> BulkResult:
    """Apply one action to many tickets in one transaction. A ticket the action does
    not fit (closing a closed ticket…) is reported and left as it was; the others
    change. Each ticket is audited as if changed by hand."""
    result = BulkResult()
    for ticket in tickets:
        try:
            with transaction.atomic():
                if action == BulkAction.ASSIGN:
                    ticket_assign(ticket=ticket, assignee=value, actor=actor)
                elif action == BulkAction.SET_STATUS:
                    ticket_set_status(ticket=ticket, status=str(value), actor=actor)
                elif action == BulkAction.ADD_TAG:
                    names = list(ticket.tags.values_list("name", flat=True))
                    if tags_get_or_create([str(value)])[0].name in names:
                        result.unchanged.append(ticket)
                        continue
                    ticket_set_tags(ticket=ticket, tags=[*names, str(value)], actor=actor)
                elif action == BulkAction.CLOSE:
                    ticket_close(ticket=ticket, actor=actor)
                else:
                    raise ValidationError({"action": _("Unknown bulk action.")})
        except (ApplicationError, ValidationError) as error:
            if action not in BulkAction.LABELS:
                raise
            result.refused.append((ticket, _message_of(error)))
        else:
            result.changed.append(ticket)
    return result
