"""Auto-assignment: new tickets of a team go to its available agents by the team's
strategy, and an agent stepping away hands their open work on."""

import pytest

from accounts.tests.factories import agent, manager
from customers.tests.factories import CustomerFactory
from tickets import services
from tickets.models import Notification, Team, Ticket, TicketEvent
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def _agents(*names: str, **overrides) -> list:
    """Agents created in the order given, so their ids ascend in that order."""
    return [agent(username=name, **overrides) for name in names]


def _open(team: Team | None, **kwargs) -> Ticket:
    return services.ticket_create(
        customer=CustomerFactory(), subject="My order never arrived", team=team, **kwargs
    )


def _assignees(tickets: list[Ticket]) -> list[str | None]:
    return [ticket.assignee.username if ticket.assignee else None for ticket in tickets]


def test_round_robin_cycles_through_the_available_agents_in_order():
    ana, bea, carla = _agents("ana", "bea", "carla")
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana, bea, carla])

    tickets = [_open(team) for _ in range(5)]

    assert _assignees(tickets) == ["ana", "bea", "carla", "ana", "bea"]
    assert {ticket.status for ticket in tickets} == {Ticket.Status.OPEN}


def test_round_robin_skips_unavailable_and_deactivated_agents():
    ana, bea, carla, dora = _agents("ana", "bea", "carla", "dora")
    bea.is_available = False
    bea.save()
    dora.is_active = False
    dora.save()
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana, bea, carla, dora])

    tickets = [_open(team) for _ in range(4)]

    assert _assignees(tickets) == ["ana", "carla", "ana", "carla"]


def test_round_robin_continues_after_the_last_agent_even_when_they_step_away():
    ana, bea, carla = _agents("ana", "bea", "carla")
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana, bea, carla])
    first, second = _open(team), _open(team)
    services.ticket_solve(ticket=second, actor=bea)
    services.agent_set_availability(agent=bea, available=False, actor=bea)

    third = _open(team)

    assert _assignees([first, second, third]) == ["ana", "bea", "carla"]


def test_least_open_picks_the_agent_with_fewest_unresolved_tickets():
    ana, bea, carla = _agents("ana", "bea", "carla")
    team = TeamFactory(assignment=Team.Assignment.LEAST_OPEN, members=[ana, bea, carla])
    for owner, count in ((ana, 2), (bea, 3), (carla, 1)):
        for _ in range(count):
            _open(team, assignee=owner)
    # Bea's tickets are mostly done: only unresolved tickets count.
    for resolved in Ticket.objects.filter(assignee=bea)[:2]:
        services.ticket_solve(ticket=resolved, actor=bea)

    ticket = _open(team)

    assert ticket.assignee == bea


def test_least_open_breaks_ties_by_the_lowest_id():
    ana, bea, carla = _agents("ana", "bea", "carla")
    team = TeamFactory(assignment=Team.Assignment.LEAST_OPEN, members=[ana, bea, carla])
    _open(team, assignee=ana)

    tickets = [_open(team) for _ in range(3)]

    assert _assignees(tickets) == ["bea", "carla", "ana"]


def test_least_open_ignores_unavailable_agents_even_with_an_empty_queue():
    ana, bea = _agents("ana", "bea")
    bea.is_available = False
    bea.save()
    team = TeamFactory(assignment=Team.Assignment.LEAST_OPEN, members=[ana, bea])
    _open(team, assignee=ana)

    assert _open(team).assignee == ana


def test_a_manual_team_leaves_new_tickets_unassigned():
    (ana,) = _agents("ana")
    team = TeamFactory(assignment=Team.Assignment.MANUAL, members=[ana])

    ticket = _open(team)

    assert ticket.assignee is None
    assert ticket.status == Ticket.Status.NEW
    assert not Notification.objects.exists()


@pytest.mark.parametrize("strategy", [Team.Assignment.ROUND_ROBIN, Team.Assignment.LEAST_OPEN])
def test_nobody_available_leaves_the_ticket_unassigned_for_the_team(strategy):
    ana, bea = _agents("ana", "bea", is_available=False)
    team = TeamFactory(assignment=strategy, members=[ana, bea])

    ticket = _open(team)

    assert ticket.assignee is None
    assert ticket.team == team
    assert ticket.status == Ticket.Status.NEW


def test_an_explicit_assignee_wins_over_the_teams_strategy():
    ana, bea = _agents("ana", "bea")
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana, bea])

    ticket = _open(team, assignee=bea)

    assert ticket.assignee == bea
    assert not Notification.objects.filter(user=bea).exists()


def test_an_auto_assigned_agent_is_notified_in_their_language():
    (ana,) = _agents("ana", language="es")
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana])

    ticket = _open(team)

    notification = Notification.objects.get(user=ana)
    assert notification.ticket == ticket
    assert notification.kind == Notification.Kind.ASSIGNED
    assert ticket.reference in notification.text
    assert TicketEvent.objects.filter(
        ticket=ticket, kind=TicketEvent.Kind.ASSIGNED, to_value="ana"
    ).exists()


def test_going_unavailable_hands_open_tickets_of_auto_teams_to_the_next_agent():
    ana, bea, carla = _agents("ana", "bea", "carla")
    lead = manager(username="lead")
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana, bea, carla])
    manual_team = TeamFactory(assignment=Team.Assignment.MANUAL, members=[ana])
    pending = _open(team, assignee=ana)
    services.ticket_set_status(ticket=pending, status=Ticket.Status.PENDING, actor=ana)
    open_ticket = _open(team, assignee=ana)
    solved = _open(team, assignee=ana)
    services.ticket_solve(ticket=solved, actor=ana)
    manual = _open(manual_team, assignee=ana)
    no_team = _open(None, assignee=ana)

    moved = services.agent_set_availability(agent=ana, available=False, actor=lead)

    assert moved == 2
    ana.refresh_from_db()
    assert ana.is_available is False
    for ticket in (pending, open_ticket, solved, manual, no_team):
        ticket.refresh_from_db()
    assert _assignees([pending, open_ticket]) == ["bea", "carla"]
    assert pending.status == Ticket.Status.PENDING
    assert _assignees([solved, manual, no_team]) == ["ana", "ana", "ana"]
    handovers = TicketEvent.objects.filter(kind=TicketEvent.Kind.ASSIGNED, from_value="ana")
    assert {(event.ticket_id, event.actor, event.to_value) for event in handovers} == {
        (pending.pk, lead, "bea"),
        (open_ticket.pk, lead, "carla"),
    }
    assert Notification.objects.filter(user=bea, ticket=pending).count() == 1
    assert Notification.objects.filter(user=carla, ticket=open_ticket).count() == 1


def test_going_unavailable_with_nobody_to_take_over_leaves_the_tickets_with_the_team():
    ana, bea = _agents("ana", "bea")
    bea.is_available = False
    bea.save()
    team = TeamFactory(assignment=Team.Assignment.LEAST_OPEN, members=[ana, bea])
    ticket = _open(team)
    assert ticket.assignee == ana

    moved = services.agent_set_availability(agent=ana, available=False, actor=ana)

    ticket.refresh_from_db()
    assert moved == 1
    assert ticket.assignee is None
    assert ticket.team == team
    assert TicketEvent.objects.filter(
        ticket=ticket, kind=TicketEvent.Kind.ASSIGNED, from_value="ana", to_value=""
    ).exists()


def test_coming_back_moves_nothing_and_makes_the_agent_assignable_again():
    ana, bea = _agents("ana", "bea")
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN, members=[ana, bea])
    services.agent_set_availability(agent=ana, available=False, actor=ana)
    assert _assignees([_open(team), _open(team)]) == ["bea", "bea"]

    moved = services.agent_set_availability(agent=ana, available=True, actor=ana)

    assert moved == 0
    assert _assignees([_open(team), _open(team)]) == ["ana", "bea"]
