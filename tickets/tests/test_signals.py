"""ticket_solved, ticket_closed and ticket_reopened: sent once per event, with the ticket
and the actor, inside the service's transaction, so a receiver's writes commit or roll
back with the ticket."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from cxm.lib.exceptions import ApplicationError
from tickets import signals
from tickets.models import Message, Tag, Ticket, TicketEvent
from tickets.services import (
    ticket_add_note,
    ticket_assign,
    ticket_close,
    ticket_customer_reply,
    ticket_import_upsert,
    ticket_reopen,
    ticket_reply,
    ticket_set_priority,
    ticket_set_status,
    ticket_solve,
)
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

Status = Ticket.Status
NAMES = {
    signals.ticket_solved: "ticket_solved",
    signals.ticket_closed: "ticket_closed",
    signals.ticket_reopened: "ticket_reopened",
}


class SurveyFailed(Exception):
    """What a receiver in a later app might raise."""


@dataclass
class Heard:
    signal: str
    ticket_id: int
    actor: object
    # What the database held when the receiver ran: the change is already saved.
    status_in_db: str
    events_in_db: int


@pytest.fixture
def connect():
    """Connect receivers for one test only."""
    connected: list[tuple[Signal, Callable]] = []

    def _connect(signal: Signal, receiver: Callable) -> None:
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))

    yield _connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


@pytest.fixture
def heard(connect) -> list[Heard]:
    """Every announcement, in order."""
    announcements: list[Heard] = []

    def listener(signal, sender, ticket, actor, **kwargs):
        assert sender is Ticket
        # Only a reopening says more: the resolution it undid.
        if signal is signals.ticket_reopened:
            assert set(kwargs) == {"undone_solved_at"}
            assert kwargs["undone_solved_at"] is not None
        else:
            assert not kwargs
        announcements.append(
            Heard(
                signal=NAMES[signal],
                ticket_id=ticket.pk,
                actor=actor,
                status_in_db=Ticket.objects.get(pk=ticket.pk).status,
                events_in_db=TicketEvent.objects.filter(ticket_id=ticket.pk).count(),
            )
        )

    for signal in NAMES:
        connect(signal, listener)
    return announcements


def ticket_in(status: str, *, actor) -> Ticket:
    ticket = TicketFactory()
    if status in (Status.OPEN, Status.PENDING):
        ticket_set_status(ticket=ticket, status=status, actor=actor)
    elif status == Status.SOLVED:
        ticket_solve(ticket=ticket, actor=actor)
    elif status == Status.CLOSED:
        ticket_close(ticket=ticket, actor=actor)
    return ticket


def snapshot(ticket: Ticket) -> tuple:
    return (
        Ticket.objects.values().get(pk=ticket.pk),
        TicketEvent.objects.filter(ticket_id=ticket.pk).count(),
        Message.objects.filter(ticket_id=ticket.pk).count(),
    )


# --- who hears what ------------------------------------------------------------------


def test_solving_announces_ticket_solved_once_with_the_ticket_and_the_actor(
    ticket, manager_user, heard
):
    ticket_solve(ticket=ticket, actor=manager_user)

    assert heard == [Heard("ticket_solved", ticket.pk, manager_user, Status.SOLVED, events_in_db=1)]


def test_closing_an_open_ticket_announces_solved_then_closed_once_each(agent_user, heard):
    ticket = ticket_in(Status.OPEN, actor=agent_user)

    ticket_close(ticket=ticket, actor=agent_user)

    assert [(h.signal, h.ticket_id, h.actor, h.status_in_db) for h in heard] == [
        ("ticket_solved", ticket.pk, agent_user, Status.SOLVED),
        ("ticket_closed", ticket.pk, agent_user, Status.CLOSED),
    ]
    # Each announcement comes after its own audit row.
    assert [h.events_in_db for h in heard] == [2, 3]


def test_closing_a_solved_ticket_announces_only_the_close(agent_user, manager_user, heard):
    ticket = ticket_in(Status.SOLVED, actor=agent_user)
    heard.clear()

    ticket_close(ticket=ticket, actor=manager_user)

    assert [(h.signal, h.actor) for h in heard] == [("ticket_closed", manager_user)]


@pytest.mark.parametrize("status", [Status.SOLVED, Status.CLOSED])
def test_reopening_announces_ticket_reopened_with_the_actor(
    agent_user, manager_user, heard, status
):
    ticket = ticket_in(status, actor=agent_user)
    heard.clear()

    ticket_reopen(ticket=ticket, actor=manager_user)

    assert [(h.signal, h.ticket_id, h.actor, h.status_in_db) for h in heard] == [
        ("ticket_reopened", ticket.pk, manager_user, Status.OPEN)
    ]


def test_a_customer_reply_that_reopens_announces_it_with_no_actor(agent_user, heard):
    ticket = ticket_in(Status.SOLVED, actor=agent_user)
    heard.clear()

    ticket_customer_reply(ticket=ticket, body="Still broken")

    assert [(h.signal, h.actor) for h in heard] == [("ticket_reopened", None)]


def test_setting_a_solved_ticket_back_to_pending_announces_the_reopening(agent_user, heard):
    ticket = ticket_in(Status.SOLVED, actor=agent_user)
    heard.clear()

    ticket_set_status(ticket=ticket, status=Status.PENDING, actor=agent_user)

    assert [(h.signal, h.status_in_db) for h in heard] == [("ticket_reopened", Status.OPEN)]


def test_set_status_announces_solved_and_closed_like_the_verbs(agent_user, heard):
    ticket = ticket_in(Status.OPEN, actor=agent_user)

    ticket_set_status(ticket=ticket, status=Status.SOLVED, actor=agent_user)
    ticket_set_status(ticket=ticket, status=Status.CLOSED, actor=agent_user)

    assert [h.signal for h in heard] == ["ticket_solved", "ticket_closed"]


def test_everyday_work_on_a_ticket_announces_nothing(team, agent_user, heard):
    ticket = ticket_in(Status.NEW, actor=agent_user)

    ticket_reply(ticket=ticket, author=agent_user, body="Hello")
    ticket_add_note(ticket=ticket, author=agent_user, body="Note")
    ticket_assign(ticket=ticket, assignee=agent_user, actor=agent_user, team=team)
    ticket_set_priority(ticket=ticket, priority=Ticket.Priority.HIGH, actor=agent_user)
    ticket_set_status(ticket=ticket, status=Status.PENDING, actor=agent_user)
    ticket_customer_reply(ticket=ticket, body="Here you are")

    assert heard == []


def test_refused_changes_announce_nothing(agent_user, heard):
    closed = ticket_in(Status.CLOSED, actor=agent_user)
    unresolved = ticket_in(Status.OPEN, actor=agent_user)
    heard.clear()

    for action in (
        lambda: ticket_close(ticket=closed, actor=agent_user),
        lambda: ticket_solve(ticket=closed, actor=agent_user),
        lambda: ticket_reopen(ticket=unresolved, actor=agent_user),
    ):
        with pytest.raises(ApplicationError):
            action()

    assert heard == []


def test_an_imported_resolved_ticket_announces_nothing(customer, heard):
    created_at = timezone.now() - timedelta(days=30)

    ticket_import_upsert(
        external_id="ZD-1",
        customer=customer,
        subject="Old",
        channel="email",
        priority="normal",
        category="",
        team=None,
        assignee=None,
        created_at=created_at,
        first_response_at=None,
        solved_at=created_at + timedelta(days=1),
        closed_at=created_at + timedelta(days=2),
        reopen_count=0,
    )

    assert heard == []


# --- inside the transaction ----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "signal", "action"),
    [
        (Status.OPEN, signals.ticket_solved, lambda t, a: ticket_solve(ticket=t, actor=a)),
        (Status.OPEN, signals.ticket_solved, lambda t, a: ticket_close(ticket=t, actor=a)),
        (Status.OPEN, signals.ticket_closed, lambda t, a: ticket_close(ticket=t, actor=a)),
        (Status.SOLVED, signals.ticket_closed, lambda t, a: ticket_close(ticket=t, actor=a)),
        (Status.CLOSED, signals.ticket_reopened, lambda t, a: ticket_reopen(ticket=t, actor=a)),
        (
            Status.SOLVED,
            signals.ticket_reopened,
            lambda t, a: ticket_customer_reply(ticket=t, body="Still broken"),
        ),
        (
            Status.SOLVED,
            signals.ticket_reopened,
            lambda t, a: ticket_set_status(ticket=t, status=Status.OPEN, actor=a),
        ),
    ],
    ids=[
        "solve",
        "close-failing-on-solved",
        "close-failing-on-closed",
        "close-solved",
        "reopen",
        "customer-reply",
        "set-status-open",
    ],
)
def test_a_receiver_that_raises_rolls_the_whole_change_back(
    agent_user, connect, start, signal, action
):
    ticket = ticket_in(start, actor=agent_user)
    before = snapshot(ticket)

    def fail(**kwargs):
        raise SurveyFailed

    connect(signal, fail)

    with pytest.raises(SurveyFailed):
        action(ticket, agent_user)

    # The ticket, its audit rows and its messages are as they were.
    assert snapshot(ticket) == before


def test_a_receivers_write_commits_with_the_ticket(ticket, agent_user, connect):
    def remember(ticket, **kwargs):
        Tag.objects.create(name=f"surveyed-{ticket.pk}")

    connect(signals.ticket_closed, remember)

    ticket_close(ticket=ticket, actor=agent_user)

    assert Ticket.objects.get(pk=ticket.pk).status == Status.CLOSED
    assert Tag.objects.filter(name=f"surveyed-{ticket.pk}").exists()


def test_a_receivers_write_rolls_back_when_a_later_receiver_fails(ticket, agent_user, connect):
    def remember(ticket, **kwargs):
        Tag.objects.create(name=f"surveyed-{ticket.pk}")

    def fail(**kwargs):
        raise SurveyFailed

    connect(signals.ticket_closed, remember)
    connect(signals.ticket_closed, fail)

    with pytest.raises(SurveyFailed):
        ticket_close(ticket=ticket, actor=agent_user)

    assert not Tag.objects.exists()
    assert Ticket.objects.get(pk=ticket.pk).status == Status.NEW
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


def test_after_commit_work_a_receiver_schedules_runs_once_the_ticket_is_saved(
    ticket, agent_user, connect, django_capture_on_commit_callbacks
):
    seen_by_the_task: list[str] = []

    def schedule_survey(ticket, **kwargs):
        ticket_id = ticket.pk
        transaction.on_commit(
            lambda: seen_by_the_task.append(Ticket.objects.get(pk=ticket_id).status)
        )

    connect(signals.ticket_closed, schedule_survey)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ticket_close(ticket=ticket, actor=agent_user)
        # Nothing leaves before the outermost transaction commits.
        assert seen_by_the_task == []

    assert len(callbacks) == 1
    assert seen_by_the_task == [Status.CLOSED]


def test_after_commit_work_is_dropped_when_the_change_rolls_back(
    ticket, agent_user, connect, django_capture_on_commit_callbacks
):
    sent: list[int] = []

    def schedule_survey(ticket, **kwargs):
        ticket_id = ticket.pk
        transaction.on_commit(lambda: sent.append(ticket_id))

    def fail(**kwargs):
        raise SurveyFailed

    connect(signals.ticket_closed, schedule_survey)
    connect(signals.ticket_closed, fail)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(SurveyFailed),
    ):
        ticket_close(ticket=ticket, actor=agent_user)

    assert callbacks == []
    assert sent == []
