"""The agent's queue page, its bulk actions, the new-ticket page, availability and
notifications, through HTTP as an agent uses them."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from accounts.tests.factories import agent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from tickets import services
from tickets.models import Notification, Tag, Team, Ticket, TicketEvent
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

Status = Ticket.Status
QUEUE = reverse("desk:queue")


@pytest.fixture
def agent_client(client, agent_user):
    client.force_login(agent_user)
    return client


def shown(response) -> list[str]:
    """The references of the queue's rows, in the order shown."""
    return [ticket.reference for ticket in response.context["tickets"]]


def refs(*tickets: Ticket) -> list[str]:
    return [ticket.reference for ticket in tickets]


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def resolved(**fields) -> Ticket:
    now = timezone.now()
    return TicketFactory(
        status=Status.SOLVED, created_at=now - timedelta(hours=1), solved_at=now, **fields
    )


# --- who may look ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["desk:queue", "desk:ticket_new", "desk:notifications", "desk:bulk"]
)
def test_anonymous_visitor_is_sent_to_the_login_page(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_restricted_agent_sees_only_their_teams_tickets(client, agent_user, team):
    agent_user.ticket_access = User.TicketAccess.TEAMS
    agent_user.save()
    ours = TicketFactory(team=team)
    theirs = TicketFactory(team=TeamFactory(name="Billing"))
    nobody = TicketFactory()
    client.force_login(agent_user)

    response = client.get(QUEUE, {"view": "all"})

    assert shown(response) == refs(ours)
    assert theirs.reference not in response.content.decode()
    assert nobody.reference not in response.content.decode()


# --- views ----------------------------------------------------------------------------


def test_the_queue_opens_on_my_tickets_that_still_need_work(agent_client, agent_user):
    mine = TicketFactory(assignee=agent_user, status=Status.OPEN)
    TicketFactory(assignee=agent(username="someone"), status=Status.OPEN)
    TicketFactory()
    resolved(assignee=agent_user)

    response = agent_client.get(QUEUE)

    assert response.status_code == 200
    assert shown(response) == refs(mine)
    assert mine.subject in response.content.decode()


def test_unassigned_view_lists_tickets_nobody_has_yet(agent_client, agent_user):
    waiting = TicketFactory()
    TicketFactory(assignee=agent_user, status=Status.OPEN)
    resolved()

    assert shown(agent_client.get(QUEUE, {"view": "unassigned"})) == refs(waiting)


def test_my_teams_view_lists_the_tickets_of_the_teams_i_am_in_or_lead(
    agent_client, agent_user, team
):
    led = TeamFactory(name="Escalations")
    led.lead = agent_user
    led.save()
    member = TicketFactory(team=team)
    leading = TicketFactory(team=led)
    TicketFactory(team=TeamFactory(name="Billing"))
    TicketFactory()

    response = agent_client.get(QUEUE, {"view": "teams"})

    assert sorted(shown(response)) == sorted(refs(member, leading))


def test_all_view_includes_resolved_tickets(agent_client, agent_user):
    open_ticket = TicketFactory()
    solved = resolved(assignee=agent_user)

    assert sorted(shown(agent_client.get(QUEUE, {"view": "all"}))) == sorted(
        refs(open_ticket, solved)
    )


def test_breaching_view_lists_unresolved_tickets_past_a_target_or_flagged(agent_client):
    now = timezone.now()
    flagged = TicketFactory(resolution_breached=True)
    late_answer = TicketFactory(first_response_due_at=now - timedelta(minutes=5))
    late_resolution = TicketFactory(
        first_response_at=now - timedelta(hours=3),
        resolution_due_at=now - timedelta(minutes=1),
    )
    TicketFactory(first_response_due_at=now + timedelta(hours=1))
    TicketFactory(  # answered on time: its first-response target no longer runs
        first_response_at=now - timedelta(hours=2),
        first_response_due_at=now - timedelta(hours=1),
        resolution_due_at=now + timedelta(hours=5),
    )
    resolved(resolution_due_at=now - timedelta(hours=1), resolution_breached=True)

    response = agent_client.get(QUEUE, {"view": "breaching"})

    assert sorted(shown(response)) == sorted(refs(flagged, late_answer, late_resolution))


# --- filters and search ---------------------------------------------------------------


def test_queue_filters_by_status_priority_channel_and_category(agent_client):
    wanted = TicketFactory(
        status=Status.PENDING, priority="high", channel="phone", category="Billing"
    )
    TicketFactory(status=Status.OPEN, priority="high", channel="phone", category="Billing")
    TicketFactory(status=Status.PENDING, priority="low", channel="phone", category="Billing")
    TicketFactory(status=Status.PENDING, priority="high", channel="email", category="Billing")
    TicketFactory(status=Status.PENDING, priority="high", channel="phone", category="Returns")

    response = agent_client.get(
        QUEUE,
        {
            "view": "all",
            "status": "pending",
            "priority": "high",
            "channel": "phone",
            "category": "billing",
        },
    )

    assert shown(response) == refs(wanted)


def test_queue_filters_by_team_assignee_and_tag(agent_client, agent_user, team):
    colleague = agent(username="colleague")
    team.members.add(colleague)
    wanted = TicketFactory(team=team, assignee=colleague, status=Status.OPEN)
    wanted.tags.add(Tag.objects.create(name="vip"))
    TicketFactory(team=team, assignee=colleague, status=Status.OPEN)
    other = TicketFactory(team=team, assignee=agent_user, status=Status.OPEN)
    other.tags.add(Tag.objects.get(name="vip"))

    response = agent_client.get(
        QUEUE, {"view": "all", "team": team.pk, "assignee": colleague.pk, "tag": "VIP"}
    )

    assert shown(response) == refs(wanted)


def test_queue_filters_by_creation_days_both_inclusive(agent_client):
    now = timezone.now()
    TicketFactory(created_at=now - timedelta(days=10))
    inside = TicketFactory(created_at=now - timedelta(days=5))
    last_day = TicketFactory(created_at=now - timedelta(days=1))
    TicketFactory(created_at=now)
    day = timezone.localdate

    response = agent_client.get(
        QUEUE,
        {
            "view": "all",
            "created_from": day(now - timedelta(days=6)).isoformat(),
            "created_to": day(now - timedelta(days=1)).isoformat(),
        },
    )

    assert sorted(shown(response)) == sorted(refs(inside, last_day))


def test_a_bad_filter_value_is_reported_and_the_others_still_apply(agent_client):
    phone = TicketFactory(channel="phone")
    TicketFactory(channel="email")

    response = agent_client.get(
        QUEUE, {"view": "all", "channel": "phone", "created_from": "not-a-date"}
    )

    assert shown(response) == refs(phone)
    assert "created_from" in response.context["filters"].errors


def test_search_by_reference_finds_exactly_that_ticket(agent_client):
    target = TicketFactory()
    TicketFactory(subject=f"Order {target.pk} never arrived")

    response = agent_client.get(QUEUE, {"view": "all", "q": target.reference})

    assert shown(response) == refs(target)


@pytest.mark.parametrize("query", ["invoice", "Fernández", "ana.fdez@"])
def test_search_matches_subject_customer_name_or_email(agent_client, query):
    customer = CustomerFactory(name="Ana Fernández", email="ana.fdez@example.com")
    by_subject = TicketFactory(subject="Invoice is wrong")
    by_customer = TicketFactory(customer=customer, subject="Cannot log in")
    TicketFactory(subject="Something else")

    response = agent_client.get(QUEUE, {"view": "all", "q": query})

    expected = by_subject if query == "invoice" else by_customer
    assert shown(response) == refs(expected)


# --- sort orders ----------------------------------------------------------------------


def test_sort_by_priority_puts_urgent_first(agent_client):
    low = TicketFactory(priority="low")
    urgent = TicketFactory(priority="urgent")
    normal = TicketFactory(priority="normal")
    high = TicketFactory(priority="high")

    response = agent_client.get(QUEUE, {"view": "all", "sort": "priority"})

    assert shown(response) == refs(urgent, high, normal, low)


def test_sort_by_sla_due_puts_the_soonest_target_first_and_tickets_without_one_last(
    agent_client,
):
    now = timezone.now()
    no_target = TicketFactory()
    later = TicketFactory(resolution_due_at=now + timedelta(hours=8))
    # Not answered yet: its first-response target is the nearer one.
    soonest = TicketFactory(
        first_response_due_at=now + timedelta(minutes=30),
        resolution_due_at=now + timedelta(hours=9),
    )
    # Answered: only its resolution target still runs.
    answered = TicketFactory(
        first_response_at=now,
        first_response_due_at=now + timedelta(minutes=10),
        resolution_due_at=now + timedelta(hours=2),
    )

    response = agent_client.get(QUEUE, {"view": "all", "sort": "sla"})

    assert shown(response) == refs(soonest, answered, later, no_target)


def test_sort_by_last_update_puts_the_newest_first(agent_client):
    tickets = [TicketFactory() for _ in range(3)]
    now = timezone.now()
    for hours, ticket in zip([5, 1, 3], tickets, strict=True):
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=now - timedelta(hours=hours))

    response = agent_client.get(QUEUE, {"view": "all", "sort": "updated"})

    assert shown(response) == refs(tickets[1], tickets[2], tickets[0])


def test_sla_due_says_in_words_when_a_target_is_past_or_near(agent_client):
    now = timezone.now()
    TicketFactory(first_response_due_at=now - timedelta(hours=2))
    TicketFactory(first_response_due_at=now + timedelta(minutes=20))

    page = agent_client.get(QUEUE, {"view": "all"}).content.decode()

    assert "Overdue by 2\xa0hours" in page
    assert "Due in 19\xa0minutes" in page or "Due in 20\xa0minutes" in page


def test_queue_page_gives_every_field_its_own_id(agent_client, agent_user):
    TicketFactory.create_batch(3, assignee=agent_user, status=Status.OPEN)

    page = agent_client.get(QUEUE).content.decode()

    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) > 10
    assert sorted(ids) == sorted(set(ids))


# --- pagination and query counts ------------------------------------------------------


def test_pages_follow_one_another_without_counting_the_tickets(agent_client):
    TicketFactory.create_batch(51)

    with CaptureQueriesContext(connection) as queries:
        first = agent_client.get(QUEUE, {"view": "all"})
    second = agent_client.get(QUEUE, {"view": "all", "page": 2})

    assert len(first.context["tickets"]) == 50
    assert first.context["next_page"] == 2
    assert 'rel="next"' in first.content.decode()
    assert len(second.context["tickets"]) == 1
    assert second.context["next_page"] is None
    assert 'rel="prev"' in second.content.decode()
    assert not [query for query in queries if "COUNT(" in query["sql"].upper()]


def _busy_tickets(count: int, *, team: Team, assignee: User) -> None:
    now = timezone.now()
    tag = Tag.objects.get_or_create(name="vip")[0]
    for _ in range(count):
        ticket = TicketFactory(
            team=team,
            assignee=assignee,
            status=Status.OPEN,
            first_response_due_at=now + timedelta(minutes=30),
            resolution_due_at=now - timedelta(minutes=30),
        )
        ticket.tags.add(tag)


def test_the_queue_needs_as_many_queries_for_fifty_rows_as_for_five(
    agent_client, agent_user, team, django_assert_max_num_queries
):
    _busy_tickets(5, team=team, assignee=agent_user)
    Notification.objects.create(user=agent_user, kind="assigned", text="Hello")
    with CaptureQueriesContext(connection) as five_rows:
        response = agent_client.get(QUEUE)
    assert len(response.context["tickets"]) == 5

    _busy_tickets(45, team=team, assignee=agent_user)
    with django_assert_max_num_queries(len(five_rows)):
        response = agent_client.get(QUEUE)
    assert len(response.context["tickets"]) == 50


# --- bulk actions ---------------------------------------------------------------------


def test_bulk_assign_gives_each_ticket_to_the_agent_with_an_audit_row_and_goes_back(
    agent_client, agent_user
):
    colleague = agent(username="colleague")
    tickets = TicketFactory.create_batch(3)
    back = f"{QUEUE}?view=unassigned&priority=high"

    response = agent_client.post(
        reverse("desk:bulk"),
        {
            "tickets": [ticket.pk for ticket in tickets],
            "action": "assign",
            "assignee": colleague.pk,
            "next": back,
        },
    )

    assert response.status_code == 302
    assert response.url == back
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {colleague.pk}
    for ticket in tickets:
        event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.ASSIGNED)
        assert (event.actor, event.to_value) == (agent_user, "colleague")
    assert "3 tickets changed." in texts(response)


def test_bulk_close_reports_the_tickets_it_refused(agent_client):
    open_ticket = TicketFactory(status=Status.OPEN)
    already = resolved()
    services.ticket_close(ticket=already, actor=None)

    response = agent_client.post(
        reverse("desk:bulk"), {"tickets": [open_ticket.pk, already.pk], "action": "close"}
    )

    open_ticket.refresh_from_db()
    assert open_ticket.status == Status.CLOSED
    assert TicketEvent.objects.filter(ticket=open_ticket, kind=TicketEvent.Kind.CLOSED).exists()
    messages = texts(response)
    assert "1 ticket changed." in messages
    assert any(already.reference in text and "Not changed" in text for text in messages)


def test_bulk_status_tag_and_unassign_change_the_tickets(agent_client, agent_user):
    tickets = [TicketFactory(assignee=agent_user, status=Status.OPEN) for _ in range(2)]
    ids = [ticket.pk for ticket in tickets]
    url = reverse("desk:bulk")

    agent_client.post(url, {"tickets": ids, "action": "status", "status": "pending"})
    agent_client.post(url, {"tickets": ids, "action": "tag", "tag": "Refund asked"})
    agent_client.post(url, {"tickets": ids, "action": "unassign"})

    for ticket in tickets:
        ticket.refresh_from_db()
        assert ticket.status == Status.PENDING
        assert list(ticket.tags.values_list("name", flat=True)) == ["refund-asked"]
        assert ticket.assignee is None
        assert set(ticket.events.values_list("kind", flat=True)) >= {
            TicketEvent.Kind.STATUS_CHANGED,
            TicketEvent.Kind.TAGS_CHANGED,
            TicketEvent.Kind.ASSIGNED,
        }


def test_bulk_action_without_its_value_changes_nothing_and_says_why(agent_client):
    ticket = TicketFactory()

    response = agent_client.post(reverse("desk:bulk"), {"tickets": [ticket.pk], "action": "status"})

    assert response.status_code == 302
    assert "Choose the status to set." in texts(response)
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


def test_bulk_actions_never_touch_tickets_the_agent_may_not_see(client, agent_user, team):
    agent_user.ticket_access = User.TicketAccess.TEAMS
    agent_user.save()
    ours = TicketFactory(team=team)
    theirs = TicketFactory(team=TeamFactory(name="Billing"))
    client.force_login(agent_user)

    response = client.post(
        reverse("desk:bulk"),
        {"tickets": [ours.pk, theirs.pk], "action": "status", "status": "pending"},
    )

    assert Ticket.objects.get(pk=ours.pk).status == Status.PENDING
    assert Ticket.objects.get(pk=theirs.pk).status == Status.NEW
    assert "1 ticket changed." in texts(response)


def test_bulk_actions_refuse_an_outside_redirect(agent_client):
    ticket = TicketFactory()

    response = agent_client.post(
        reverse("desk:bulk"),
        {"tickets": [ticket.pk], "action": "close", "next": "https://evil.example/"},
    )

    assert response.url == QUEUE


# --- new ticket -----------------------------------------------------------------------


def test_new_ticket_for_an_existing_customer_found_by_email(agent_client, agent_user):
    customer = CustomerFactory(email="maria@example.com")

    response = agent_client.post(
        reverse("desk:ticket_new"),
        {
            "customer": "MARIA@example.com",
            "subject": "Called about her refund",
            "description": "She was charged twice.",
            "channel": "phone",
            "priority": "high",
            "tags": "refund, billing",
        },
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("desk:ticket_detail", args=[ticket.pk])
    assert (ticket.customer, ticket.created_by, ticket.channel, ticket.priority) == (
        customer,
        agent_user,
        "phone",
        "high",
    )
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["billing", "refund"]
    assert ticket.messages.get().body == "She was charged twice."


def test_new_ticket_page_finds_customers_and_preselects_one(agent_client):
    customer = CustomerFactory(name="Lucía Gómez", email="lucia@example.com")

    found = agent_client.get(reverse("desk:ticket_new"), {"find": "lucía"})
    chosen = agent_client.get(reverse("desk:ticket_new"), {"customer": customer.pk})

    assert list(found.context["customer_matches"]) == [customer]
    assert chosen.context["form"]["customer"].value() == str(customer.pk)
    assert "Lucía Gómez" in chosen.content.decode()


def test_new_ticket_for_a_new_customer_creates_the_customer_too(agent_client):
    response = agent_client.post(
        reverse("desk:ticket_new"),
        {
            "new_customer_name": "Pedro Ruiz",
            "new_customer_email": "pedro@example.com",
            "new_customer_phone": "+34 600 000 000",
            "subject": "Came to the shop with a broken phone",
            "channel": "in_person",
            "priority": "normal",
        },
    )

    customer = Customer.objects.get()
    assert (customer.name, customer.email, customer.phone) == (
        "Pedro Ruiz",
        "pedro@example.com",
        "+34 600 000 000",
    )
    ticket = Ticket.objects.get()
    assert ticket.customer == customer
    assert response.url == reverse("desk:ticket_detail", args=[ticket.pk])


def test_new_ticket_for_a_team_goes_to_its_available_agent(agent_client, agent_user):
    away = agent(username="away", is_available=False)
    ready = agent(username="ready")
    team = TeamFactory(name="Phones", assignment=Team.Assignment.ROUND_ROBIN, members=[away, ready])

    agent_client.post(
        reverse("desk:ticket_new"),
        {
            "customer": CustomerFactory().pk,
            "subject": "Line is down",
            "channel": "phone",
            "priority": "urgent",
            "team": team.pk,
        },
    )

    ticket = Ticket.objects.get()
    assert (ticket.assignee, ticket.status) == (ready, Status.OPEN)


def test_new_ticket_needs_a_customer_and_keeps_what_was_typed(agent_client):
    response = agent_client.post(
        reverse("desk:ticket_new"),
        {"subject": "Lost my password", "channel": "phone", "priority": "normal"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["customer"]
    assert "Lost my password" in response.content.decode()
    assert not Ticket.objects.exists()


def test_new_ticket_shows_the_service_refusal_on_the_field(agent_client, team):
    outsider = agent(username="outsider")

    response = agent_client.post(
        reverse("desk:ticket_new"),
        {
            "customer": CustomerFactory().pk,
            "subject": "Wrong assignee",
            "channel": "phone",
            "priority": "normal",
            "team": team.pk,
            "assignee": outsider.pk,
        },
    )

    assert response.status_code == 200
    assert "not a member of team" in str(response.context["form"].errors["assignee"])
    assert not Ticket.objects.exists()


def test_a_new_customer_is_not_kept_when_the_ticket_is_refused(agent_client, team):
    outsider = agent(username="outsider")

    agent_client.post(
        reverse("desk:ticket_new"),
        {
            "new_customer_name": "Ghost",
            "subject": "Wrong assignee",
            "channel": "phone",
            "priority": "normal",
            "team": team.pk,
            "assignee": outsider.pk,
        },
    )

    assert not Customer.objects.exists()


# --- availability and notifications ---------------------------------------------------


def test_stepping_away_hands_my_tickets_to_an_available_teammate(agent_client, agent_user):
    teammate = agent(username="teammate")
    team = TeamFactory(
        name="Phones", assignment=Team.Assignment.LEAST_OPEN, members=[agent_user, teammate]
    )
    tickets = [TicketFactory(team=team, assignee=agent_user, status=Status.OPEN) for _ in "ab"]

    response = agent_client.post(
        reverse("desk:availability"), {"available": "false", "next": QUEUE}
    )

    agent_user.refresh_from_db()
    assert agent_user.is_available is False
    assert {Ticket.objects.get(pk=ticket.pk).assignee for ticket in tickets} == {teammate}
    assert "You are away. 2 tickets were handed over." in texts(response)
    assert response.url == QUEUE

    agent_client.post(reverse("desk:availability"), {"available": "true"})
    agent_user.refresh_from_db()
    assert agent_user.is_available is True


def test_navigation_shows_the_unread_count_and_the_availability_switch(agent_client, agent_user):
    ticket = TicketFactory()
    for _ in range(3):
        services.notify(user=agent_user, ticket=ticket, kind=Notification.Kind.ASSIGNED)

    page = agent_client.get(QUEUE).content.decode()

    assert '<span class="badge text-bg-danger">3' in page
    assert reverse("desk:availability") in page
    assert "Step away" in page


def test_notifications_list_mine_and_mark_all_read(agent_client, agent_user):
    ticket = TicketFactory(subject="Printer on fire")
    services.notify(user=agent_user, ticket=ticket, kind=Notification.Kind.SLA_BREACH)
    services.notify(user=agent(username="other"), ticket=ticket, kind=Notification.Kind.ASSIGNED)

    listed = agent_client.get(reverse("desk:notifications"))
    agent_client.post(reverse("desk:notifications_read"))

    assert [n.user for n in listed.context["notifications"]] == [agent_user]
    assert "Printer on fire" in listed.content.decode()
    assert not Notification.objects.filter(user=agent_user, read_at__isnull=True).exists()
    assert Notification.objects.filter(read_at__isnull=True).count() == 1


# --- language -------------------------------------------------------------------------


def test_an_agent_who_speaks_spanish_gets_the_desk_in_spanish(agent_client, agent_user):
    agent_user.language = "es"
    agent_user.save()

    queue_page = agent_client.get(QUEUE).content.decode()
    form_page = agent_client.post(reverse("desk:ticket_new"), {}).content.decode()

    with translation.override("es"):
        required = translation.gettext("This field is required.")
    assert required != "This field is required."
    assert '<html lang="es">' in queue_page
    assert required in form_page
    assert "This field is required." not in form_page
