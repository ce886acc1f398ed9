"""Bulk actions from the queue, the ticket page's properties form, and tags.

Every change, one ticket or many, leaves the same audit rows as a change by hand."""

import pytest
from django.core.exceptions import ValidationError

from accounts.tests.factories import agent, manager
from cxm.lib.exceptions import ApplicationError
from tickets import services
from tickets.models import Notification, Team, Ticket, TicketEvent
from tickets.services import BulkAction
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

Kind = TicketEvent.Kind
Status = Ticket.Status


@pytest.fixture
def ana():
    return agent(username="ana")


@pytest.fixture
def bea():
    return agent(username="bea")


@pytest.fixture
def lead():
    return manager(username="lead")


@pytest.fixture
def billing(ana, bea) -> Team:
    return TeamFactory(name="Billing", members=[ana, bea])


def _events(ticket: Ticket, kind: str) -> list[tuple[str, str, str]]:
    return [
        (event.actor.username if event.actor else "", event.from_value, event.to_value)
        for event in ticket.events.filter(kind=kind)
    ]


def _closed(actor) -> Ticket:
    ticket = TicketFactory()
    services.ticket_close(ticket=ticket, actor=actor)
    return ticket


def test_bulk_assign_gives_each_ticket_to_the_agent_and_audits_each(billing, ana, bea, lead):
    tickets = [TicketFactory(team=billing) for _ in range(3)]

    result = services.tickets_bulk_apply(
        tickets=tickets, action=BulkAction.ASSIGN, actor=lead, value=bea
    )

    assert result.changed == tickets
    assert result.refused == []
    for ticket in tickets:
        ticket.refresh_from_db()
        assert (ticket.assignee, ticket.status) == (bea, Status.OPEN)
        assert _events(ticket, Kind.ASSIGNED) == [("lead", "", "bea")]
        assert _events(ticket, Kind.STATUS_CHANGED) == [("lead", Status.NEW, Status.OPEN)]
    assert Notification.objects.filter(user=bea, kind=Notification.Kind.ASSIGNED).count() == 3


def test_bulk_assign_reports_the_tickets_it_cannot_change_and_changes_the_others(
    billing, ana, bea, lead
):
    fine = TicketFactory(team=billing)
    already_bea = TicketFactory(team=billing)
    services.ticket_assign(ticket=already_bea, assignee=bea, actor=lead)
    other_team = TicketFactory(team=TeamFactory(name="Sales"))
    closed = _closed(lead)

    result = services.tickets_bulk_apply(
        tickets=[fine, already_bea, other_team, closed],
        action=BulkAction.ASSIGN,
        actor=lead,
        value=bea,
    )

    assert result.changed == [fine]
    refused = {ticket.pk: message for ticket, message in result.refused}
    assert list(refused) == [already_bea.pk, other_team.pk, closed.pk]
    assert "already assigned" in refused[already_bea.pk]
    assert "not a member of team Sales" in refused[other_team.pk]
    assert closed.reference in refused[closed.pk]
    for ticket in (other_team, closed):
        ticket.refresh_from_db()
        assert ticket.assignee is None
        assert _events(ticket, Kind.ASSIGNED) == []
    fine.refresh_from_db()
    assert fine.assignee == bea


def test_bulk_set_status_moves_each_ticket_and_refuses_what_does_not_fit(ana, lead):
    new, open_ticket, pending, closed = (TicketFactory() for _ in range(4))
    services.ticket_assign(ticket=open_ticket, assignee=ana, actor=lead)
    services.ticket_set_status(ticket=pending, status=Status.PENDING, actor=lead)
    services.ticket_close(ticket=closed, actor=lead)

    result = services.tickets_bulk_apply(
        tickets=[new, open_ticket, pending, closed],
        action=BulkAction.SET_STATUS,
        actor=lead,
        value=Status.PENDING,
    )

    assert result.changed == [new, open_ticket]
    assert [ticket for ticket, _message in result.refused] == [pending, closed]
    new.refresh_from_db()
    open_ticket.refresh_from_db()
    assert (new.status, open_ticket.status) == (Status.PENDING, Status.PENDING)
    assert _events(open_ticket, Kind.STATUS_CHANGED)[-1] == ("lead", Status.OPEN, Status.PENDING)
    closed.refresh_from_db()
    assert closed.status == Status.CLOSED


def test_bulk_solving_goes_through_the_solve_verb(ana, lead):
    tickets = [TicketFactory(), TicketFactory()]

    result = services.tickets_bulk_apply(
        tickets=tickets, action=BulkAction.SET_STATUS, actor=lead, value=Status.SOLVED
    )

    assert result.changed == tickets
    for ticket in tickets:
        ticket.refresh_from_db()
        assert ticket.status == Status.SOLVED
        assert ticket.solved_at is not None
        assert ticket.solved_by == lead
        assert _events(ticket, Kind.SOLVED) == [("lead", Status.NEW, Status.SOLVED)]


def test_bulk_add_tag_keeps_the_tags_a_ticket_already_has(lead):
    tagged = TicketFactory()
    services.ticket_set_tags(ticket=tagged, tags=["billing"], actor=lead)
    bare = TicketFactory()

    result = services.tickets_bulk_apply(
        tickets=[tagged, bare], action=BulkAction.ADD_TAG, actor=lead, value="VIP customer"
    )

    assert result.changed == [tagged, bare]
    assert sorted(tagged.tags.values_list("name", flat=True)) == ["billing", "vip-customer"]
    assert list(bare.tags.values_list("name", flat=True)) == ["vip-customer"]
    assert _events(tagged, Kind.TAGS_CHANGED)[-1] == ("lead", "billing", "billing, vip-customer")
    assert _events(bare, Kind.TAGS_CHANGED) == [("lead", "", "vip-customer")]


def test_bulk_close_closes_the_open_ones_and_reports_the_closed_ones(lead):
    open_tickets = [TicketFactory(), TicketFactory()]
    closed = _closed(lead)

    result = services.tickets_bulk_apply(
        tickets=[*open_tickets, closed], action=BulkAction.CLOSE, actor=lead
    )

    assert result.changed == open_tickets
    assert [(ticket, "already closed" in message) for ticket, message in result.refused] == [
        (closed, True)
    ]
    for ticket in open_tickets:
        ticket.refresh_from_db()
        assert ticket.status == Status.CLOSED
        assert _events(ticket, Kind.CLOSED) == [("lead", Status.SOLVED, Status.CLOSED)]
    assert len(_events(closed, Kind.CLOSED)) == 1


def test_an_unknown_bulk_action_is_refused_and_changes_nothing(lead):
    ticket = TicketFactory()

    with pytest.raises(ValidationError):
        services.tickets_bulk_apply(tickets=[ticket], action="delete", actor=lead)

    assert Ticket.objects.filter(pk=ticket.pk, status=Status.NEW).exists()


def test_the_properties_form_changes_only_what_changed(billing, ana, lead):
    ticket = TicketFactory(team=billing)
    services.ticket_assign(ticket=ticket, assignee=ana, actor=lead)
    services.ticket_set_tags(ticket=ticket, tags=["refund"], actor=lead)
    before = set(ticket.events.values_list("pk", flat=True))

    services.ticket_update_properties(
        ticket=ticket,
        actor=lead,
        status=Status.OPEN,
        priority=Ticket.Priority.HIGH,
        assignee=ana,
        team=billing,
        tags=["refund"],
    )

    new_events = ticket.events.exclude(pk__in=before)
    assert [(event.kind, event.from_value, event.to_value) for event in new_events] == [
        (Kind.PRIORITY_CHANGED, Ticket.Priority.NORMAL, Ticket.Priority.HIGH)
    ]


def test_the_properties_form_with_nothing_changed_writes_nothing(billing, ana, lead):
    ticket = TicketFactory(team=billing)
    services.ticket_assign(ticket=ticket, assignee=ana, actor=lead)
    events = ticket.events.count()

    services.ticket_update_properties(
        ticket=ticket,
        actor=lead,
        status=ticket.status,
        priority=ticket.priority,
        assignee=ana,
        team=billing,
        tags=[],
    )

    assert ticket.events.count() == events


def test_the_properties_form_applies_every_change_with_its_audit_row(billing, ana, bea, lead):
    ticket = TicketFactory()
    sales = TeamFactory(name="Sales", members=[bea])

    updated = services.ticket_update_properties(
        ticket=ticket,
        actor=lead,
        status=Status.PENDING,
        priority=Ticket.Priority.URGENT,
        assignee=bea,
        team=sales,
        tags=["Refund", "vip"],
    )

    assert (updated.status, updated.priority, updated.assignee, updated.team) == (
        Status.PENDING,
        Ticket.Priority.URGENT,
        bea,
        sales,
    )
    assert sorted(updated.tags.values_list("name", flat=True)) == ["refund", "vip"]
    assert _events(ticket, Kind.TEAM_CHANGED) == [("lead", "", "Sales")]
    assert _events(ticket, Kind.ASSIGNED) == [("lead", "", "bea")]
    assert _events(ticket, Kind.PRIORITY_CHANGED) == [("lead", "normal", "urgent")]
    assert _events(ticket, Kind.TAGS_CHANGED) == [("lead", "", "refund, vip")]
    assert _events(ticket, Kind.STATUS_CHANGED)[-1] == ("lead", Status.OPEN, Status.PENDING)


def test_the_properties_form_can_unassign_and_solve(billing, ana, lead):
    ticket = TicketFactory(team=billing)
    services.ticket_assign(ticket=ticket, assignee=ana, actor=lead)

    updated = services.ticket_update_properties(
        ticket=ticket, actor=lead, assignee=None, status=Status.SOLVED
    )

    assert updated.assignee is None
    assert updated.status == Status.SOLVED
    assert updated.solved_by == lead
    assert _events(ticket, Kind.ASSIGNED)[-1] == ("lead", "ana", "")


def test_the_properties_form_refuses_an_assignee_outside_the_team_and_changes_nothing(
    billing, lead
):
    ticket = TicketFactory(team=billing)
    outsider = agent(username="outsider")

    with pytest.raises(ValidationError):
        services.ticket_update_properties(
            ticket=ticket, actor=lead, priority=Ticket.Priority.HIGH, assignee=outsider
        )

    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.priority) == (None, Ticket.Priority.NORMAL)


def test_setting_tags_records_the_tags_before_and_after(lead):
    ticket = TicketFactory()
    services.ticket_set_tags(ticket=ticket, tags=["Refund", "late delivery"], actor=lead)

    services.ticket_set_tags(ticket=ticket, tags=["late-delivery", "vip"], actor=lead)

    assert sorted(ticket.tags.values_list("name", flat=True)) == ["late-delivery", "vip"]
    assert _events(ticket, Kind.TAGS_CHANGED) == [
        ("lead", "", "late-delivery, refund"),
        ("lead", "late-delivery, refund", "late-delivery, vip"),
    ]


def test_setting_the_same_tags_again_writes_no_event(lead):
    ticket = TicketFactory()
    services.ticket_set_tags(ticket=ticket, tags=["refund"], actor=lead)

    services.ticket_set_tags(ticket=ticket, tags=["Refund"], actor=lead)

    assert len(_events(ticket, Kind.TAGS_CHANGED)) == 1


def test_a_closed_tickets_tags_cannot_change(lead):
    ticket = _closed(lead)

    with pytest.raises(ApplicationError):
        services.ticket_set_tags(ticket=ticket, tags=["late"], actor=lead)

    assert not ticket.tags.exists()
