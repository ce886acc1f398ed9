"""The tickets API: the queue with its filters, one ticket with its conversation, and
the verbs an agent uses (reply, note, assign, solve, reopen, close)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory, agent
from customers.tests.factories import CustomerFactory
from tickets import services
from tickets.models import Message, Ticket, TicketEvent
from tickets.tests.factories import TeamFactory, TicketFactory

TICKETS = "/api/v1/tickets/"


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(settings.TIME_ZONE))


def action(ticket: Ticket, verb: str) -> str:
    return f"{TICKETS}{ticket.pk}/{verb}/"


def snapshot(ticket: Ticket) -> tuple[dict, int, int]:
    """Everything an action could change: the row, its messages and its audit trail."""
    return (
        Ticket.objects.values().get(pk=ticket.pk),
        Message.objects.filter(ticket=ticket).count(),
        TicketEvent.objects.filter(ticket=ticket).count(),
    )


# --- The queue


def test_ticket_list_shows_every_documented_field(agent_user, team):
    ticket = services.ticket_create(
        customer=CustomerFactory(),
        subject="Invoice is wrong",
        team=team,
        assignee=agent_user,
        tags=["Billing", "urgent issue"],
    )

    response = api(agent_user).get(TICKETS)

    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["id"] == ticket.pk
    assert row["reference"] == f"T-{ticket.pk:06d}"
    assert sorted(row["tags"]) == ["billing", "urgent-issue"]
    assert (row["team"], row["assignee"], row["status"]) == (team.pk, agent_user.pk, "open")
    assert set(row) == {
        "id",
        "reference",
        "external_id",
        "customer",
        "subject",
        "channel",
        "status",
        "priority",
        "category",
        "tags",
        "team",
        "assignee",
        "created_by",
        "created_at",
        "updated_at",
        "first_response_at",
        "solved_at",
        "closed_at",
        "reopen_count",
        "first_response_due_at",
        "resolution_due_at",
        "first_response_breached",
        "resolution_breached",
        "do_not_survey",
    }


@pytest.fixture
def queue(agent_user, team):
    """Four tickets that differ in every filtered field."""
    ana, bea = CustomerFactory(), CustomerFactory()
    other_team = TeamFactory(name="Billing")
    new = TicketFactory(
        customer=ana, subject="Login fails", priority="high", created_at=local(2025, 3, 1, 9)
    )
    assigned = TicketFactory(
        customer=ana,
        subject="Refund please",
        channel="phone",
        category="Refunds",
        team=team,
        assignee=agent_user,
        status="open",
        created_at=local(2025, 3, 2, 0, 30),
    )
    pending = TicketFactory(
        customer=bea, subject="Where is my order", team=other_team, status="pending"
    )
    solved = TicketFactory(customer=bea, subject="Login again", channel="chat")
    services.ticket_solve(ticket=solved, actor=agent_user)
    return {
        "ana": ana,
        "bea": bea,
        "team": team,
        "new": new,
        "assigned": assigned,
        "pending": pending,
        "solved": solved,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=new", {"new"}),
        ("status=new,pending", {"new", "pending"}),
        ("status=open, solved", {"assigned", "solved"}),
        ("priority=high", {"new"}),
        ("team={team}", {"assigned"}),
        ("assignee={agent}", {"assigned"}),
        ("assignee=none", {"new", "pending", "solved"}),
        ("customer={bea}", {"pending", "solved"}),
        ("channel=chat", {"solved"}),
        ("category=refunds", {"assigned"}),
        ("created_from=2025-03-01&created_to=2025-03-01", {"new"}),
        ("created_from=2025-03-02&created_to=2025-03-02", {"assigned"}),
        ("search=login", {"new", "solved"}),
        ("search=T-{pending_id:06d}", {"pending"}),
        ("status=new,open&customer={ana}", {"new", "assigned"}),
        ("created_from=0001-01-01&created_to=9999-12-31", {"new", "assigned", "pending", "solved"}),
    ],
)
def test_ticket_list_filters(agent_user, queue, query, expected):
    query = query.format(
        team=queue["team"].pk,
        agent=agent_user.pk,
        ana=queue["ana"].pk,
        bea=queue["bea"].pk,
        pending_id=queue["pending"].pk,
    )

    response = api(agent_user).get(f"{TICKETS}?{query}")

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {
        queue[name].pk for name in expected
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("status=open,lost", "status"),
        ("priority=whenever", "priority"),
        ("team=support", "team"),
        ("assignee=somebody", "assignee"),
        ("assignee=-3", "assignee"),
        ("customer=1.5", "customer"),
        ("channel=fax", "channel"),
        ("created_from=2025-02-30", "created_from"),
        ("created_to=03/01/2025", "created_to"),
        ("search=" + "x" * 300, "search"),
    ],
)
def test_a_bad_ticket_filter_is_400_naming_the_filter(agent_user, query, field):
    response = api(agent_user).get(f"{TICKETS}?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_ticket_list_pages(agent_user):
    TicketFactory.create_batch(5)

    first = api(agent_user).get(f"{TICKETS}?page_size=2")
    absurd = api(agent_user).get(f"{TICKETS}?page_size=2&page=4000")

    assert first.status_code == 200
    assert (first.json()["count"], len(first.json()["results"])) == (5, 2)
    assert absurd.status_code == 404


@pytest.mark.parametrize("rows", [5, 50])
def test_ticket_list_runs_a_constant_number_of_queries(
    agent_user, team, django_assert_max_num_queries, rows
):
    customer = CustomerFactory()
    for n in range(rows):
        services.ticket_create(
            customer=customer,
            subject=f"Problem {n}",
            team=team,
            assignee=agent_user,
            tags=["billing", f"tag-{n}"],
            created_by=agent_user,
        )
    client = api(agent_user)

    with django_assert_max_num_queries(7):
        response = client.get(f"{TICKETS}?page_size=100")

    assert len(response.json()["results"]) == rows
    assert all(len(row["tags"]) == 2 for row in response.json()["results"])


# --- Creating and reading one ticket


def test_an_agent_creates_a_ticket_on_behalf_of_a_customer(agent_user, team, customer):
    response = api(agent_user).post(
        TICKETS,
        {
            "customer": customer.pk,
            "subject": "Phone call: broken screen",
            "body": "My screen cracked on arrival.",
            "channel": "phone",
            "priority": "high",
            "category": "Hardware",
            "team": team.pk,
            "assignee": agent_user.pk,
            "tags": ["damaged", "Shipping"],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.created_by == agent_user
    assert (ticket.status, ticket.priority, ticket.assignee) == ("open", "high", agent_user)
    assert sorted(body["tags"]) == ["damaged", "shipping"]
    assert [(m["from_customer"], m["author"], m["body"]) for m in body["messages"]] == [
        (True, None, "My screen cracked on arrival.")
    ]
    assert TicketEvent.objects.filter(
        ticket=ticket, kind=TicketEvent.Kind.CREATED, actor=agent_user
    ).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer": 424242}, "customer"),
        ({"customer": None}, "customer"),
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 251}, "subject"),
        ({"priority": "asap"}, "priority"),
        ({"channel": "fax"}, "channel"),
        ({"team": 424242}, "team"),
        ({"assignee": 424242}, "assignee"),
        ({"tags": "billing"}, "tags"),
        ({"tags": [{"name": "billing"}]}, "tags"),
        ({"tags": ["x" * 51]}, "tags"),
    ],
)
def test_invalid_ticket_input_is_400_naming_the_field(agent_user, customer, change, field):
    payload = {"customer": customer.pk, "subject": "Help", **change}

    response = api(agent_user).post(TICKETS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Ticket.objects.exists()


def test_an_assignee_outside_the_team_is_400_on_assignee(agent_user, customer):
    billing = TeamFactory(name="Billing")

    response = api(agent_user).post(
        TICKETS,
        {"customer": customer.pk, "subject": "Help", "team": billing.pk, "assignee": agent_user.pk},
        format="json",
    )

    assert response.status_code == 400
    assert "assignee" in response.json()
    assert not Ticket.objects.exists()


def test_ticket_detail_shows_the_conversation_and_the_audit_trail(agent_user, ticket):
    services.ticket_customer_reply(ticket=ticket, body="Any news?")
    services.ticket_reply(ticket=ticket, author=agent_user, body="Looking into it.")
    services.ticket_add_note(ticket=ticket, author=agent_user, body="Courier lost it.")

    response = api(agent_user).get(f"{TICKETS}{ticket.pk}/")

    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [(m["kind"], m["author"], m["from_customer"]) for m in messages] == [
        ("reply", None, True),
        ("reply", agent_user.pk, False),
        ("note", agent_user.pk, False),
    ]
    assert set(messages[0]) == {"id", "kind", "author", "from_customer", "body", "created_at"}
    assert "replied" in [event["kind"] for event in response.json()["events"]]


def test_an_unknown_ticket_is_404(agent_user):
    assert api(agent_user).get(f"{TICKETS}424242/").status_code == 404
    assert api(agent_user).post(f"{TICKETS}424242/solve/").status_code == 404


# --- Actions


def test_the_first_public_reply_sets_the_first_response_time(agent_user, ticket):
    response = api(agent_user).post(
        action(ticket, "reply"), {"body": "Hello, we are on it."}, format="json"
    )

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None
    assert response.json()["first_response_at"] is not None
    assert response.json()["status"] == "open"
    assert response.json()["messages"][-1]["body"] == "Hello, we are on it."
    assert TicketEvent.objects.filter(
        ticket=ticket, kind=TicketEvent.Kind.REPLIED, actor=agent_user
    ).exists()

    first_response_at = ticket.first_response_at
    api(agent_user).post(action(ticket, "reply"), {"body": "More news."}, format="json")
    ticket.refresh_from_db()
    assert ticket.first_response_at == first_response_at


def test_an_internal_note_is_not_a_response(agent_user, ticket):
    response = api(agent_user).post(action(ticket, "note"), {"body": "VIP customer"}, format="json")

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.messages.get().kind == Message.Kind.NOTE
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.NOTE).exists()


@pytest.mark.parametrize("verb", ["reply", "note"])
@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   \n"}, {"body": ["x"]}])
def test_a_message_without_a_body_is_400_on_body(agent_user, ticket, verb, payload):
    before = snapshot(ticket)

    response = api(agent_user).post(action(ticket, verb), payload, format="json")

    assert response.status_code == 400
    assert "body" in response.json()
    assert snapshot(ticket) == before


def test_assigning_a_ticket_records_who_assigned_it(agent_user, team, ticket):
    colleague = agent(username="colleague")
    team.members.add(colleague)

    response = api(agent_user).post(
        action(ticket, "assign"), {"assignee": colleague.pk, "team": team.pk}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["assignee"], response.json()["team"]) == (colleague.pk, team.pk)
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.ASSIGNED)
    assert (event.actor, event.to_value) == (agent_user, "colleague")

    unassigned = api(agent_user).post(action(ticket, "assign"), {"assignee": None}, format="json")
    assert unassigned.status_code == 200
    ticket.refresh_from_db()
    assert ticket.assignee is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "assignee"),
        ({"assignee": 424242}, "assignee"),
        ({"assignee": None, "team": "x"}, "team"),
    ],
)
def test_a_bad_assignment_is_400_naming_the_field(agent_user, ticket, payload, field):
    before = snapshot(ticket)

    response = api(agent_user).post(action(ticket, "assign"), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert snapshot(ticket) == before


def test_solve_then_close_then_reopen(agent_user, ticket):
    client = api(agent_user)

    solved = client.post(action(ticket, "solve"))
    closed = client.post(action(ticket, "close"))
    reopened = client.post(action(ticket, "reopen"))

    assert (solved.status_code, solved.json()["status"]) == (200, "solved")
    assert solved.json()["solved_at"] is not None
    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert closed.json()["closed_at"] is not None
    assert (reopened.status_code, reopened.json()["status"]) == (200, "open")
    assert reopened.json()["reopen_count"] == 1
    kinds = list(
        TicketEvent.objects.filter(ticket=ticket, actor=agent_user).values_list("kind", flat=True)
    )
    assert kinds == ["solved", "closed", "reopened"]


def test_closing_an_open_ticket_solves_it_first(agent_user, ticket):
    response = api(agent_user).post(action(ticket, "close"))

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    assert ticket.solved_at == ticket.closed_at


def test_closing_a_closed_ticket_is_400_and_changes_nothing(agent_user, ticket):
    services.ticket_close(ticket=ticket, actor=agent_user)
    before = snapshot(ticket)

    response = api(agent_user).post(action(ticket, "close"))

    assert response.status_code == 400
    assert "already closed" in response.json()["status"][0]
    assert snapshot(ticket) == before


@pytest.mark.parametrize(
    ("verb", "payload"),
    [
        ("reply", {"body": "Hello?"}),
        ("note", {"body": "Psst"}),
        ("assign", {"assignee": None}),
        ("solve", {}),
    ],
)
def test_working_on_a_closed_ticket_is_400_and_changes_nothing(agent_user, ticket, verb, payload):
    services.ticket_close(ticket=ticket, actor=agent_user)
    before = snapshot(ticket)

    response = api(agent_user).post(action(ticket, verb), payload, format="json")

    assert response.status_code == 400
    assert "status" in response.json()
    assert snapshot(ticket) == before


def test_reopening_an_open_ticket_is_400_and_changes_nothing(agent_user, ticket):
    before = snapshot(ticket)

    response = api(agent_user).post(action(ticket, "reopen"))

    assert response.status_code == 400
    assert "status" in response.json()
    assert snapshot(ticket) == before


# --- Who may do what


@pytest.mark.parametrize("verb", ["reply", "note", "assign", "solve", "reopen", "close"])
def test_a_user_without_a_role_may_not_act_on_tickets(db, ticket, verb):
    nobody = UserFactory(username="nobody")
    before = snapshot(ticket)

    response = api(nobody).post(
        action(ticket, verb), {"body": "x", "assignee": None}, format="json"
    )

    assert response.status_code == 403
    assert snapshot(ticket) == before


@pytest.fixture
def restricted_agent(team):
    """An agent who may only see the tickets of their team (Support)."""
    user = agent(username="restricted", ticket_access="teams")
    team.members.add(user)
    return user


def test_an_agent_restricted_to_their_teams_sees_only_those_tickets(restricted_agent, team):
    ours = TicketFactory(team=team)
    theirs = TicketFactory(team=TeamFactory(name="Billing"))
    unrouted_but_mine = TicketFactory(assignee=restricted_agent)
    TicketFactory()
    client = api(restricted_agent)

    listed = client.get(TICKETS)

    assert {row["id"] for row in listed.json()["results"]} == {ours.pk, unrouted_but_mine.pk}
    assert client.get(f"{TICKETS}{ours.pk}/").status_code == 200
    assert client.get(f"{TICKETS}{theirs.pk}/").status_code == 404


def test_an_agent_restricted_to_their_teams_cannot_act_on_other_tickets(restricted_agent):
    theirs = TicketFactory(team=TeamFactory(name="Billing"))
    before = snapshot(theirs)

    response = api(restricted_agent).post(action(theirs, "close"))

    assert response.status_code == 404
    assert snapshot(theirs) == before


def test_a_restricted_agent_sees_the_result_of_routing_a_ticket_away(restricted_agent, team):
    ours = TicketFactory(team=team)
    billing = TeamFactory(name="Billing")

    response = api(restricted_agent).post(
        action(ours, "assign"), {"assignee": None, "team": billing.pk}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["team"] == billing.pk
    assert api(restricted_agent).get(f"{TICKETS}{ours.pk}/").status_code == 404


def test_ticket_actions_need_credentials(ticket):
    response = APIClient().post(action(ticket, "solve"))

    assert response.status_code == 401
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.NEW


def test_a_manager_works_tickets_too(manager_user, customer):
    client = api(manager_user)

    created = client.post(
        TICKETS, {"customer": customer.pk, "subject": "Escalation"}, format="json"
    )
    ticket_id = created.json()["id"]
    replied = client.post(f"{TICKETS}{ticket_id}/reply/", {"body": "On it"}, format="json")

    assert (created.status_code, replied.status_code) == (201, 200)


def test_tickets_cannot_be_deleted_over_the_api(admin_user, ticket):
    response = api(admin_user).delete(f"{TICKETS}{ticket.pk}/")

    assert response.status_code == 405
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_the_schema_says_a_customers_message_has_no_author(agent_user, customer):
    services.ticket_create(
        customer=customer, subject="Broken", body="It broke.", created_by=agent_user
    )
    schema = yaml.safe_load(
        APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi").content
    )

    ticket = api(agent_user).get(f"{TICKETS}{Ticket.objects.get().pk}/").json()

    assert ticket["messages"][0]["author"] is None
    author = schema["components"]["schemas"]["MessageOutput"]["properties"]["author"]
    assert author["nullable"] is True
