"""The ticket lifecycle through its services: every allowed move, every refused one,
and the audit trail each leaves."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.tests.factories import agent, manager
from cxm.lib.exceptions import ApplicationError
from tickets.models import Message, Tag, Ticket, TicketEvent
from tickets.services import (
    tags_get_or_create,
    ticket_add_note,
    ticket_assign,
    ticket_close,
    ticket_create,
    ticket_customer_reply,
    ticket_import_upsert,
    ticket_reopen,
    ticket_reply,
    ticket_set_priority,
    ticket_set_status,
    ticket_solve,
)
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

Status = Ticket.Status
Kind = TicketEvent.Kind


def trail(ticket: Ticket) -> list[tuple[str, object, str, str]]:
    """The ticket's audit rows as (kind, actor, from, to), oldest first."""
    return [
        (event.kind, event.actor, event.from_value, event.to_value)
        for event in TicketEvent.objects.filter(ticket=ticket).select_related("actor")
    ]


def kinds(ticket: Ticket) -> list[str]:
    return [kind for kind, *_ in trail(ticket)]


def snapshot(ticket: Ticket) -> tuple:
    return (
        Ticket.objects.values().get(pk=ticket.pk),
        TicketEvent.objects.filter(ticket=ticket).count(),
        Message.objects.filter(ticket=ticket).count(),
        sorted(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True)),
    )


def assert_refused(ticket: Ticket, action, *, error=ApplicationError, message: str) -> None:
    """The action raises `error` saying `message`, and nothing about the ticket changed:
    not its row, not its events, not its messages."""
    before = snapshot(ticket)
    with pytest.raises(error) as excinfo:
        action()
    text = excinfo.value.message if error is ApplicationError else " ".join(excinfo.value.messages)
    assert message in text
    assert snapshot(ticket) == before


def ticket_in(status: str, *, actor, **factory_fields) -> Ticket:
    """A ticket brought to `status` through the services, as an agent would."""
    ticket = TicketFactory(**factory_fields)
    if status in (Status.OPEN, Status.PENDING):
        ticket_set_status(ticket=ticket, status=status, actor=actor)
    elif status == Status.SOLVED:
        ticket_solve(ticket=ticket, actor=actor)
    elif status == Status.CLOSED:
        ticket_close(ticket=ticket, actor=actor)
    ticket.refresh_from_db()
    assert ticket.status == status
    return ticket


# --- ticket_create -------------------------------------------------------------------


def test_ticket_create_opens_a_new_unassigned_ticket_with_the_customers_message(customer):
    ticket = ticket_create(
        customer=customer, subject="  My order is late  ", body="Where is it?\nOrder 42"
    )

    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert ticket.subject == "My order is late"
    assert ticket.assignee is None
    assert ticket.first_response_at is None
    message = ticket.messages.get()
    assert message.from_customer
    assert message.kind == Message.Kind.REPLY
    assert message.author_agent is None
    assert message.body == "Where is it?\nOrder 42"
    assert message.created_at == ticket.created_at
    assert trail(ticket) == [(Kind.CREATED, None, "", Status.NEW)]


def test_ticket_create_on_the_customers_behalf_records_the_agent(customer, agent_user):
    ticket = ticket_create(customer=customer, subject="Phoned in", created_by=agent_user)

    assert ticket.created_by == agent_user
    assert trail(ticket) == [(Kind.CREATED, agent_user, "", Status.NEW)]


def test_ticket_create_with_a_blank_body_adds_no_message(customer):
    ticket = ticket_create(customer=customer, subject="No details", body="   \n")

    assert not ticket.messages.exists()


def test_ticket_create_with_an_assignee_opens_it_and_records_the_assignment(
    customer, team, agent_user, manager_user
):
    ticket = ticket_create(
        customer=customer,
        subject="Refund",
        team=team,
        assignee=agent_user,
        created_by=manager_user,
        priority=Ticket.Priority.HIGH,
        category=" billing ",
    )

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee, ticket.team) == (Status.OPEN, agent_user, team)
    assert (ticket.priority, ticket.category) == (Ticket.Priority.HIGH, "billing")
    assert trail(ticket) == [
        (Kind.CREATED, manager_user, "", Status.OPEN),
        (Kind.ASSIGNED, manager_user, "", agent_user.username),
    ]


def test_ticket_create_refuses_an_assignee_outside_the_team_and_creates_nothing(customer, team):
    outsider = agent(username="outsider")

    with pytest.raises(ValidationError) as excinfo:
        ticket_create(customer=customer, subject="Refund", team=team, assignee=outsider)

    assert excinfo.value.message_dict["assignee"] == ["outsider is not a member of team Support."]
    assert not Ticket.objects.exists()


def test_ticket_create_refuses_a_blank_subject_and_creates_nothing(customer):
    with pytest.raises(ValidationError) as excinfo:
        ticket_create(customer=customer, subject="   ", body="Help")

    assert "subject" in excinfo.value.message_dict
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()


def test_ticket_create_refuses_an_unknown_priority(customer):
    with pytest.raises(ValidationError) as excinfo:
        ticket_create(customer=customer, subject="Help", priority="whenever")

    assert "priority" in excinfo.value.message_dict
    assert not Ticket.objects.exists()


def test_ticket_create_makes_tags_from_names_slugified_and_once_each(customer):
    Tag.objects.create(name="vip")

    ticket = ticket_create(
        customer=customer,
        subject="Help",
        tags=["Billing Issue", "billing issue", "  BILLING-issue ", "VIP", "Facturación", "!!"],
    )

    assert sorted(ticket.tags.values_list("name", flat=True)) == [
        "billing-issue",
        "facturación",
        "vip",
    ]
    assert Tag.objects.count() == 3


def test_tags_from_very_long_names_fit_the_tag_column():
    (tag,) = tags_get_or_create(["word " * 30])

    tag.refresh_from_db()
    assert len(tag.name) <= 50
    assert not tag.name.endswith("-")
    assert tags_get_or_create(["word " * 30]) == [tag]


# --- replies, notes and first_response_at ---------------------------------------------


def test_the_first_public_agent_reply_sets_first_response_at_and_opens_a_new_ticket(
    ticket, agent_user
):
    message = ticket_reply(ticket=ticket, author=agent_user, body="We're on it.")

    ticket.refresh_from_db()
    assert ticket.first_response_at == message.created_at
    assert ticket.status == Status.OPEN
    assert (message.kind, message.author_agent, message.from_customer) == (
        Message.Kind.REPLY,
        agent_user,
        False,
    )
    assert trail(ticket) == [
        (Kind.STATUS_CHANGED, agent_user, Status.NEW, Status.OPEN),
        (Kind.REPLIED, agent_user, "", ""),
    ]


def test_the_callers_ticket_shows_the_change_a_service_made(ticket, agent_user):
    ticket_reply(ticket=ticket, author=agent_user, body="We're on it.")

    assert ticket.status == Status.OPEN
    assert ticket.first_response_at is not None


def test_later_replies_keep_the_first_response_time(ticket, agent_user):
    first = ticket_reply(ticket=ticket, author=agent_user, body="First")
    other = agent(username="other")

    ticket_reply(ticket=ticket, author=other, body="Second")
    ticket_reply(ticket=ticket, author=agent_user, body="Third")

    ticket.refresh_from_db()
    assert ticket.first_response_at == first.created_at
    assert kinds(ticket).count(Kind.REPLIED) == 3


def test_the_first_response_survives_solving_and_reopening(ticket, agent_user):
    first = ticket_reply(ticket=ticket, author=agent_user, body="First")
    ticket_solve(ticket=ticket, actor=agent_user)
    ticket_reopen(ticket=ticket, actor=agent_user)
    ticket_reply(ticket=ticket, author=agent_user, body="Again")

    ticket.refresh_from_db()
    assert ticket.first_response_at == first.created_at


def test_an_internal_note_never_sets_first_response_at(ticket, agent_user):
    note = ticket_add_note(ticket=ticket, author=agent_user, body="Customer is a VIP")

    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.status == Status.NEW
    assert (note.kind, note.is_public, note.author_agent) == (
        Message.Kind.NOTE,
        False,
        agent_user,
    )
    assert trail(ticket)[-1] == (Kind.NOTE, agent_user, "", "")


def test_a_customer_message_never_sets_first_response_at(ticket):
    message = ticket_customer_reply(ticket=ticket, body="Any news?")

    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert message.from_customer
    assert message.author_agent is None
    assert trail(ticket)[-1] == (Kind.CUSTOMER_REPLIED, None, "", "")


def test_a_reply_after_a_note_is_the_first_response(ticket, agent_user):
    ticket_add_note(ticket=ticket, author=agent_user, body="Checking")
    ticket_customer_reply(ticket=ticket, body="Hello?")

    reply = ticket_reply(ticket=ticket, author=agent_user, body="Here")

    ticket.refresh_from_db()
    assert ticket.first_response_at == reply.created_at


def test_a_reply_to_a_pending_ticket_keeps_it_pending(agent_user):
    ticket = ticket_in(Status.PENDING, actor=agent_user)

    ticket_reply(ticket=ticket, author=agent_user, body="Still waiting on you")

    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_an_empty_reply_or_note_is_refused(ticket, agent_user, body):
    for action in (
        lambda: ticket_reply(ticket=ticket, author=agent_user, body=body),
        lambda: ticket_add_note(ticket=ticket, author=agent_user, body=body),
        lambda: ticket_customer_reply(ticket=ticket, body=body),
    ):
        assert_refused(
            ticket, action, error=ValidationError, message="Write a message before sending."
        )


def test_a_customer_reply_to_a_solved_ticket_reopens_it(agent_user):
    ticket = ticket_in(Status.SOLVED, actor=agent_user)

    ticket_customer_reply(ticket=ticket, body="It's still broken")

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.reopen_count == 1
    assert (ticket.solved_at, ticket.solved_by) == (None, None)
    assert trail(ticket)[-2:] == [
        (Kind.CUSTOMER_REPLIED, None, "", ""),
        (Kind.REOPENED, None, Status.SOLVED, Status.OPEN),
    ]


def test_a_customer_reply_to_a_pending_ticket_sets_it_open(agent_user):
    ticket = ticket_in(Status.PENDING, actor=agent_user)

    ticket_customer_reply(ticket=ticket, body="Here is the invoice")

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.reopen_count == 0
    assert trail(ticket)[-2:] == [
        (Kind.CUSTOMER_REPLIED, None, "", ""),
        (Kind.STATUS_CHANGED, None, Status.PENDING, Status.OPEN),
    ]


@pytest.mark.parametrize("status", [Status.NEW, Status.OPEN])
def test_a_customer_reply_to_an_unresolved_ticket_keeps_its_status(agent_user, status):
    ticket = ticket_in(status, actor=agent_user)

    ticket_customer_reply(ticket=ticket, body="More details")

    ticket.refresh_from_db()
    assert ticket.status == status
    assert kinds(ticket)[-1] == Kind.CUSTOMER_REPLIED


def test_a_customer_reply_brings_the_ticket_up_the_queue(agent_user):
    ticket = ticket_in(Status.OPEN, actor=agent_user)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now() - timedelta(days=2))

    ticket_customer_reply(ticket=ticket, body="Hello?")

    ticket.refresh_from_db()
    assert ticket.updated_at > timezone.now() - timedelta(minutes=1)


# --- refusals on a closed ticket --------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            lambda t, a: ticket_reply(ticket=t, author=a, body="Hi"),
            "is closed: replying is not possible.",
        ),
        (
            lambda t, a: ticket_customer_reply(ticket=t, body="Hi"),
            "is closed: replying is not possible.",
        ),
        (
            lambda t, a: ticket_add_note(ticket=t, author=a, body="Hi"),
            "is closed: adding a note is not possible.",
        ),
        (
            lambda t, a: ticket_assign(ticket=t, assignee=None, actor=a),
            "is closed: assigning is not possible.",
        ),
        (
            lambda t, a: ticket_set_priority(ticket=t, priority="urgent", actor=a),
            "is closed: changing the priority is not possible.",
        ),
        (lambda t, a: ticket_close(ticket=t, actor=a), "is already closed."),
        (lambda t, a: ticket_solve(ticket=t, actor=a), "is already Closed."),
    ],
    ids=["reply", "customer-reply", "note", "assign", "priority", "close", "solve"],
)
def test_a_closed_ticket_refuses_changes_and_stays_as_it_was(agent_user, team, action, message):
    ticket = ticket_in(Status.CLOSED, actor=agent_user)
    # Assigned, so that unassigning it would be a real change if it were allowed.
    Ticket.objects.filter(pk=ticket.pk).update(team=team, assignee=agent_user)

    assert_refused(ticket, lambda: action(ticket, agent_user), message=f"{ticket.reference} ")
    assert_refused(ticket, lambda: action(ticket, agent_user), message=message)


# --- assignment ----------------------------------------------------------------------


def test_assigning_a_new_ticket_opens_it(ticket, team, agent_user, manager_user):
    Ticket.objects.filter(pk=ticket.pk).update(team=team)

    ticket_assign(ticket=ticket, assignee=agent_user, actor=manager_user)

    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (agent_user, Status.OPEN)
    assert trail(ticket) == [
        (Kind.ASSIGNED, manager_user, "", agent_user.username),
        (Kind.STATUS_CHANGED, manager_user, Status.NEW, Status.OPEN),
    ]


def test_reassigning_records_who_had_it_and_who_has_it(team, agent_user, manager_user):
    colleague = agent(username="colleague")
    team.members.add(colleague)
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    ticket_assign(ticket=ticket, assignee=colleague, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.assignee == colleague
    assert trail(ticket)[-1] == (Kind.ASSIGNED, manager_user, "agent", "colleague")


def test_unassigning_keeps_the_ticket_open(team, agent_user, manager_user):
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    ticket_assign(ticket=ticket, assignee=None, actor=manager_user)

    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (None, Status.OPEN)
    assert trail(ticket)[-1] == (Kind.ASSIGNED, manager_user, "agent", "")


def test_moving_a_ticket_to_another_team_with_one_of_its_members(team, agent_user, manager_user):
    billing_agent = agent(username="billing-agent")
    billing = TeamFactory(name="Billing", members=[billing_agent])
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    ticket_assign(ticket=ticket, assignee=billing_agent, actor=manager_user, team=billing)

    ticket.refresh_from_db()
    assert (ticket.team, ticket.assignee) == (billing, billing_agent)
    assert trail(ticket)[-2:] == [
        (Kind.TEAM_CHANGED, manager_user, "Support", "Billing"),
        (Kind.ASSIGNED, manager_user, "agent", "billing-agent"),
    ]


def test_the_assignee_must_be_a_member_of_the_tickets_team(team, agent_user, manager_user):
    outsider = agent(username="outsider")
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team)

    assert_refused(
        ticket,
        lambda: ticket_assign(ticket=ticket, assignee=outsider, actor=manager_user),
        error=ValidationError,
        message="outsider is not a member of team Support.",
    )


def test_moving_to_a_team_the_assignee_is_not_in_is_refused(team, agent_user, manager_user):
    billing = TeamFactory(name="Billing")
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    assert_refused(
        ticket,
        lambda: ticket_assign(ticket=ticket, assignee=agent_user, actor=manager_user, team=billing),
        error=ValidationError,
        message="agent is not a member of team Billing.",
    )


def test_without_a_team_anybody_may_be_assigned(ticket, manager_user):
    anybody = agent(username="anybody")

    ticket_assign(ticket=ticket, assignee=anybody, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.assignee == anybody


def test_assigning_the_same_way_again_is_refused(team, agent_user, manager_user):
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    assert_refused(
        ticket,
        lambda: ticket_assign(ticket=ticket, assignee=agent_user, actor=manager_user),
        message="The ticket is already assigned that way.",
    )


# --- priority ------------------------------------------------------------------------


def test_changing_the_priority_records_from_and_to(ticket, agent_user):
    ticket_set_priority(ticket=ticket, priority=Ticket.Priority.URGENT, actor=agent_user)

    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.URGENT
    assert trail(ticket) == [
        (Kind.PRIORITY_CHANGED, agent_user, Ticket.Priority.NORMAL, Ticket.Priority.URGENT)
    ]


def test_the_same_priority_again_is_refused(ticket, agent_user):
    assert_refused(
        ticket,
        lambda: ticket_set_priority(ticket=ticket, priority="normal", actor=agent_user),
        message="The ticket already has that priority.",
    )


def test_an_unknown_priority_is_refused(ticket, agent_user):
    assert_refused(
        ticket,
        lambda: ticket_set_priority(ticket=ticket, priority="asap", actor=agent_user),
        error=ValidationError,
        message="Unknown priority “asap”.",
    )


# --- status transitions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target", "new_events"),
    [
        (Status.NEW, Status.OPEN, [(Kind.STATUS_CHANGED, Status.NEW, Status.OPEN)]),
        (Status.NEW, Status.PENDING, [(Kind.STATUS_CHANGED, Status.NEW, Status.PENDING)]),
        (Status.NEW, Status.SOLVED, [(Kind.SOLVED, Status.NEW, Status.SOLVED)]),
        (
            Status.NEW,
            Status.CLOSED,
            [(Kind.SOLVED, Status.NEW, Status.SOLVED), (Kind.CLOSED, Status.SOLVED, Status.CLOSED)],
        ),
        (Status.OPEN, Status.PENDING, [(Kind.STATUS_CHANGED, Status.OPEN, Status.PENDING)]),
        (Status.OPEN, Status.SOLVED, [(Kind.SOLVED, Status.OPEN, Status.SOLVED)]),
        (
            Status.OPEN,
            Status.CLOSED,
            [
                (Kind.SOLVED, Status.OPEN, Status.SOLVED),
                (Kind.CLOSED, Status.SOLVED, Status.CLOSED),
            ],
        ),
        (Status.PENDING, Status.OPEN, [(Kind.STATUS_CHANGED, Status.PENDING, Status.OPEN)]),
        (Status.PENDING, Status.SOLVED, [(Kind.SOLVED, Status.PENDING, Status.SOLVED)]),
        (
            Status.PENDING,
            Status.CLOSED,
            [
                (Kind.SOLVED, Status.PENDING, Status.SOLVED),
                (Kind.CLOSED, Status.SOLVED, Status.CLOSED),
            ],
        ),
        (Status.SOLVED, Status.OPEN, [(Kind.REOPENED, Status.SOLVED, Status.OPEN)]),
        (
            Status.SOLVED,
            Status.PENDING,
            [
                (Kind.REOPENED, Status.SOLVED, Status.OPEN),
                (Kind.STATUS_CHANGED, Status.OPEN, Status.PENDING),
            ],
        ),
        (Status.SOLVED, Status.CLOSED, [(Kind.CLOSED, Status.SOLVED, Status.CLOSED)]),
    ],
)
def test_allowed_status_changes_move_the_ticket_and_leave_an_audit_row(
    agent_user, manager_user, start, target, new_events
):
    ticket = ticket_in(start, actor=agent_user)
    before = len(trail(ticket))

    ticket_set_status(ticket=ticket, status=target, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.status == target
    assert trail(ticket)[before:] == [
        (kind, manager_user, from_value, to_value) for kind, from_value, to_value in new_events
    ]
    assert (ticket.solved_at is not None) == (target in (Status.SOLVED, Status.CLOSED))
    assert (ticket.closed_at is not None) == (target == Status.CLOSED)


@pytest.mark.parametrize(
    ("start", "target", "message"),
    [
        (Status.NEW, Status.NEW, "The ticket is already New."),
        (Status.OPEN, Status.OPEN, "The ticket is already Open."),
        (Status.PENDING, Status.PENDING, "The ticket is already Pending."),
        (Status.OPEN, Status.NEW, "A ticket cannot go back to New."),
        (Status.PENDING, Status.NEW, "A ticket cannot go back to New."),
        (Status.SOLVED, Status.NEW, "A ticket cannot go back to New."),
        (Status.SOLVED, Status.SOLVED, "is already Solved."),
        (Status.CLOSED, Status.CLOSED, "is already closed."),
        (Status.CLOSED, Status.SOLVED, "is already Closed."),
        (Status.CLOSED, Status.OPEN, "is closed: changing the status is not possible."),
        (Status.CLOSED, Status.PENDING, "is closed: changing the status is not possible."),
        (Status.CLOSED, Status.NEW, "is closed: changing the status is not possible."),
    ],
)
def test_refused_status_changes_say_why_and_change_nothing(
    agent_user, manager_user, start, target, message
):
    ticket = ticket_in(start, actor=agent_user)

    assert_refused(
        ticket,
        lambda: ticket_set_status(ticket=ticket, status=target, actor=manager_user),
        message=message,
    )


def test_an_unknown_status_is_refused(ticket, agent_user):
    assert_refused(
        ticket,
        lambda: ticket_set_status(ticket=ticket, status="archived", actor=agent_user),
        error=ValidationError,
        message="Unknown status “archived”.",
    )


# --- solve, close, reopen ------------------------------------------------------------


def test_solving_credits_the_assignee_not_the_actor(team, agent_user, manager_user):
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    ticket_solve(ticket=ticket, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert ticket.solved_by == agent_user
    assert ticket.solved_at is not None
    assert trail(ticket)[-1] == (Kind.SOLVED, manager_user, Status.OPEN, Status.SOLVED)


def test_solving_an_unassigned_ticket_credits_the_actor(ticket, manager_user):
    ticket_solve(ticket=ticket, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.solved_by == manager_user


def test_reassigning_a_solved_ticket_keeps_the_credit(team, agent_user, manager_user):
    colleague = agent(username="colleague")
    team.members.add(colleague)
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)
    ticket_solve(ticket=ticket, actor=agent_user)

    ticket_assign(ticket=ticket, assignee=colleague, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.solved_by == agent_user


@pytest.mark.parametrize("status", [Status.SOLVED, Status.CLOSED])
def test_solving_a_resolved_ticket_is_refused(agent_user, status):
    ticket = ticket_in(status, actor=agent_user)

    assert_refused(
        ticket,
        lambda: ticket_solve(ticket=ticket, actor=agent_user),
        message=f"Ticket {ticket.reference} is already {Status(status).label}.",
    )


def test_closing_an_open_ticket_solves_it_first_at_the_same_instant(team, agent_user, manager_user):
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)

    ticket_close(ticket=ticket, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    assert ticket.solved_at is not None
    assert ticket.solved_at == ticket.closed_at
    assert ticket.solved_by == agent_user
    assert trail(ticket)[-2:] == [
        (Kind.SOLVED, manager_user, Status.OPEN, Status.SOLVED),
        (Kind.CLOSED, manager_user, Status.SOLVED, Status.CLOSED),
    ]
    solved, closed = TicketEvent.objects.filter(ticket=ticket).order_by("-id")[:2][::-1]
    assert solved.created_at == closed.created_at == ticket.closed_at


def test_closing_a_solved_ticket_keeps_when_it_was_solved(agent_user, manager_user):
    ticket = ticket_in(Status.SOLVED, actor=agent_user)
    solved_at = ticket.solved_at

    ticket_close(ticket=ticket, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.solved_at == solved_at
    assert ticket.closed_at >= solved_at
    assert ticket.solved_by == agent_user
    assert kinds(ticket).count(Kind.SOLVED) == 1
    assert trail(ticket)[-1] == (Kind.CLOSED, manager_user, Status.SOLVED, Status.CLOSED)


def test_closing_a_ticket_twice_is_refused(agent_user):
    ticket = ticket_in(Status.CLOSED, actor=agent_user)

    assert_refused(
        ticket,
        lambda: ticket_close(ticket=ticket, actor=agent_user),
        message=f"Ticket {ticket.reference} is already closed.",
    )


@pytest.mark.parametrize("status", [Status.SOLVED, Status.CLOSED])
def test_reopening_a_resolved_ticket_clears_its_resolution_and_counts(
    agent_user, manager_user, status
):
    ticket = ticket_in(status, actor=agent_user)

    ticket_reopen(ticket=ticket, actor=manager_user)

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.reopen_count == 1
    assert (ticket.solved_at, ticket.closed_at, ticket.solved_by) == (None, None, None)
    assert trail(ticket)[-1] == (Kind.REOPENED, manager_user, status, Status.OPEN)


def test_each_reopening_counts(agent_user):
    ticket = ticket_in(Status.SOLVED, actor=agent_user)
    ticket_reopen(ticket=ticket, actor=agent_user)
    ticket_close(ticket=ticket, actor=agent_user)

    ticket_reopen(ticket=ticket, actor=agent_user)

    ticket.refresh_from_db()
    assert ticket.reopen_count == 2
    assert kinds(ticket).count(Kind.REOPENED) == 2


@pytest.mark.parametrize("status", [Status.NEW, Status.OPEN, Status.PENDING])
def test_reopening_an_unresolved_ticket_is_refused(agent_user, status):
    ticket = ticket_in(status, actor=agent_user)

    assert_refused(
        ticket,
        lambda: ticket_reopen(ticket=ticket, actor=agent_user),
        message="Only a solved or closed ticket can be reopened.",
    )


def test_a_reopened_and_solved_again_ticket_credits_the_new_solver(team, agent_user):
    colleague = agent(username="colleague")
    team.members.add(colleague)
    ticket = ticket_in(Status.OPEN, actor=agent_user, team=team, assignee=agent_user)
    ticket_solve(ticket=ticket, actor=agent_user)
    ticket_reopen(ticket=ticket, actor=agent_user)
    ticket_assign(ticket=ticket, assignee=colleague, actor=agent_user)

    ticket_solve(ticket=ticket, actor=colleague)

    ticket.refresh_from_db()
    assert ticket.solved_by == colleague


# --- import --------------------------------------------------------------------------


def import_fields(customer, **overrides):
    created_at = timezone.now() - timedelta(days=30)
    fields = {
        "external_id": "ZD-1",
        "customer": customer,
        "subject": "Imported",
        "channel": "email",
        "priority": Ticket.Priority.NORMAL,
        "category": "billing",
        "team": None,
        "assignee": None,
        "created_at": created_at,
        "first_response_at": created_at + timedelta(hours=2),
        "solved_at": created_at + timedelta(days=1),
        "closed_at": created_at + timedelta(days=3),
        "reopen_count": 1,
    }
    return fields | overrides


def test_ticket_import_upsert_creates_a_ticket_with_the_sources_timestamps(customer, team):
    member = agent(username="member")
    team.members.add(member)
    fields = import_fields(customer, team=team, assignee=member)

    ticket, created = ticket_import_upsert(**fields)

    assert created
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    for name in ("created_at", "first_response_at", "solved_at", "closed_at", "reopen_count"):
        assert getattr(ticket, name) == fields[name], name
    assert ticket.solved_by == member
    assert trail(ticket) == [(Kind.IMPORTED, None, "", Status.CLOSED)]


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"closed_at": None}, Status.SOLVED),
        ({"closed_at": None, "solved_at": None}, Status.OPEN),
        ({"closed_at": None, "solved_at": None, "first_response_at": None}, Status.NEW),
    ],
)
def test_an_imported_tickets_status_follows_from_its_timestamps(customer, overrides, status):
    ticket, _ = ticket_import_upsert(**import_fields(customer, **overrides))

    assert ticket.status == status


def test_ticket_import_upsert_updates_without_duplicating(customer):
    ticket_import_upsert(**import_fields(customer))
    fields = import_fields(customer, subject="Renamed")

    ticket, created = ticket_import_upsert(**fields)

    assert not created
    assert Ticket.objects.filter(external_id="ZD-1").count() == 1
    ticket.refresh_from_db()
    assert ticket.subject == "Renamed"
    assert kinds(ticket) == [Kind.IMPORTED, Kind.IMPORTED]


def test_reimporting_an_unchanged_ticket_writes_no_event(customer):
    fields = import_fields(customer)
    first, _ = ticket_import_upsert(**fields)

    again, created = ticket_import_upsert(**fields)

    assert not created
    assert again.pk == first.pk
    assert Ticket.objects.count() == 1
    assert kinds(again) == [Kind.IMPORTED]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"first_response_at": timezone.now() - timedelta(days=31)},
            "first_response_at",
            "It is earlier than created_at.",
        ),
        (
            {"solved_at": timezone.now() - timedelta(days=31), "closed_at": None},
            "solved_at",
            "It is earlier than created_at.",
        ),
        (
            {"solved_at": None},
            "closed_at",
            "A closed ticket needs a solved_at no later than closed_at.",
        ),
        (
            {"closed_at": timezone.now() - timedelta(days=29, hours=12)},
            "closed_at",
            "A closed ticket needs a solved_at no later than closed_at.",
        ),
    ],
    ids=["answered-before-created", "solved-before-created", "closed-unsolved", "closed-early"],
)
def test_ticket_import_upsert_refuses_inconsistent_timestamps(customer, overrides, field, message):
    with pytest.raises(ValidationError) as excinfo:
        ticket_import_upsert(**import_fields(customer, **overrides))

    assert excinfo.value.message_dict[field] == [message]
    assert not Ticket.objects.exists()
    assert not TicketEvent.objects.exists()


def test_ticket_import_upsert_refuses_inconsistent_timestamps_for_an_existing_ticket(customer):
    ticket, _ = ticket_import_upsert(**import_fields(customer))

    assert_refused(
        ticket,
        lambda: ticket_import_upsert(**import_fields(customer, solved_at=None)),
        error=ValidationError,
        message="A closed ticket needs a solved_at no later than closed_at.",
    )


def test_ticket_import_upsert_refuses_an_assignee_outside_the_team(customer, team):
    outsider = agent(username="outsider")

    with pytest.raises(ValidationError) as excinfo:
        ticket_import_upsert(**import_fields(customer, team=team, assignee=outsider))

    assert "assignee" in excinfo.value.message_dict
    assert not Ticket.objects.exists()


def test_ticket_import_upsert_refuses_a_blank_external_id_rather_than_overwrite_a_ticket(
    customer,
):
    live = TicketFactory(customer=customer, external_id="")

    assert_refused(
        live,
        lambda: ticket_import_upsert(**import_fields(customer, external_id="")),
        error=ValidationError,
        message="An imported ticket needs an external id.",
    )
    assert Ticket.objects.count() == 1


def test_a_manager_may_act_on_tickets_like_an_agent(ticket):
    boss = manager(username="boss")

    ticket_reply(ticket=ticket, author=boss, body="Hello from the manager")
    ticket_close(ticket=ticket, actor=boss)

    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    assert ticket.solved_by == boss
