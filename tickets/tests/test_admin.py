import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory, agent
from customers.tests.factories import CustomerFactory
from customers.tests.test_admin import change_form_data, messages_of
from tickets import services
from tickets.models import (
    BusinessCalendar,
    CannedReply,
    Notification,
    SLAPolicy,
    Tag,
    Ticket,
    TicketEvent,
    WorkingHours,
)
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def worked_ticket(team, agent_user):
    """A ticket with a customer message, an assignment, a reply and a note."""
    ticket = services.ticket_create(
        customer=CustomerFactory(name="Lucía Fernández"),
        subject="No puedo entrar en mi cuenta",
        body="Desde ayer no me deja entrar.",
        team=team,
        assignee=agent_user,
        tags=["login"],
    )
    services.ticket_reply(ticket=ticket, author=agent_user, body="Le hemos enviado un enlace.")
    services.ticket_add_note(ticket=ticket, author=agent_user, body="Cuenta bloqueada por SSO.")
    return ticket


@pytest.mark.parametrize(
    ("model_name", "search", "instance_of"),
    [
        ("ticket", "cuenta", lambda ticket: ticket),
        ("message", "enlace", lambda ticket: ticket.messages.get(body__contains="enlace")),
        ("ticketevent", "agent", lambda ticket: ticket.events.get(kind="assigned")),
        ("team", "Support", lambda ticket: ticket.team),
        ("tag", "login", lambda ticket: ticket.tags.get()),
    ],
)
def test_admin_changelist_search_and_change_page_load_for_an_admin(
    admin_client, worked_ticket, model_name, search, instance_of
):
    instance = instance_of(worked_ticket)
    changelist = reverse(f"admin:tickets_{model_name}_changelist")

    listed = admin_client.get(changelist)
    searched = admin_client.get(changelist, {"q": search})
    searched_for_nothing = admin_client.get(changelist, {"q": "zzzz nothing"})
    change = admin_client.get(reverse(f"admin:tickets_{model_name}_change", args=[instance.pk]))

    assert listed.status_code == 200
    assert list(searched.context["cl"].result_list) == [instance]
    assert list(searched_for_nothing.context["cl"].result_list) == []
    assert change.status_code == 200


@pytest.fixture
def configuration(worked_ticket, team, agent_user):
    """One row of each configuration model: calendar, SLA policy, canned reply, notification."""
    calendar = BusinessCalendar.objects.create(name="Madrid office")
    WorkingHours.objects.create(calendar=calendar, weekday=0, opens="09:00", closes="18:00")
    return {
        "businesscalendar": calendar,
        "slapolicy": SLAPolicy.objects.create(
            name="Support urgent",
            priority="urgent",
            team=team,
            calendar=calendar,
            first_response_minutes=60,
            resolution_minutes=480,
        ),
        "cannedreply": CannedReply.objects.create(title="Password reset", body="Hola…"),
        "notification": Notification.objects.create(
            user=agent_user, ticket=worked_ticket, kind="assigned", text="Ticket assigned to you"
        ),
    }


@pytest.mark.parametrize(
    ("model_name", "search"),
    [
        ("businesscalendar", "Madrid"),
        ("slapolicy", "urgent"),
        ("cannedreply", "password"),
        ("notification", "assigned"),
    ],
)
def test_configuration_changelists_and_change_pages_load_for_a_superuser(
    client, configuration, model_name, search
):
    # A superuser: the Admin group's permissions predate these models (see the report).
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    admin_client = client
    instance = configuration[model_name]
    changelist = reverse(f"admin:tickets_{model_name}_changelist")

    searched = admin_client.get(changelist, {"q": search})
    change = admin_client.get(reverse(f"admin:tickets_{model_name}_change", args=[instance.pk]))

    assert list(searched.context["cl"].result_list) == [instance]
    assert change.status_code == 200


def test_ticket_change_page_shows_the_conversation_and_the_audit_trail(admin_client, worked_ticket):
    response = admin_client.get(reverse("admin:tickets_ticket_change", args=[worked_ticket.pk]))

    content = response.content.decode()
    assert "Desde ayer no me deja entrar." in content
    assert "Le hemos enviado un enlace." in content
    assert "Cuenta bloqueada por SSO." in content
    inline_models = [inline.opts.model for inline in response.context["inline_admin_formsets"]]
    assert [model._meta.model_name for model in inline_models] == ["message", "ticketevent"]


def test_ticket_changelist_filters_by_status_team_and_assignee(
    admin_client, worked_ticket, team, agent_user
):
    other = TicketFactory(subject="Unassigned question")
    changelist = reverse("admin:tickets_ticket_changelist")

    open_tickets = admin_client.get(changelist, {"status__exact": "open"})
    new_tickets = admin_client.get(changelist, {"status__exact": "new"})
    of_team = admin_client.get(changelist, {"team__id__exact": team.pk})
    of_agent = admin_client.get(changelist, {"assignee__id__exact": agent_user.pk})

    assert list(open_tickets.context["cl"].result_list) == [worked_ticket]
    assert list(new_tickets.context["cl"].result_list) == [other]
    assert list(of_team.context["cl"].result_list) == [worked_ticket]
    assert list(of_agent.context["cl"].result_list) == [worked_ticket]


@pytest.mark.parametrize("written", ["T-{id:06d}", "t{id}", "T{id:09d}"])
def test_tickets_are_found_by_their_reference(admin_client, written):
    wanted, _other = TicketFactory.create_batch(2)
    changelist = reverse("admin:tickets_ticket_changelist")

    response = admin_client.get(changelist, {"q": written.format(id=wanted.pk)})

    assert list(response.context["cl"].result_list) == [wanted]


def test_a_bare_number_finds_that_ticket_as_well_as_text_matches(admin_client):
    customer = CustomerFactory(email="ana@example.com")
    wanted = TicketFactory(customer=customer, subject="Printer jammed")
    mentions_it = TicketFactory(customer=customer, subject=f"Follow-up to {wanted.pk}")
    TicketFactory(customer=customer, subject="Unrelated")
    changelist = reverse("admin:tickets_ticket_changelist")

    response = admin_client.get(changelist, {"q": str(wanted.pk)})

    assert set(response.context["cl"].result_list) == {wanted, mentions_it}


def test_messages_and_events_are_found_by_their_tickets_reference(admin_client, worked_ticket):
    other = services.ticket_create(customer=CustomerFactory(), subject="Other", body="Hola")
    query = {"q": worked_ticket.reference}

    messages = admin_client.get(reverse("admin:tickets_message_changelist"), query)
    events = admin_client.get(reverse("admin:tickets_ticketevent_changelist"), query)

    assert {message.ticket_id for message in messages.context["cl"].result_list} == {
        worked_ticket.pk
    }
    assert {event.ticket_id for event in events.context["cl"].result_list} == {worked_ticket.pk}
    assert other.pk != worked_ticket.pk


def test_messages_and_events_cannot_be_added_or_edited_in_the_admin(admin_client, worked_ticket):
    event = worked_ticket.events.first()

    add_event = admin_client.get(reverse("admin:tickets_ticketevent_add"))
    add_message = admin_client.get(reverse("admin:tickets_message_add"))
    edit_event = admin_client.post(
        reverse("admin:tickets_ticketevent_change", args=[event.pk]), {"kind": "closed"}
    )

    assert add_event.status_code == 403
    assert add_message.status_code == 403
    assert edit_event.status_code == 403
    event.refresh_from_db()
    assert event.kind == "created"


def test_ticket_lifecycle_fields_cannot_be_edited_in_the_admin(admin_client, worked_ticket):
    url = reverse("admin:tickets_ticket_change", args=[worked_ticket.pk])
    data = change_form_data(admin_client.get(url))
    data.update(
        subject="Cannot log in",
        status="closed",
        reopen_count="7",
        closed_at_0="2024-01-01",
        closed_at_1="10:00:00",
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302
    worked_ticket.refresh_from_db()
    assert worked_ticket.subject == "Cannot log in"
    assert worked_ticket.status == Ticket.Status.OPEN
    assert worked_ticket.reopen_count == 0
    assert worked_ticket.closed_at is None


def test_changing_priority_and_assignee_in_the_admin_writes_audit_events(
    admin_client, admin_user, worked_ticket, team
):
    colleague = agent(username="colleague")
    team.members.add(colleague)
    url = reverse("admin:tickets_ticket_change", args=[worked_ticket.pk])
    data = change_form_data(admin_client.get(url))
    data.update(priority="urgent", assignee=colleague.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 302
    worked_ticket.refresh_from_db()
    assert worked_ticket.priority == "urgent"
    assert worked_ticket.assignee == colleague
    priority_event = worked_ticket.events.get(kind=TicketEvent.Kind.PRIORITY_CHANGED)
    assert (priority_event.from_value, priority_event.to_value) == ("normal", "urgent")
    assert priority_event.actor == admin_user
    reassigned = worked_ticket.events.filter(kind=TicketEvent.Kind.ASSIGNED).last()
    assert (reassigned.from_value, reassigned.to_value) == ("agent", "colleague")


def test_assigning_an_agent_outside_the_team_is_a_form_error(admin_client, worked_ticket):
    outsider = agent(username="outsider")
    url = reverse("admin:tickets_ticket_change", args=[worked_ticket.pk])
    data = change_form_data(admin_client.get(url))
    data["assignee"] = outsider.pk

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "outsider is not a member of team Support." in response.content.decode()
    worked_ticket.refresh_from_db()
    assert worked_ticket.assignee.username == "agent"


def test_adding_a_ticket_in_the_admin_goes_through_the_service(
    admin_client, admin_user, team, agent_user
):
    customer = CustomerFactory()
    tag = Tag.objects.create(name="billing")
    url = reverse("admin:tickets_ticket_add")
    data = change_form_data(admin_client.get(url))
    data.update(
        customer=customer.pk,
        subject="Factura duplicada",
        body="Me han cobrado dos veces.",
        channel="phone",
        priority="high",
        team=team.pk,
        assignee=agent_user.pk,
        tags=[tag.pk],
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Factura duplicada")
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.created_by == admin_user
    assert list(ticket.tags.all()) == [tag]
    assert ticket.messages.get().body == "Me han cobrado dos veces."
    assert list(ticket.events.values_list("kind", flat=True)) == ["created", "assigned"]


def _run_action(admin_client, action: str, *tickets: Ticket):
    return admin_client.post(
        reverse("admin:tickets_ticket_changelist"),
        {"action": action, "_selected_action": [ticket.pk for ticket in tickets]},
        follow=True,
    )


def test_solve_action_solves_through_the_service_and_credits_the_assignee(
    admin_client, admin_user, worked_ticket, agent_user
):
    response = _run_action(admin_client, "solve", worked_ticket)

    assert response.status_code == 200
    worked_ticket.refresh_from_db()
    assert worked_ticket.status == Ticket.Status.SOLVED
    assert worked_ticket.solved_at is not None
    assert worked_ticket.solved_by == agent_user
    solved = worked_ticket.events.get(kind=TicketEvent.Kind.SOLVED)
    assert solved.actor == admin_user
    assert messages_of(response) == ["1 ticket solved."]


def test_close_then_reopen_actions_write_their_audit_events(admin_client, worked_ticket):
    _run_action(admin_client, "close", worked_ticket)
    worked_ticket.refresh_from_db()
    assert worked_ticket.status == Ticket.Status.CLOSED
    assert worked_ticket.closed_at is not None

    response = _run_action(admin_client, "reopen", worked_ticket)

    worked_ticket.refresh_from_db()
    assert worked_ticket.status == Ticket.Status.OPEN
    assert worked_ticket.reopen_count == 1
    assert worked_ticket.closed_at is None
    kinds = list(worked_ticket.events.values_list("kind", flat=True))
    assert kinds[-3:] == ["solved", "closed", "reopened"]
    assert messages_of(response) == ["1 ticket reopened."]


def test_a_refused_ticket_action_is_reported_and_the_others_still_apply(
    admin_client, worked_ticket
):
    services.ticket_close(ticket=worked_ticket, actor=None)
    fresh = TicketFactory()
    events_before = TicketEvent.objects.filter(ticket=worked_ticket).count()

    response = _run_action(admin_client, "solve", worked_ticket, fresh)

    assert response.status_code == 200
    fresh.refresh_from_db()
    assert fresh.status == Ticket.Status.SOLVED
    assert TicketEvent.objects.filter(ticket=worked_ticket).count() == events_before
    assert messages_of(response) == [
        "1 ticket solved.",
        f"{worked_ticket}: Ticket {worked_ticket.reference} is already Closed.",
    ]


def test_a_closed_ticket_has_no_editable_fields(admin_client, worked_ticket):
    services.ticket_close(ticket=worked_ticket, actor=None)

    response = admin_client.get(reverse("admin:tickets_ticket_change", args=[worked_ticket.pk]))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == ["body"]


def _tickets(count: int) -> None:
    team = TeamFactory(name="Support")
    agents = [agent(username=f"agent{n}") for n in range(3)]
    team.members.add(*agents)
    for n in range(count):
        services.ticket_create(
            customer=CustomerFactory(),
            subject=f"Question {n}",
            body="Hello",
            team=team,
            assignee=agents[n % 3],
            tags=["billing"],
        )


@pytest.mark.parametrize("model_name", ["ticket", "message", "ticketevent", "team", "tag"])
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model_name
):
    url = reverse(f"admin:tickets_{model_name}_changelist")
    _tickets(5)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as five_rows:
        assert admin_client.get(url).status_code == 200

    _tickets(25)
    with django_assert_max_num_queries(len(five_rows)):
        response = admin_client.get(url)

    assert response.context["cl"].result_count >= (1 if model_name in ("team", "tag") else 30)
