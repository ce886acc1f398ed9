"""What tickets and messages know about themselves, and the rules their tables enforce."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template import Context, Template
from django.utils import timezone

from tickets.models import Message, Ticket, TicketEvent
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


# --- reference -----------------------------------------------------------------------


def test_reference_is_the_id_padded_after_a_prefix():
    ticket = TicketFactory()

    assert ticket.reference == f"T-{ticket.pk:06d}"
    assert str(ticket) == f"{ticket.reference} {ticket.subject}"


def test_an_unsaved_ticket_has_no_reference():
    assert Ticket(subject="Draft").reference == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T-000123", 123),
        ("t-000123", 123),
        ("T123", 123),
        ("t123", 123),
        ("123", 123),
        ("  T-7  ", 7),
        ("T-0", 0),
    ],
)
def test_id_from_reference_reads_what_people_type(text, expected):
    assert Ticket.id_from_reference(text) == expected


@pytest.mark.parametrize("text", ["", None, "T-", "abc", "T-12a", "X-12", "12 34", "T--12"])
def test_id_from_reference_rejects_anything_else(text):
    assert Ticket.id_from_reference(text) is None


def test_id_from_reference_finds_the_ticket_its_reference_names():
    ticket = TicketFactory()

    assert Ticket.id_from_reference(ticket.reference) == ticket.pk


def test_is_resolved_only_for_solved_and_closed():
    resolved = {status for status in Ticket.Status if Ticket(status=status).is_resolved}

    assert resolved == {Ticket.Status.SOLVED, Ticket.Status.CLOSED}


# --- message body --------------------------------------------------------------------


def test_body_html_escapes_markup_the_author_typed():
    message = Message(body='<script>alert("hi")</script> & <b>bold</b>')

    html = message.body_html

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in html
    assert "&amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_body_html_keeps_line_breaks_and_paragraphs():
    message = Message(body="Hello,\nmy order is late.\n\nThanks,\nAna")

    assert message.body_html == "<p>Hello,<br>my order is late.</p>\n\n<p>Thanks,<br>Ana</p>"


def test_body_html_renders_in_a_template_without_being_escaped_twice():
    message = Message(body="<script>x</script>\nline two")

    rendered = Template("{{ message.body_html }}").render(Context({"message": message}))

    assert rendered == "<p>&lt;script&gt;x&lt;/script&gt;<br>line two</p>"


def test_a_reply_is_public_and_a_note_is_not():
    assert Message(kind=Message.Kind.REPLY).is_public
    assert not Message(kind=Message.Kind.NOTE).is_public


# --- constraints ---------------------------------------------------------------------


def test_a_customer_can_never_write_an_internal_note():
    ticket = TicketFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(ticket=ticket, kind=Message.Kind.NOTE, from_customer=True, body="x")


def test_a_closed_ticket_without_closed_at_is_refused_by_the_database():
    ticket = TicketFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(status="closed", solved_at=timezone.now())


@pytest.mark.parametrize("status", ["solved", "closed"])
def test_a_resolved_ticket_without_solved_at_is_refused_by_the_database(status):
    ticket = TicketFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(status=status, closed_at=timezone.now())


def test_a_ticket_cannot_be_solved_before_it_was_created():
    ticket = TicketFactory()
    ticket.solved_at = ticket.created_at - timedelta(minutes=1)

    with pytest.raises(ValidationError):
        ticket.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        ticket.save()


def test_external_id_is_unique_when_set_but_many_tickets_may_have_none():
    TicketFactory(external_id="")
    TicketFactory(external_id="")
    TicketFactory(external_id="ZD-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        TicketFactory(external_id="ZD-1")
    assert Ticket.objects.filter(external_id="").count() == 2


def test_ticket_event_reads_as_kind_and_change():
    event = TicketEvent(kind=TicketEvent.Kind.STATUS_CHANGED, from_value="new", to_value="open")

    assert str(event) == "Status changed new→open"
