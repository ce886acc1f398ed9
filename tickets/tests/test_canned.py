"""Canned replies: safe placeholders, and who may keep, share and change them."""

import pytest
from django.core.exceptions import ValidationError

from accounts.tests.factories import agent, manager
from customers.tests.factories import CustomerFactory
from cxm.lib.exceptions import ApplicationError
from tickets import services
from tickets.canned import render_canned_reply
from tickets.models import CannedReply, Ticket
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana():
    return agent(username="ana", first_name="Ana", last_name="García", email="ana@cxm.example")


@pytest.fixture
def bea():
    return agent(username="bea")


@pytest.fixture
def lead():
    return manager(username="lead")


@pytest.fixture
def ticket():
    customer = CustomerFactory(name="Lucía Pérez", email="lucia@example.com")
    return TicketFactory(customer=customer, subject="Broken zip")


def test_placeholders_are_filled_from_the_customer_ticket_and_agent(ticket, ana):
    text = (
        "Hola {{ customer.first_name }}, about {{ticket.reference}} ({{ ticket.subject }}): "
        "{{ agent.first_name }} {{ agent.last_name }} here."
    )

    assert render_canned_reply(text, ticket=ticket, agent=ana) == (
        f"Hola Lucía, about {ticket.reference} (Broken zip): Ana García here."
    )


@pytest.mark.parametrize(
    "placeholder",
    [
        "{{ customer.phone }}",
        "{{ ticket.customer.email }}",
        "{{ agent.password }}",
        "{{ agent.__class__ }}",
        "{{ ticket.delete }}",
        "{{ settings.SECRET_KEY }}",
        "{% load log %}",
        "{{ customer.first_name|upper }}",
    ],
)
def test_anything_outside_the_placeholder_list_is_left_as_written(ticket, ana, placeholder):
    text = f"Dear customer, {placeholder}."

    assert render_canned_reply(text, ticket=ticket, agent=ana) == text
    assert Ticket.objects.filter(pk=ticket.pk).exists()  # nothing was called either


def test_a_password_hash_never_appears_in_a_rendered_reply(ticket, ana):
    rendered = render_canned_reply("{{ agent.password }}", ticket=ticket, agent=ana)

    assert ana.password not in rendered


def test_html_in_values_stays_plain_text_and_is_escaped_only_when_shown(ana):
    customer = CustomerFactory(name="<script>alert(1)</script> Lucía")
    ticket = TicketFactory(customer=customer, subject="<b>urgent</b>")

    rendered = render_canned_reply(
        "Hi {{ customer.first_name }}, re {{ ticket.subject }}", ticket=ticket, agent=ana
    )

    assert rendered == "Hi <script>alert(1)</script>, re <b>urgent</b>"
    message = services.ticket_reply(ticket=ticket, author=ana, body=rendered)
    assert message.body == rendered
    assert "<script>" not in message.body_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.body_html


def test_an_agent_keeps_a_personal_reply(ana):
    canned = services.canned_reply_save(
        actor=ana, title="  Refund sent  ", body="We refunded you.", shared=False
    )

    assert (canned.owner, canned.title) == (ana, "Refund sent")


def test_an_agent_cannot_share_a_reply(ana):
    with pytest.raises(ApplicationError, match="managers"):
        services.canned_reply_save(actor=ana, title="Hello", body="Hi!", shared=True)

    assert not CannedReply.objects.exists()


def test_a_manager_shares_a_reply_with_everyone(lead):
    canned = services.canned_reply_save(actor=lead, title="Hello", body="Hi!", shared=True)

    assert canned.owner is None


def test_an_agent_edits_and_deletes_only_their_own_replies(ana, bea):
    canned = services.canned_reply_save(actor=ana, title="Hello", body="Hi!", shared=False)

    with pytest.raises(ApplicationError, match="another agent"):
        services.canned_reply_save(
            actor=bea, canned=canned, title="Mine now", body="Hi!", shared=False
        )
    with pytest.raises(ApplicationError, match="another agent"):
        services.canned_reply_delete(canned=canned, actor=bea)

    canned.refresh_from_db()
    assert (canned.owner, canned.title) == (ana, "Hello")
    services.canned_reply_save(actor=ana, canned=canned, title="Hello!", body="Hi", shared=False)
    services.canned_reply_delete(canned=canned, actor=ana)
    assert not CannedReply.objects.exists()


def test_a_manager_cannot_take_over_an_agents_personal_reply(ana, lead):
    canned = services.canned_reply_save(actor=ana, title="Hello", body="Hi!", shared=False)

    with pytest.raises(ApplicationError):
        services.canned_reply_save(actor=lead, canned=canned, title="Hello", body="x", shared=True)

    canned.refresh_from_db()
    assert canned.owner == ana


def test_an_agent_can_neither_change_nor_delete_a_shared_reply(ana, lead):
    shared = services.canned_reply_save(actor=lead, title="Hello", body="Hi!", shared=True)

    with pytest.raises(ApplicationError, match="managers"):
        services.canned_reply_save(
            actor=ana, canned=shared, title="Hello", body="Changed", shared=True
        )
    with pytest.raises(ApplicationError, match="managers"):
        services.canned_reply_save(
            actor=ana, canned=shared, title="Hello", body="Changed", shared=False
        )
    with pytest.raises(ApplicationError):
        services.canned_reply_delete(canned=shared, actor=ana)

    shared.refresh_from_db()
    assert (shared.owner, shared.body) == (None, "Hi!")


def test_an_agent_cannot_turn_a_personal_reply_into_a_shared_one(ana):
    canned = services.canned_reply_save(actor=ana, title="Hello", body="Hi!", shared=False)

    with pytest.raises(ApplicationError):
        services.canned_reply_save(actor=ana, canned=canned, title="Hello", body="Hi!", shared=True)

    canned.refresh_from_db()
    assert canned.owner == ana


def test_a_reply_needs_a_title_and_a_body(ana):
    with pytest.raises(ValidationError) as error:
        services.canned_reply_save(actor=ana, title="   ", body="", shared=False)

    assert {"title", "body"} <= set(error.value.message_dict)
    assert not CannedReply.objects.exists()
