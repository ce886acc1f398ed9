"""The periodic sweeps Celery beat runs: SLA breaches and auto-closing solved tickets."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from accounts.tests.factories import agent, manager
from customers.tests.factories import CustomerFactory
from tickets import services, signals, tasks
from tickets.models import Notification, SLAPolicy, Team, Ticket, TicketEvent
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=MADRID)
Kind = TicketEvent.Kind


@pytest.fixture
def lead():
    return manager(username="lead")


@pytest.fixture
def ana():
    return agent(username="ana")


@pytest.fixture
def team(ana, lead) -> Team:
    return TeamFactory(name="Billing", members=[ana], lead=lead)


@pytest.fixture
def policy() -> SLAPolicy:
    """Calendar hours: first response within 1 h, resolution within 4 h."""
    return SLAPolicy.objects.create(
        name="Normal",
        priority=Ticket.Priority.NORMAL,
        first_response_minutes=60,
        resolution_minutes=4 * 60,
    )


def _open(team: Team | None = None, assignee=None) -> Ticket:
    return services.ticket_create(
        customer=CustomerFactory(), subject="Charged twice", team=team, assignee=assignee
    )


def _breach_events(ticket: Ticket) -> list[str]:
    return list(ticket.events.filter(kind=Kind.SLA_BREACHED).values_list("to_value", flat=True))


def test_an_overdue_first_response_is_flagged_once_and_people_are_told(
    time_machine, policy, team, ana, lead
):
    time_machine.move_to(MONDAY_10, tick=False)
    ticket = _open(team, assignee=ana)
    time_machine.shift(timedelta(minutes=61))

    assert tasks.mark_sla_breaches.delay().get() == 1

    ticket.refresh_from_db()
    assert ticket.first_response_breached is True
    assert ticket.resolution_breached is False
    assert _breach_events(ticket) == ["first_response"]
    notified = Notification.objects.filter(ticket=ticket, kind=Notification.Kind.SLA_BREACH)
    assert sorted(notified.values_list("user__username", flat=True)) == ["ana", "lead"]

    time_machine.shift(timedelta(minutes=5))
    assert services.sla_mark_breaches() == 0
    assert _breach_events(ticket) == ["first_response"]
    assert notified.count() == 2


def test_an_overdue_resolution_is_flagged_separately_from_the_first_response(
    time_machine, policy, team, ana
):
    time_machine.move_to(MONDAY_10, tick=False)
    ticket = _open(team, assignee=ana)
    time_machine.shift(timedelta(minutes=30))
    services.ticket_reply(ticket=ticket, author=ana, body="Looking into it.")
    time_machine.shift(timedelta(hours=4))

    assert services.sla_mark_breaches() == 1

    ticket.refresh_from_db()
    assert (ticket.first_response_breached, ticket.resolution_breached) == (False, True)
    assert _breach_events(ticket) == ["resolution"]


def test_a_lead_who_is_also_the_assignee_is_told_once(time_machine, policy, lead):
    team = TeamFactory(name="Escalations", members=[lead], lead=lead)
    time_machine.move_to(MONDAY_10, tick=False)
    _open(team, assignee=lead)
    time_machine.shift(timedelta(hours=2))

    services.sla_mark_breaches()

    assert Notification.objects.filter(user=lead).count() == 1


def test_an_unassigned_ticket_without_a_team_is_flagged_without_notifying_anybody(
    time_machine, policy
):
    time_machine.move_to(MONDAY_10, tick=False)
    ticket = _open()
    time_machine.shift(timedelta(hours=2))

    assert services.sla_mark_breaches() == 1

    ticket.refresh_from_db()
    assert ticket.first_response_breached is True
    assert not Notification.objects.exists()


def test_tickets_answered_solved_paused_or_not_yet_due_are_left_alone(
    time_machine, policy, team, ana
):
    time_machine.move_to(MONDAY_10, tick=False)
    answered = _open(team, assignee=ana)
    solved = _open(team, assignee=ana)
    pending = _open(team, assignee=ana)
    time_machine.shift(timedelta(minutes=30))
    services.ticket_reply(ticket=answered, author=ana, body="Looking into it.")
    services.ticket_reply(ticket=solved, author=ana, body="Refunded.")
    services.ticket_solve(ticket=solved, actor=ana)
    services.ticket_reply(ticket=pending, author=ana, body="Which card was it?")
    services.ticket_set_status(ticket=pending, status=Ticket.Status.PENDING, actor=ana)
    time_machine.shift(timedelta(minutes=40))
    not_yet_due = _open(team, assignee=ana)
    time_machine.shift(timedelta(hours=1))  # everything above is past its first hour

    assert services.sla_mark_breaches() == 0

    for ticket in (answered, solved, pending, not_yet_due):
        ticket.refresh_from_db()
        assert not ticket.first_response_breached
        assert not ticket.resolution_breached
        assert _breach_events(ticket) == []
    assert not Notification.objects.filter(kind=Notification.Kind.SLA_BREACH).exists()


def test_tickets_without_a_policy_never_breach(time_machine, team, ana):
    time_machine.move_to(MONDAY_10, tick=False)
    ticket = _open(team, assignee=ana)
    time_machine.shift(timedelta(days=30))

    assert services.sla_mark_breaches() == 0
    ticket.refresh_from_db()
    assert not ticket.first_response_breached


@pytest.fixture
def closed_signals():
    received: list[tuple[int, object]] = []

    def receiver(sender, ticket, actor, **kwargs):
        received.append((ticket.pk, actor))

    signals.ticket_closed.connect(receiver, dispatch_uid="test_sweeps_closed")
    yield received
    signals.ticket_closed.disconnect(dispatch_uid="test_sweeps_closed")


def _solved(ana, solved_days_ago: float, time_machine) -> Ticket:
    time_machine.move_to(MONDAY_10 - timedelta(days=solved_days_ago), tick=False)
    ticket = _open()
    services.ticket_solve(ticket=ticket, actor=ana)
    return ticket


@override_settings(CXM_AUTO_CLOSE_DAYS=4)
def test_solved_tickets_older_than_the_setting_close_by_themselves(
    time_machine, ana, closed_signals
):
    old = _solved(ana, 4.1, time_machine)
    recent = _solved(ana, 3.9, time_machine)
    still_open = _open()
    time_machine.move_to(MONDAY_10, tick=False)

    assert tasks.auto_close_solved_tickets.delay().get() == 1

    for ticket in (old, recent, still_open):
        ticket.refresh_from_db()
    assert old.status == Ticket.Status.CLOSED
    assert old.closed_at == MONDAY_10
    assert recent.status == Ticket.Status.SOLVED
    assert still_open.status == Ticket.Status.NEW
    closing = old.events.get(kind=Kind.CLOSED)
    assert closing.actor is None
    assert closed_signals == [(old.pk, None)]

    assert services.tickets_auto_close() == 0
    assert closed_signals == [(old.pk, None)]


@override_settings(CXM_AUTO_CLOSE_DAYS=4)
def test_a_customer_reply_restarts_the_wait_for_auto_close(time_machine, ana, closed_signals):
    ticket = _solved(ana, 10, time_machine)
    time_machine.move_to(MONDAY_10 - timedelta(days=2), tick=False)
    services.ticket_customer_reply(ticket=ticket, body="It happened again.")
    services.ticket_solve(ticket=ticket, actor=ana)
    time_machine.move_to(MONDAY_10, tick=False)

    assert services.tickets_auto_close() == 0
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.SOLVED
    assert ticket.reopen_count == 1


@override_settings(CXM_AUTO_CLOSE_DAYS=0)
def test_zero_days_turns_auto_close_off(time_machine, ana, closed_signals):
    ticket = _solved(ana, 365, time_machine)
    time_machine.move_to(MONDAY_10, tick=False)

    assert services.tickets_auto_close() == 0

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.SOLVED
    assert closed_signals == []
