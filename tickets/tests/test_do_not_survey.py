"""The agent's per-ticket "don't survey" switch."""

from django.urls import reverse

from tickets import services
from tickets.models import TicketEvent


def _properties_post(ticket, **changes):
    """The properties form as the page posts it: current values plus what changed."""
    current = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id or "",
        "team": ticket.team_id or "",
        "tags": "",
        "do_not_survey": "",
    }
    data = {}
    for name, value in current.items():
        data[f"initial-properties-{name}"] = value
        data[f"properties-{name}"] = changes.get(name, value)
    if not data["properties-do_not_survey"]:
        del data["properties-do_not_survey"]
    if not data["initial-properties-do_not_survey"]:
        del data["initial-properties-do_not_survey"]
    return data


def test_an_agent_turns_the_survey_off_for_one_ticket_and_it_is_audited(
    client, agent_user, team, customer
):
    ticket = services.ticket_create(
        customer=customer, subject="Queja", team=team, assignee=agent_user
    )
    client.force_login(agent_user)

    response = client.post(
        reverse("desk:ticket_properties", args=[ticket.pk]),
        _properties_post(ticket, do_not_survey="on"),
    )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.do_not_survey is True
    event = ticket.events.get(kind=TicketEvent.Kind.SURVEY_SWITCH)
    assert (event.actor, event.from_value, event.to_value) == (agent_user, "False", "True")
    page = client.get(reverse("desk:ticket_detail", args=[ticket.pk])).content.decode()
    assert 'name="properties-do_not_survey"' in page
    assert "checked" in page.split('name="properties-do_not_survey"')[1].split(">")[0]


def test_the_switch_does_nothing_when_unchanged(agent_user, team, customer):
    ticket = services.ticket_create(customer=customer, subject="Duda", team=team)
    services.ticket_set_do_not_survey(ticket=ticket, do_not_survey=False, actor=agent_user)
    assert not ticket.events.filter(kind=TicketEvent.Kind.SURVEY_SWITCH).exists()
