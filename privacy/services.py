"""Privacy requests (GDPR): everything held about a customer as JSON, erasing a customer's
personal data, and the retention sweep that anonymises old free text.

Erasure keeps every row and blanks only what identifies or describes the person: names,
addresses, free text. Scores, timestamps, stages, amounts, channels, categories, teams and
segments stay, so every KPI gives the same figures before and after."""

import logging
import time
from calendar import monthrange
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.models import Customer, CustomerEvent, LifecycleChange, Purchase
from cxm.lib.exceptions import ApplicationError
from surveys.models import Answer, Invitation, Response
from tickets.models import Message, Notification, Ticket, TicketEvent

from .models import ErasureRecord

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "cxm-customer-export/1"
# What replaces a ticket subject. Bodies and comments become empty: nothing is held.
ERASED_SUBJECT = "—"
# Pending invitations are cancelled; a failed one would otherwise be sent again by hand.
_PENDING_INVITATIONS = (Invitation.Status.SCHEDULED, Invitation.Status.FAILED)

RETENTION_BATCH = 1000
# Well under the Celery soft time limit (4 min): a long backlog goes on in the next run.
RETENTION_BUDGET = timedelta(minutes=3)


def erased_name(customer_pk: int) -> str:
    """The name an erased customer keeps: it must not be empty, and says what happened."""
    return f"erased-{customer_pk}"


# --- export ---------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _decimal(amount: Decimal | None) -> str | None:
    return str(amount) if amount is not None else None


def _person(user) -> str | None:
    return user.display_name if user is not None else None


def _reference(ticket: Ticket | None) -> str | None:
    return ticket.reference if ticket is not None else None


def _ticket_export(ticket: Ticket) -> dict[str, Any]:
    return {
        "reference": ticket.reference,
        "external_id": ticket.external_id,
        "subject": ticket.subject,
        "channel": ticket.channel,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "tags": sorted(tag.name for tag in ticket.tags.all()),
        "team": ticket.team.name if ticket.team else None,
        "assignee": _person(ticket.assignee),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "first_response_at": _iso(ticket.first_response_at),
        "solved_at": _iso(ticket.solved_at),
        "closed_at": _iso(ticket.closed_at),
        "reopen_count": ticket.reopen_count,
        "do_not_survey": ticket.do_not_survey,
        "messages": [
            {
                "id": message.pk,
                "kind": message.kind,
                "from_customer": message.from_customer,
                "agent": _person(message.author_agent),
                "body": message.body,
                "created_at": _iso(message.created_at),
                "email_status": message.email_status,
                "emailed_at": _iso(message.emailed_at),
                "email_error": message.email_error,
            }
            for message in ticket.messages.all()
        ],
        "events": [
            {
                "kind": event.kind,
                "from": event.from_value,
                "to": event.to_value,
                "actor": _person(event.actor),
                "at": _iso(event.created_at),
            }
            for event in ticket.events.all()
        ],
    }


def _response_export(response: Response) -> dict[str, Any]:
    return {
        "id": response.pk,
        "survey": response.survey.name,
        "invitation": response.invitation_id,
        "ticket": _reference(response.ticket),
        "source": response.source,
        "language": response.language,
        "answered_at": _iso(response.answered_at),
        "updated_at": _iso(response.updated_at),
        "segment": response.segment,
        "channel": response.channel,
        "category": response.category,
        "priority": response.priority,
        "follow_up_ticket": _reference(response.follow_up_ticket),
        "loop_closed_at": _iso(response.loop_closed_at),
        "answers": [
            {
                "question": answer.question.text_in(response.language),
                "question_type": answer.question_type,
                "score": answer.score,
                "choices": list(answer.choices),
                "text": answer.text,
            }
            for answer in response.answers.all()
        ],
    }


def customer_export(*, customer: Customer) -> dict[str, Any]:
    """Everything held about the customer, as JSON-ready data: datetimes in ISO 8601,
    amounts as strings. Invitation tokens are left out: they are credentials, not data
    about the person. A fixed number of queries, however much the customer has."""
    customer = Customer.objects.select_related("account_owner").get(pk=customer.pk)
    tickets = (
        Ticket.objects.filter(customer=customer)
        .select_related("team", "assignee")
        .prefetch_related(
            "tags",
            Prefetch("messages", Message.objects.select_related("author_agent")),
            Prefetch("events", TicketEvent.objects.select_related("actor")),
        )
        .order_by("created_at", "pk")
    )
    invitations = (
        Invitation.objects.filter(customer=customer)
        .select_related("survey", "ticket")
        .order_by("created_at", "pk")
    )
    responses = (
        Response.objects.filter(customer=customer)
        .select_related("survey", "ticket", "follow_up_ticket")
        .prefetch_related(Prefetch("answers", Answer.objects.select_related("question")))
        .order_by("answered_at", "pk")
    )
    erasure = ErasureRecord.objects.filter(
        kind=ErasureRecord.Kind.REQUEST, customer_pk=customer.pk
    ).first()
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now()),
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "language": customer.language,
            "segment": customer.segment,
            "stage": customer.stage,
            "became_customer_at": _iso(customer.became_customer_at),
            "churned_at": _iso(customer.churned_at),
            "survey_opt_out": customer.survey_opt_out,
            "account_owner": _person(customer.account_owner),
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "erased_at": _iso(erasure.created_at) if erasure else None,
        },
        "lifecycle_changes": [
            {"from": change.from_stage, "to": change.to_stage, "at": _iso(change.occurred_at)}
            for change in LifecycleChange.objects.filter(customer=customer).order_by(
                "occurred_at", "pk"
            )
        ],
        "purchases": [
            {
                "occurred_at": _iso(purchase.occurred_at),
                "kind": purchase.kind,
                "amount": _decimal(purchase.amount),
                "margin": _decimal(purchase.margin),
                "currency": purchase.currency,
                "created_at": _iso(purchase.created_at),
            }
            for purchase in Purchase.objects.filter(customer=customer).order_by("occurred_at", "pk")
        ],
        "events": [
            {
                "occurred_at": _iso(event.occurred_at),
                "kind": event.kind,
                "channel": event.channel,
                "value": _decimal(event.value),
                "note": event.note,
                "created_at": _iso(event.created_at),
            }
            for event in CustomerEvent.objects.filter(customer=customer).order_by(
                "occurred_at", "pk"
            )
        ],
        "tickets": [_ticket_export(ticket) for ticket in tickets],
        "invitations": [
            {
                "id": invitation.pk,
                "survey": invitation.survey.name,
                "ticket": _reference(invitation.ticket),
                "status": invitation.status,
                "skip_reason": invitation.skip_reason,
                "language": invitation.language,
                "send_after": _iso(invitation.send_after),
                "sent_at": _iso(invitation.sent_at),
                "reminder_sent_at": _iso(invitation.reminder_sent_at),
                "expires_at": _iso(invitation.expires_at),
                "created_at": _iso(invitation.created_at),
            }
            for invitation in invitations
        ],
        "responses": [_response_export(response) for response in responses],
    }


# --- erasure --------------------------------------------------------------------------


def external_id_digest(external_id: str, *, secret: str | None = None) -> str:
    """The keyed hash an erasure record keeps instead of the external id."""
    return salted_hmac(
        "privacy.ErasureRecord.external_id", external_id, secret=secret, algorithm="sha256"
    ).hexdigest()


def erasure_for_external_id(external_id: str) -> ErasureRecord | None:
    """The erasure of the customer who had this external id, if there was one. The
    digest is tried with the current key and the old ones (SECRET_KEY_FALLBACKS)."""
    if not external_id:
        return None
    digests = [
        external_id_digest(external_id, secret=key)
        for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]
    return ErasureRecord.objects.filter(
        kind=ErasureRecord.Kind.REQUEST, external_id_hash__in=digests
    ).first()


def _rename_in_admin_log(model: type[Model], rows: QuerySet) -> int:
    """The admin's history keeps each object's str() as it was, names and subjects
    included: give the logged objects their new, erased names."""
    content_type = ContentType.objects.get_for_model(model)
    logged = LogEntry.objects.filter(
        content_type=content_type,
        object_id__in=[str(pk) for pk in rows.values_list("pk", flat=True)],
    )
    renamed = 0
    for object_id in set(logged.values_list("object_id", flat=True)):
        instance = model.objects.get(pk=object_id)
        renamed += logged.filter(object_id=object_id).update(object_repr=str(instance)[:200])
    return renamed


@transaction.atomic
def customer_erase(
    *, customer: Customer, actor, reason: str, actor_name: str = ""
) -> ErasureRecord:
    """Erase the customer's personal data for good and record it (once: a second call
    is refused). Blanked: name, email, phone and external id of the customer, ticket
    subjects and external ids, message bodies and notes, email errors (they quote
    addresses), answer comments, touchpoint notes, notification texts (they quote
    subjects) and the admin history's object names. Pending invitations and reply
    emails are cancelled and sent invitations stop accepting answers, so nothing is
    sent or collected again. Everything the KPIs count stays as it was."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why this customer's data is erased.")})
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    previous = ErasureRecord.objects.filter(
        kind=ErasureRecord.Kind.REQUEST, customer_pk=customer.pk
    ).first()
    if previous is not None:
        raise ApplicationError(
            _("This customer's personal data was already erased on %(date)s.")
            % {"date": date_format(timezone.localtime(previous.created_at), "DATETIME_FORMAT")}
        )
    now = timezone.now()
    tickets = Ticket.objects.filter(customer=customer)
    messages = Message.objects.filter(ticket__customer=customer)
    invitations = Invitation.objects.filter(customer=customer)

    counts = {
        "tickets": tickets.update(subject=ERASED_SUBJECT, external_id=""),
        "messages": messages.update(body="", email_error=""),
        # A reply waiting to be emailed (or re-sent by hand) has no address to go to now.
        "reply_emails_cancelled": messages.filter(
            email_status__in=[Message.EmailStatus.QUEUED, Message.EmailStatus.FAILED]
        ).update(email_status=Message.EmailStatus.NONE),
        "ticket_events": TicketEvent.objects.filter(
            ticket__customer=customer, kind=TicketEvent.Kind.EMAIL_FAILED
        ).update(to_value=""),
        "answers": Answer.objects.filter(response__customer=customer)
        .exclude(text="")
        .update(text=""),
        "customer_events": CustomerEvent.objects.filter(customer=customer)
        .exclude(note="")
        .update(note=""),
        "invitations_cancelled": invitations.filter(status__in=_PENDING_INVITATIONS).update(
            status=Invitation.Status.CANCELLED
        ),
        "invitations_closed": invitations.filter(status=Invitation.Status.SENT)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .update(expires_at=now),
    }
    invitations.exclude(last_error="").update(last_error="")
    notified_tickets = set(
        Notification.objects.filter(ticket__customer=customer).values_list("ticket_id", flat=True)
    )
    counts["notifications"] = sum(
        Notification.objects.filter(ticket_id=ticket_id).update(text=Ticket(pk=ticket_id).reference)
        for ticket_id in notified_tickets
    )

    external_id = customer.external_id
    customer.name = erased_name(customer.pk)
    customer.email = ""
    customer.phone = ""
    customer.external_id = ""
    customer.survey_opt_out = True
    customer.save(
        update_fields=["name", "email", "phone", "external_id", "survey_opt_out", "updated_at"]
    )
    counts["customer"] = 1
    counts["admin_log_entries"] = sum(
        _rename_in_admin_log(model, rows)
        for model, rows in (
            (Customer, Customer.objects.filter(pk=customer.pk)),
            (Ticket, tickets),
            (Purchase, Purchase.objects.filter(customer=customer)),
            (CustomerEvent, CustomerEvent.objects.filter(customer=customer)),
            (Invitation, invitations),
            (Response, Response.objects.filter(customer=customer)),
        )
    )
    record = ErasureRecord.objects.create(
        kind=ErasureRecord.Kind.REQUEST,
        customer=customer,
        customer_pk=customer.pk,
        external_id_hash=external_id_digest(external_id) if external_id else "",
        actor=actor,
        actor_name=(actor.get_username() if actor is not None else actor_name)[:150],
        reason=reason,
        counts=counts,
        created_at=now,
    )
    logger.info("Erased the personal data of customer %s (record %s)", customer.pk, record.pk)
    return record


# --- retention ------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRun:
    messages: int
    answers: int
    finished: bool
    record: ErasureRecord | None


def months_before(moment: datetime, months: int) -> datetime:
    """The same time `months` calendar months earlier (31 March - 1 month: 28/29 Feb)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def _blank_in_batches(
    rows: QuerySet, blank: dict[str, str], *, batch_size: int, deadline: float
) -> tuple[int, bool]:
    """Blank the rows batch by batch (ids only in memory), each batch in its own short
    transaction. `rows` must exclude what is already blank, so a run repeated or cut
    short just goes on. Returns how many were blanked and whether all were."""
    blanked = 0
    while True:
        with transaction.atomic():
            ids = list(
                rows.select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                blanked += rows.model.objects.filter(pk__in=ids).update(**blank)
        if len(ids) < batch_size:
            return blanked, True
        if time.monotonic() >= deadline:
            return blanked, False


def content_anonymise_old(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    budget: timedelta | None = None,
) -> RetentionRun:
    """Blank message bodies and survey comments older than CXM_RETENTION_MONTHS (0: do
    nothing). Each run that blanks anything writes one audit record with the counts.
    Stops after `budget` (RETENTION_BUDGET; at least one batch is done) and says
    whether it finished."""
    months = settings.CXM_RETENTION_MONTHS
    if months <= 0:
        return RetentionRun(messages=0, answers=0, finished=True, record=None)
    cutoff = months_before(now or timezone.now(), months)
    batch_size = batch_size or RETENTION_BATCH
    budget = RETENTION_BUDGET if budget is None else budget
    deadline = time.monotonic() + budget.total_seconds()
    messages, finished = _blank_in_batches(
        Message.objects.filter(created_at__lt=cutoff).exclude(body="", email_error=""),
        {"body": "", "email_error": ""},
        batch_size=batch_size,
        deadline=deadline,
    )
    answers = 0
    if finished:
        answers, finished = _blank_in_batches(
            Answer.objects.filter(response__answered_at__lt=cutoff).exclude(text=""),
            {"text": ""},
            batch_size=batch_size,
            deadline=deadline,
        )
    record = None
    if messages or answers:
        record = ErasureRecord.objects.create(
            kind=ErasureRecord.Kind.RETENTION,
            actor_name="retention",
            reason=_("Retention period: %(months)d months.") % {"months": months},
            cutoff=cutoff,
            counts={"messages": messages, "answers": answers},
        )
    logger.info(
        "Retention: %d message bodies and %d comments before %s anonymised%s",
        messages,
        answers,
        cutoff.isoformat(),
        "" if finished else " (more to do)",
    )
    return RetentionRun(messages=messages, answers=answers, finished=finished, record=record)
