"""The ticket page: the thread as agents read it, the reply and note forms, canned
replies, the properties form and the lifecycle buttons, over HTTP."""

import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import agent
from customers.tests.factories import CustomerEventFactory, CustomerFactory, PurchaseFactory
from tickets import services
from tickets.models import CannedReply, Message, SLAPolicy, Ticket, TicketEvent
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

Status = Ticket.Status


def page_url(ticket: Ticket) -> str:
    return reverse("desk:ticket_detail", args=[ticket.pk])


def action_url(ticket: Ticket, name: str) -> str:
    return reverse(f"desk:ticket_{name}", args=[ticket.pk])


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


def typed(textarea) -> str:
    """A textarea's text as a browser shows it: the newline after the tag is dropped."""
    return textarea.get_text().removeprefix("\n")


def thread(response) -> list[tuple[str, str]]:
    """The conversation as the page shows it: (kind, text) per message, in order."""
    return [
        (article["data-kind"], article.select_one(".card-body").get_text(" ", strip=True))
        for article in soup(response).select("article[data-kind]")
    ]


@pytest.fixture
def ana(db) -> User:
    return agent(username="ana", first_name="Ana", last_name="García")


@pytest.fixture
def desk(client, ana):
    client.force_login(ana)
    return client


@pytest.fixture
def lucia():
    return CustomerFactory(name="Lucía Pérez", email="lucia@example.com", language="es")


@pytest.fixture
def ticket(lucia) -> Ticket:
    return services.ticket_create(
        customer=lucia, subject="My order is late", body="Where is order 42?"
    )


# --- The thread --------------------------------------------------------------------------


def test_the_thread_shows_customer_messages_replies_and_notes_in_time_order_told_apart(
    desk, ticket, ana
):
    services.ticket_add_note(ticket=ticket, author=ana, body="Checked the warehouse.")
    services.ticket_reply(ticket=ticket, author=ana, body="It ships today.")
    services.ticket_customer_reply(ticket=ticket, body="Thanks!")

    response = desk.get(page_url(ticket))

    assert response.status_code == 200
    assert thread(response) == [
        ("customer", "Where is order 42?"),
        ("note", "Checked the warehouse."),
        ("reply", "It ships today."),
        ("customer", "Thanks!"),
    ]
    note = soup(response).select_one("article[data-kind=note]")
    assert "bg-warning-subtle" in note["class"]
    assert "Internal note" in note.select_one("header").get_text()
    reply = soup(response).select_one("article[data-kind=reply]")
    assert "Agent reply" in reply.select_one("header").get_text()
    assert "Ana García" in reply.select_one("header").get_text()


def test_script_in_a_message_body_or_subject_is_shown_as_text(desk, lucia, ana):
    ticket = services.ticket_create(
        customer=lucia,
        subject="<script>alert('subject')</script>",
        body="<script>alert(1)</script>",
    )
    services.ticket_add_note(ticket=ticket, author=ana, body="<img src=x onerror=alert(2)>")

    response = desk.get(page_url(ticket))

    html = response.content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in html
    assert thread(response)[0] == ("customer", "<script>alert(1)</script>")


def test_a_public_reply_shows_its_email_status_and_a_failed_one_can_be_sent_again(
    desk, ticket, ana, django_capture_on_commit_callbacks
):
    sent = services.ticket_reply(ticket=ticket, author=ana, body="First")
    Message.objects.filter(pk=sent.pk).update(email_status=Message.EmailStatus.SENT)
    failed = services.ticket_reply(ticket=ticket, author=ana, body="Second")
    services.message_email_failed(message_id=failed.pk, error="550 mailbox unavailable")

    page = soup(desk.get(page_url(ticket)))

    statuses = [footer["data-email-status"] for footer in page.select("[data-email-status]")]
    assert statuses == ["sent", "failed"]
    failed_article = page.select_one(f"#message-{failed.pk}")
    assert "550 mailbox unavailable" in failed_article.get_text()
    retry = failed_article.select_one("form")
    assert retry["action"] == reverse("desk:message_retry", args=[ticket.pk, failed.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = desk.post(retry["action"])

    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.email_status == Message.EmailStatus.SENT
    assert len(mail.outbox) == 1


def test_sending_again_a_reply_that_did_not_fail_is_refused_with_a_message(desk, ticket, ana):
    reply = services.ticket_reply(ticket=ticket, author=ana, body="Hello")

    response = desk.post(reverse("desk:message_retry", args=[ticket.pk, reply.pk]), follow=True)

    assert "Only a reply whose email failed can be sent again." in response.content.decode()


# --- Reply and note -----------------------------------------------------------------------


def test_a_reply_sets_the_first_response_and_emails_the_customer_in_their_language(
    desk, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = desk.post(action_url(ticket, "reply"), {"reply-body": "It ships today."})

    reply = ticket.messages.get(kind=Message.Kind.REPLY, from_customer=False)
    assert response.status_code == 302
    assert response["Location"] == f"{page_url(ticket)}#message-{reply.pk}"
    ticket.refresh_from_db()
    assert ticket.first_response_at == reply.created_at
    assert ticket.status == Status.OPEN
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert ticket.reference in email.subject
    assert email.to[0].endswith("<lucia@example.com>")
    assert "It ships today." in email.body
    html, _mimetype = email.alternatives[0]
    assert '<html lang="es">' in html
    reply.refresh_from_db()
    assert reply.email_status == Message.EmailStatus.SENT


def test_a_note_is_added_and_sends_nothing(desk, ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = desk.post(action_url(ticket, "note"), {"note-body": "Call them tomorrow."})

    assert response.status_code == 302
    note = ticket.messages.get(kind=Message.Kind.NOTE)
    assert note.body == "Call them tomorrow."
    assert mail.outbox == []
    ticket.refresh_from_db()
    assert ticket.first_response_at is None


def test_replying_to_a_closed_ticket_shows_the_refusal_and_keeps_the_typed_text(desk, ticket, ana):
    services.ticket_close(ticket=ticket, actor=ana)

    response = desk.post(action_url(ticket, "reply"), {"reply-body": "A long careful answer"})

    assert response.status_code == 200
    page = soup(response)
    assert f"Ticket {ticket.reference} is closed" in page.select_one("#reply").get_text()
    assert typed(page.select_one("textarea[name=reply-body]")) == "A long careful answer"
    assert not ticket.messages.filter(from_customer=False).exists()


def test_an_empty_reply_is_a_form_error(desk, ticket):
    response = desk.post(action_url(ticket, "reply"), {"reply-body": ""})

    assert response.status_code == 200
    assert "This field is required." in soup(response).select_one("#reply").get_text()


def test_a_closed_ticket_offers_no_reply_form_but_a_reopen_button(desk, ticket, ana):
    services.ticket_close(ticket=ticket, actor=ana)

    page = soup(desk.get(page_url(ticket)))

    assert page.select_one("textarea[name=reply-body]") is None
    assert page.select_one(f"form[action='{action_url(ticket, 'reopen')}']") is not None
    assert page.select_one(f"form[action='{action_url(ticket, 'solve')}']") is None


# --- Canned replies ------------------------------------------------------------------------


def test_inserting_a_canned_reply_fills_its_placeholders_and_leaves_unknown_ones(desk, ticket, ana):
    canned = CannedReply.objects.create(
        title="Late order",
        body="Hola {{ customer.first_name }}, {{ ticket.reference }}: {{ agent.first_name }}. "
        "{{ customer.password }}",
    )

    response = desk.get(page_url(ticket), {"canned": canned.pk})

    textarea = soup(response).select_one("textarea[name=reply-body]")
    assert typed(textarea) == (f"Hola Lucía, {ticket.reference}: Ana. {{{{ customer.password }}}}")


def test_the_canned_reply_menu_offers_shared_and_own_replies_only(desk, ticket, ana):
    CannedReply.objects.create(title="Shared one", body="s")
    CannedReply.objects.create(title="Mine", body="m", owner=ana)
    CannedReply.objects.create(title="Someone else's", body="x", owner=agent(username="bea"))

    page = soup(desk.get(page_url(ticket)))

    options = [option.get_text(strip=True) for option in page.select("#canned-reply option")]
    assert options == ["Mine", "Shared one · shared"]
    assert page.select_one("#insert-canned") is not None


def test_another_agents_canned_reply_cannot_be_inserted(desk, ticket):
    private = CannedReply.objects.create(title="Private", body="secret", owner=agent())

    response = desk.get(page_url(ticket), {"canned": private.pk})

    assert response.status_code == 200
    assert "secret" not in soup(response).select_one("textarea[name=reply-body]").get_text()
    assert "That canned reply is not available." in response.content.decode()


# --- Properties and lifecycle -----------------------------------------------------------


def properties(ticket: Ticket, **changes) -> dict:
    """The properties form as the page showed it for `ticket`, with `changes` made."""
    seen = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id or "",
        "team": ticket.team_id or "",
        "tags": ", ".join(ticket.tags.values_list("name", flat=True)),
    }
    data = {}
    for name, value in seen.items():
        data[f"initial-properties-{name}"] = value
        data[f"properties-{name}"] = changes.get(name, value)
    return data


def test_the_properties_form_applies_the_changes_and_audits_each(desk, ticket, ana):
    team = TeamFactory(name="Billing", members=[ana])

    response = desk.post(
        action_url(ticket, "properties"),
        properties(ticket, priority="high", assignee=ana.pk, team=team.pk, tags="Refund, vip"),
    )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.assignee, ticket.team) == ("high", ana, team)
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["refund", "vip"]
    kinds = list(ticket.events.filter(actor=ana).values_list("kind", flat=True))
    assert sorted(kinds) == sorted(
        [
            TicketEvent.Kind.TEAM_CHANGED,
            TicketEvent.Kind.ASSIGNED,
            TicketEvent.Kind.STATUS_CHANGED,
            TicketEvent.Kind.PRIORITY_CHANGED,
            TicketEvent.Kind.TAGS_CHANGED,
        ]
    )


def test_the_properties_form_leaves_alone_what_the_agent_did_not_change(desk, ticket, ana):
    seen = properties(ticket)
    services.ticket_set_priority(ticket=ticket, priority="urgent", actor=agent())
    seen["properties-status"] = Status.PENDING

    desk.post(action_url(ticket, "properties"), seen)

    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == (Status.PENDING, "urgent")


def test_a_refused_property_change_is_shown_on_the_form_and_changes_nothing(desk, ticket, ana):
    team = TeamFactory(name="Billing")  # Ana is not a member
    before = Ticket.objects.values().get(pk=ticket.pk)

    response = desk.post(
        action_url(ticket, "properties"), properties(ticket, assignee=ana.pk, team=team.pk)
    )

    assert response.status_code == 200
    form = soup(response).select_one(f"form[action='{action_url(ticket, 'properties')}']")
    assert "ana is not a member of team Billing." in form.get_text()
    assert form.select_one("select[name=properties-team] option[selected]")["value"] == str(team.pk)
    assert Ticket.objects.values().get(pk=ticket.pk) == before


def test_solve_reopen_and_close_buttons_move_the_ticket(desk, ticket, ana):
    desk.post(action_url(ticket, "solve"))
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED

    desk.post(action_url(ticket, "reopen"))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopen_count) == (Status.OPEN, 1)

    response = desk.post(action_url(ticket, "close"), follow=True)
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    assert f"Ticket {ticket.reference} closed." in response.content.decode()
    kinds = list(ticket.events.filter(actor=ana).values_list("kind", flat=True))
    assert kinds == [
        TicketEvent.Kind.SOLVED,
        TicketEvent.Kind.REOPENED,
        TicketEvent.Kind.SOLVED,
        TicketEvent.Kind.CLOSED,
    ]


def test_solving_a_solved_ticket_shows_why_not(desk, ticket, ana):
    services.ticket_solve(ticket=ticket, actor=ana)

    response = desk.post(action_url(ticket, "solve"), follow=True)

    assert response.status_code == 200
    assert f"Ticket {ticket.reference} is already Solved." in response.content.decode()


def test_the_buttons_only_answer_post(desk, ticket):
    assert desk.get(action_url(ticket, "solve")).status_code == 405


def test_the_history_lists_the_audit_trail_in_a_collapsible_section(desk, ticket, ana):
    services.ticket_set_priority(ticket=ticket, priority="high", actor=ana)

    history = soup(desk.get(page_url(ticket))).select_one("details#history")

    rows = [" ".join(item.get_text(" ", strip=True).split()) for item in history.select("li")]
    assert "Created" in rows[0]
    assert "Priority changed Normal → High" in rows[-1]
    assert "Ana García" in rows[-1]


def test_the_sla_clocks_say_in_words_and_colour_how_close_the_targets_are(desk, lucia):
    SLAPolicy.objects.create(
        name="Normal", priority="normal", first_response_minutes=30, resolution_minutes=60 * 24
    )
    ticket = services.ticket_create(customer=lucia, subject="Soon due")

    page = soup(desk.get(page_url(ticket)))

    first = page.select_one("[data-sla=first_response]")
    assert first["data-state"] == "soon"
    assert "text-bg-warning" in first.select_one(".badge")["class"]
    assert "Due in" in first.get_text()
    assert page.select_one("[data-sla=resolution]")["data-state"] == "ok"

    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_due_at=timezone.now() - timedelta(minutes=5)
    )
    first = soup(desk.get(page_url(ticket))).select_one("[data-sla=first_response]")
    assert first["data-state"] == "past"
    assert "text-bg-danger" in first.select_one(".badge")["class"]
    assert "Overdue by" in first.get_text()


# --- The customer sidebar -----------------------------------------------------------------


def test_the_sidebar_shows_the_customers_profile_other_tickets_purchases_and_events(
    desk, ticket, lucia
):
    lucia.phone = "+34 600 000 000"
    lucia.segment = "enterprise"
    lucia.save()
    older = TicketFactory(customer=lucia, subject="Earlier question")
    PurchaseFactory(customer=lucia, amount="120.50")
    CustomerEventFactory(customer=lucia, note="Visited pricing")

    page = soup(desk.get(page_url(ticket)))

    sidebar = page.select_one("aside")
    text = " ".join(sidebar.get_text(" ", strip=True).split())
    for expected in ("Lucía Pérez", "lucia@example.com", "+34 600 000 000", "enterprise"):
        assert expected in text
    assert "Earlier question" in text
    assert "My order is late" not in text  # the open ticket is not among the "other" ones
    assert sidebar.select_one(f"a[href='{page_url(older)}']") is not None
    assert "Total 120.50 EUR in 1 purchase" in text
    assert "Visited pricing" in text


# --- Access -----------------------------------------------------------------------------


def test_a_restricted_agent_gets_404_for_another_teams_ticket(client, lucia):
    billing = TeamFactory(name="Billing")
    theirs = services.ticket_create(customer=lucia, subject="Billing issue", team=billing)
    restricted = agent(ticket_access=User.TicketAccess.TEAMS)
    TeamFactory(name="Support", members=[restricted])
    client.force_login(restricted)

    assert client.get(page_url(theirs)).status_code == 404
    assert client.post(action_url(theirs, "reply"), {"reply-body": "x"}).status_code == 404
    assert client.post(action_url(theirs, "close")).status_code == 404
    assert not theirs.messages.exists()


def test_anonymous_visitors_are_sent_to_log_in(client, ticket):
    response = client.get(page_url(ticket))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_staff_without_a_role_cannot_open_the_page(client, ticket):
    client.force_login(User.objects.create_user(username="visitor"))

    assert client.get(page_url(ticket)).status_code == 403


# --- Speed --------------------------------------------------------------------------------


def ticket_with_messages(count: int, ana: User) -> Ticket:
    ticket = services.ticket_create(customer=CustomerFactory(), subject="Chatty", body="Hi")
    for number in range(count - 1):
        if number % 3 == 0:
            services.ticket_add_note(ticket=ticket, author=ana, body=f"Note {number}")
        else:
            services.ticket_reply(ticket=ticket, author=ana, body=f"Reply {number}")
    return ticket


def count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_needs_as_many_queries_for_30_messages_as_for_2(
    desk, ana, django_assert_max_num_queries
):
    CannedReply.objects.create(title="Shared", body="{{ customer.first_name }}")
    short = ticket_with_messages(2, ana)
    long = ticket_with_messages(30, ana)
    baseline = count_queries(desk, page_url(short))

    with django_assert_max_num_queries(baseline):
        response = desk.get(page_url(long))

    assert len(re.findall(r"<article id=\"message-", response.content.decode())) == 30


def test_a_restricted_agent_who_hands_a_ticket_to_another_team_goes_back_to_the_queue(
    client, lucia
):
    restricted = agent(ticket_access=User.TicketAccess.TEAMS)
    support = TeamFactory(name="Support", members=[restricted])
    billing = TeamFactory(name="Billing")
    ticket = services.ticket_create(customer=lucia, subject="Invoice", team=support)
    client.force_login(restricted)

    response = client.post(action_url(ticket, "properties"), properties(ticket, team=billing.pk))

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:queue")
    ticket.refresh_from_db()
    assert ticket.team == billing
