"""A customer who has a bit of everything the product can hold about a person, every
piece of personal data marked by words that appear nowhere else."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from accounts.tests.factories import agent
from customers import services as customer_services
from customers.models import Customer
from surveys import services as survey_services
from surveys.models import Invitation, Question, Survey
from tickets import services as ticket_services
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory

NAME = "Zelda Quixote-Marlowe"
EMAIL = "zelda.quixote@example.org"
PHONE = "+34 600 111 222"
EXTERNAL_ID = "ZQ-0001"
TICKET_EXTERNAL_ID = "OLDDESK-77123"
SUBJECT = "Boiler broken at Calle Falsa 123"
BODY = "My boiler exploded, please call me at home"
REPLY = "We are sending a technician to your flat tomorrow"
NOTE = "Customer sounded distressed about her landlord Mr Gravenstein"
CUSTOMER_REPLY = "Thanks, the technician can use the spare key under the mat"
EVENT_NOTE = "Visited the showroom with her daughter Philippa"
COMMENT = "The agent mentioned my divorce on the phone"
SMTP_ERROR = f"550 <{EMAIL}> mailbox unavailable"

# Every string that identifies or describes the person: none may survive an erasure.
PERSONAL = (
    NAME,
    EMAIL,
    PHONE,
    EXTERNAL_ID,
    TICKET_EXTERNAL_ID,
    SUBJECT,
    BODY,
    REPLY,
    NOTE,
    CUSTOMER_REPLY,
    EVENT_NOTE,
    COMMENT,
    "Zelda",
    "Quixote",
    "zelda.quixote",
    "Falsa",
    "Gravenstein",
    "Philippa",
    "divorce",
)


@dataclass
class Held:
    customer: Customer
    ticket: Ticket
    survey: Survey
    answered: Invitation
    pending: Invitation
    failed: Invitation
    open_unanswered: Invitation


def _survey() -> Survey:
    survey = survey_services.survey_save(name="After-ticket NPS")
    survey_services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Nos recomiendas?"
    )
    survey_services.question_save(
        survey=survey,
        type=Question.Type.TEXT,
        text_en="Anything to add?",
        text_es="¿Algo más?",
        required=False,
    )
    return survey_services.survey_save(survey=survey, is_active=True)


def _invitation(survey: Survey, customer: Customer, ticket: Ticket, status: str, **fields):
    now = timezone.now()
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        status=status,
        language="es",
        send_after=now - timedelta(days=1),
        sent_at=now - timedelta(days=1) if status == Invitation.Status.SENT else None,
        expires_at=now + timedelta(days=13),
        **fields,
    )


@pytest.fixture
def held(db, admin_user) -> Held:
    now = timezone.now()
    customer = customer_services.customer_create(
        name=NAME, email=EMAIL, phone=PHONE, external_id=EXTERNAL_ID, segment="smb"
    )
    customer_services.customer_become_customer(customer=customer, at=now - timedelta(days=60))
    customer_services.purchase_create(
        customer=customer,
        amount=Decimal("120.50"),
        margin=Decimal("40.25"),
        occurred_at=now - timedelta(days=50),
    )
    customer_services.customer_event_create(
        customer=customer,
        channel="in_person",
        kind="visit",
        value=Decimal("9.99"),
        note=EVENT_NOTE,
        occurred_at=now - timedelta(days=40),
    )

    worker = agent(username="worker")
    team = TeamFactory(name="Boilers", members=[worker])
    ticket = ticket_services.ticket_create(
        customer=customer,
        subject=SUBJECT,
        body=BODY,
        team=team,
        assignee=worker,
        category="heating",
        tags=["urgent-visit"],
    )
    Ticket.objects.filter(pk=ticket.pk).update(external_id=TICKET_EXTERNAL_ID)
    reply = ticket_services.ticket_reply(ticket=ticket, author=worker, body=REPLY)
    ticket_services.message_email_failed(message_id=reply.pk, error=SMTP_ERROR)
    ticket_services.ticket_add_note(ticket=ticket, author=worker, body=NOTE)
    ticket_services.ticket_customer_reply(ticket=ticket, body=CUSTOMER_REPLY)
    ticket_services.notify(user=worker, ticket=ticket, kind="assigned")
    ticket = ticket_services.ticket_solve(ticket=ticket, actor=worker)

    survey = _survey()
    nps, comment = survey.questions.order_by("position", "pk")
    answered = _invitation(survey, customer, ticket, Invitation.Status.SENT)
    # A detractor with a comment: the closed loop opens a follow-up ticket that quotes
    # the customer's name and comment, and notifies the agent.
    survey_services.response_record(
        invitation=answered,
        answers={
            nps.pk: survey_services.AnswerInput(score=3),
            comment.pk: survey_services.AnswerInput(text=COMMENT),
        },
    )
    pending = _invitation(survey, customer, None, Invitation.Status.SCHEDULED)
    failed = _invitation(survey, customer, None, Invitation.Status.FAILED, last_error=SMTP_ERROR)
    open_unanswered = _invitation(survey, customer, None, Invitation.Status.SENT)

    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(customer.pk),
        object_repr=str(customer),
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["Phone"]}}]',
    )
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Ticket),
        object_id=str(ticket.pk),
        object_repr=str(ticket),
        action_flag=CHANGE,
        change_message="[]",
    )
    customer.refresh_from_db()
    return Held(
        customer=customer,
        ticket=ticket,
        survey=survey,
        answered=answered,
        pending=pending,
        failed=failed,
        open_unanswered=open_unanswered,
    )
