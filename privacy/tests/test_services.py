"""Access and erasure requests: the export holds every kind of row kept about the
customer, erasure leaves none of their personal data anywhere in the database, keeps
what the KPIs count, is recorded once and cannot run twice."""

import io
import json

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, CustomerEvent, LifecycleChange, Purchase
from customers.tests.factories import PurchaseFactory
from cxm.lib.exceptions import ApplicationError
from privacy import services
from privacy.models import ErasureRecord
from surveys.models import Answer, Invitation, Response
from tickets import services as ticket_services
from tickets.models import Message, Notification, Ticket, TicketEvent

from .conftest import (
    BODY,
    COMMENT,
    CUSTOMER_REPLY,
    EMAIL,
    EVENT_NOTE,
    EXTERNAL_ID,
    NAME,
    NOTE,
    PERSONAL,
    PHONE,
    REPLY,
    SMTP_ERROR,
    SUBJECT,
)

pytestmark = pytest.mark.django_db


def database_dump() -> str:
    """Every row of every table, as `dumpdata` writes it (non-ASCII kept as is)."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return json.dumps(json.loads(out.getvalue()), ensure_ascii=False)


def erase(held, admin_user, reason="Request by email, case 2026-031") -> ErasureRecord:
    return services.customer_erase(customer=held.customer, actor=admin_user, reason=reason)


# --- export ---


def test_the_export_holds_every_kind_of_row_kept_about_the_customer(held):
    export = services.customer_export(customer=held.customer)

    assert (
        export["customer"].items()
        >= {
            "external_id": EXTERNAL_ID,
            "name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "segment": "smb",
            "stage": "customer",
            "erased_at": None,
        }.items()
    )
    assert [(c["from"], c["to"]) for c in export["lifecycle_changes"]] == [("lead", "customer")]
    assert [(p["amount"], p["margin"]) for p in export["purchases"]] == [("120.50", "40.25")]
    assert [(e["kind"], e["value"], e["note"]) for e in export["events"]] == [
        ("visit", "9.99", EVENT_NOTE)
    ]

    tickets = {ticket["subject"]: ticket for ticket in export["tickets"]}
    assert len(tickets) == 2  # the original and the survey's follow-up
    original = tickets[SUBJECT]
    assert original["tags"] == ["urgent-visit"]
    assert original["team"] == "Boilers"
    assert original["status"] == "solved"
    assert [(m["kind"], m["from_customer"], m["body"]) for m in original["messages"]] == [
        ("reply", True, BODY),
        ("reply", False, REPLY),
        ("note", False, NOTE),
        ("reply", True, CUSTOMER_REPLY),
    ]
    assert original["messages"][1]["email_error"] == SMTP_ERROR
    kinds = [event["kind"] for event in original["events"]]
    assert {"created", "replied", "note", "customer_replied", "solved", "email_failed"} <= set(
        kinds
    )
    follow_up = next(t for t in export["tickets"] if t is not original)
    assert COMMENT in follow_up["messages"][0]["body"]

    assert sorted(i["status"] for i in export["invitations"]) == [
        "failed",
        "scheduled",
        "sent",
        "sent",
    ]
    assert all("token" not in invitation for invitation in export["invitations"])
    [response] = export["responses"]
    assert response["ticket"] == held.ticket.reference
    assert response["follow_up_ticket"] == follow_up["reference"]
    assert [(a["question_type"], a["score"], a["text"]) for a in response["answers"]] == [
        ("nps", 3, ""),
        ("text", None, COMMENT),
    ]
    assert response["answers"][0]["question"] == "¿Nos recomiendas?"  # the customer's language


def test_the_export_is_plain_json_with_iso_dates(held):
    export = services.customer_export(customer=held.customer)

    assert json.loads(json.dumps(export)) == export
    assert export["purchases"][0]["occurred_at"].endswith("+00:00")
    assert export["customer"]["became_customer_at"][:4].isdigit()


def test_the_export_takes_the_same_queries_however_much_the_customer_has(held):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            services.customer_export(customer=held.customer)
        return len(captured)

    before = queries()
    for number in range(3):
        ticket = ticket_services.ticket_create(
            customer=held.customer, subject=f"More {number}", body="More", tags=["more"]
        )
        ticket_services.ticket_add_note(ticket=ticket, author=None, body="A note")
        PurchaseFactory(customer=held.customer)

    assert queries() == before


# --- erasure ---


def test_after_erasure_no_personal_data_is_left_in_the_database(held, admin_user):
    dump = database_dump()
    assert all(text in dump for text in PERSONAL)  # the test can see them before

    erase(held, admin_user)

    dump = database_dump()
    assert [text for text in PERSONAL if text in dump] == []
    export = json.dumps(services.customer_export(customer=held.customer), ensure_ascii=False)
    assert [text for text in PERSONAL if text in export] == []


def test_erasure_keeps_every_row_and_every_figure_the_kpis_count(held, admin_user):
    def facts() -> dict:
        customer = held.customer.pk
        return {
            "customer": list(
                Customer.objects.filter(pk=customer).values(
                    "stage", "became_customer_at", "churned_at", "segment", "language"
                )
            ),
            "lifecycle": list(LifecycleChange.objects.filter(customer=customer).values()),
            "purchases": list(Purchase.objects.filter(customer=customer).values()),
            "events": list(
                CustomerEvent.objects.filter(customer=customer).values(
                    "id", "kind", "channel", "occurred_at", "value"
                )
            ),
            "tickets": list(
                Ticket.objects.filter(customer=customer)
                .order_by("pk")
                .values(
                    "id",
                    "status",
                    "channel",
                    "priority",
                    "category",
                    "team",
                    "assignee",
                    "solved_by",
                    "created_at",
                    "updated_at",
                    "first_response_at",
                    "solved_at",
                    "closed_at",
                    "reopen_count",
                    "first_response_breached",
                    "resolution_breached",
                )
            ),
            "messages": list(
                Message.objects.filter(ticket__customer=customer)
                .order_by("pk")
                .values("id", "kind", "from_customer", "author_agent", "created_at")
            ),
            "ticket_events": list(
                TicketEvent.objects.filter(ticket__customer=customer)
                .order_by("pk")
                .values("id", "kind", "created_at")
            ),
            "responses": list(Response.objects.filter(customer=customer).order_by("pk").values()),
            "answers": list(
                Answer.objects.filter(response__customer=customer)
                .order_by("pk")
                .values("id", "question", "question_type", "score", "choices")
            ),
            "sent": list(
                Invitation.objects.filter(customer=customer, status="sent")
                .order_by("pk")
                .values("id", "sent_at", "ticket")
            ),
        }

    before = facts()

    erase(held, admin_user)

    assert facts() == before


def test_erasure_blanks_the_person_and_their_words(held, admin_user):
    erase(held, admin_user)

    customer = Customer.objects.get(pk=held.customer.pk)
    assert (customer.name, customer.email, customer.phone, customer.external_id) == (
        f"erased-{customer.pk}",
        "",
        "",
        "",
    )
    assert customer.survey_opt_out
    assert set(
        Message.objects.filter(ticket__customer=customer).values_list("body", flat=True)
    ) == {""}
    assert set(Ticket.objects.filter(customer=customer).values_list("subject", flat=True)) == {
        services.ERASED_SUBJECT
    }
    assert set(
        Answer.objects.filter(response__customer=customer).values_list("text", flat=True)
    ) == {""}
    assert Notification.objects.get(ticket=held.ticket).text == held.ticket.reference
    assert LogEntry.objects.get(
        object_id=str(customer.pk), content_type__model="customer"
    ).object_repr == (f"erased-{customer.pk}")


def test_erasure_cancels_pending_invitations_and_emails_and_closes_sent_surveys(held, admin_user):
    failed_reply = Message.objects.get(body=REPLY)
    assert failed_reply.email_status == Message.EmailStatus.FAILED  # "Send again" offered

    erase(held, admin_user)

    failed_reply.refresh_from_db()
    assert failed_reply.email_status == Message.EmailStatus.NONE

    def status(invitation):
        invitation.refresh_from_db()
        return invitation.status

    assert status(held.pending) == Invitation.Status.CANCELLED
    assert status(held.failed) == Invitation.Status.CANCELLED
    assert status(held.open_unanswered) == Invitation.Status.SENT
    assert not held.open_unanswered.is_open_for_answers  # the customer's link now says closed
    assert status(held.answered) == Invitation.Status.SENT
    assert not held.answered.is_open_for_answers  # no revision brings a comment back


def test_erasure_is_recorded_with_who_why_and_what_without_the_external_id(held, admin_user):
    record = erase(held, admin_user, reason="Request by email, case 2026-031")

    record.refresh_from_db()
    assert record.kind == ErasureRecord.Kind.REQUEST
    assert (record.customer_id, record.customer_pk) == (held.customer.pk, held.customer.pk)
    assert (record.actor, record.actor_name) == (admin_user, "admin")
    assert record.reason == "Request by email, case 2026-031"
    assert EXTERNAL_ID not in record.external_id_hash
    assert services.erasure_for_external_id(EXTERNAL_ID) == record
    assert services.erasure_for_external_id("ZQ-0002") is None
    assert record.counts == {
        "customer": 1,
        "tickets": 2,
        "messages": 5,
        "reply_emails_cancelled": 1,
        "ticket_events": 1,
        "answers": 1,
        "customer_events": 1,
        "invitations_cancelled": 2,
        "invitations_closed": 2,
        "notifications": 2,
        "admin_log_entries": 2,
    }


def test_the_external_id_is_still_recognised_after_the_secret_key_rotates(
    held, admin_user, settings
):
    record = erase(held, admin_user)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-that-is-long-enough-0987654321"

    assert services.erasure_for_external_id(EXTERNAL_ID) == record


def test_erasing_twice_is_refused_and_changes_nothing(held, admin_user):
    erase(held, admin_user)

    with pytest.raises(ApplicationError, match="already erased"):
        erase(held, admin_user)

    assert ErasureRecord.objects.count() == 1


def test_an_erasure_needs_a_reason(held, admin_user):
    with pytest.raises(ValidationError):
        erase(held, admin_user, reason="   ")

    held.customer.refresh_from_db()
    assert held.customer.name == NAME
    assert not ErasureRecord.objects.exists()


def test_a_failure_midway_erases_nothing(held, admin_user, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_rename_in_admin_log", broken)

    with pytest.raises(RuntimeError):
        erase(held, admin_user)

    held.customer.refresh_from_db()
    assert held.customer.email == EMAIL
    assert Message.objects.filter(body=BODY).exists()
    assert not ErasureRecord.objects.exists()


@pytest.mark.parametrize("erased", [False, True])
def test_no_survey_email_leaves_for_an_erased_customer(held, admin_user, mailoutbox, erased):
    """The pending invitation would go out and the unanswered one be reminded, were the
    customer not erased."""
    from surveys import services as survey_services

    held.survey.reminder_after_days = 1
    held.survey.save(update_fields=["reminder_after_days"])
    if erased:
        erase(held, admin_user)
    mailoutbox.clear()

    survey_services.invitations_dispatch_due()
    survey_services.invitations_send_reminders()

    assert len(mailoutbox) == (0 if erased else 2)
