"""Creating and cancelling invitations: the outbox rows, written with the ticket."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from cxm.lib.exceptions import ApplicationError
from tickets.models import Message, Ticket, TicketEvent

from .. import rules
from ..models import Invitation, Survey

logger = logging.getLogger(__name__)
Status = Invitation.Status


def _last_surveyed(customer: Customer, survey: Survey) -> tuple[datetime | None, datetime | None]:
    """When this customer was last surveyed (any survey), and by this one. A scheduled
    invitation counts at its send time, so two closes in a row survey once."""
    counted = Invitation.objects.filter(customer=customer, status__in=Invitation.LIVE)
    latest = counted.aggregate(
        any_survey=Max("send_after"), this_survey=Max("send_after", filter=Q(survey=survey))
    )
    return latest["any_survey"], latest["this_survey"]


# The kick only asks a worker to look now; beat's sweep is what guarantees the send. So
# one publish and one reconnect, no sleeping between: nobody waits on a dead broker.
KICK_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def _kick_dispatch() -> None:
    """After commit, ask a worker to send what is due: once per transaction, however many
    invitations it wrote (a bulk close of 50 tickets publishes one task, not 50)."""
    pending = transaction.get_connection().run_on_commit
    if not any(callback is _dispatch_now for _, callback, _ in pending):
        transaction.on_commit(_dispatch_now)


def _dispatch_now() -> None:
    """The row is the outbox: when the broker is down, beat's sweep sends it later."""
    from ..tasks import dispatch_due_invitations

    try:
        dispatch_due_invitations.apply_async(retry_policy=KICK_RETRY_POLICY)
    except Exception as error:
        logger.warning("Broker unavailable (%s); the invitation waits for the next sweep.", error)


def _create(
    *,
    survey: Survey,
    customer: Customer,
    ticket: Ticket | None,
    send_after: datetime,
    skip_reason: str | None,
    created_by=None,
) -> Invitation:
    invitation = Invitation(
        survey=survey,
        customer=customer,
        ticket=ticket,
        language=customer.language,
        send_after=send_after,
        expires_at=send_after + timedelta(days=survey.expire_after_days),
        created_by=created_by,
    )
    if skip_reason:
        invitation.status = Status.SKIPPED
        invitation.skip_reason = skip_reason
    invitation.save()
    return invitation


@transaction.atomic
def invitations_schedule_for_ticket(*, ticket: Ticket, trigger: str) -> list[Invitation]:
    """Called when a ticket is solved or closed (inside that transaction): for every
    active transactional survey with this trigger that targets the ticket, write a
    scheduled invitation, or a skipped one that says why."""
    surveys = list(
        Survey.objects.filter(
            is_active=True, kind=Survey.Kind.TRANSACTIONAL, trigger=trigger
        ).prefetch_related("teams")
    )
    if not surveys:
        return []
    now = timezone.now()
    customer = ticket.customer
    tag_names = set(ticket.tags.values_list("name", flat=True))
    has_agent_reply = ticket.messages.filter(
        kind=Message.Kind.REPLY, from_customer=False, author_agent__isnull=False
    ).exists()
    auto_closed = rules.auto_closed_without_contact(
        list(
            ticket.events.filter(
                kind__in=[TicketEvent.Kind.CLOSED, TicketEvent.Kind.CUSTOMER_REPLIED]
            )
        )
    )
    created = []
    for survey in surveys:
        if not rules.ticket_matches(
            survey=survey, ticket=ticket, team_ids={team.pk for team in survey.teams.all()}
        ):
            continue
        live = Invitation.objects.filter(survey=survey, ticket=ticket, status__in=Invitation.LIVE)
        if live.exists():
            continue  # solved then closed, or a retried signal: one invitation per ticket
        last_any, last_this = _last_surveyed(customer, survey)
        reason = (
            rules.ticket_exclusion(
                survey=survey,
                ticket=ticket,
                tag_names=tag_names,
                has_agent_reply=has_agent_reply,
                auto_closed_without_contact=auto_closed,
            )
            or rules.customer_exclusion(
                survey=survey,
                customer=customer,
                now=now,
                last_surveyed_at=last_any,
                last_surveyed_by_this_at=last_this,
            )
            or (
                None
                if rules.in_sample(survey=survey, key=f"ticket:{ticket.pk}")
                else Invitation.SkipReason.SAMPLED_OUT
            )
        )
        created.append(
            _create(
                survey=survey,
                customer=customer,
                ticket=ticket,
                send_after=now + survey.delay,
                skip_reason=reason,
            )
        )
    if any(invitation.status == Status.SCHEDULED for invitation in created):
        _kick_dispatch()
    return created


@transaction.atomic
def invitations_cancel_for_ticket(*, ticket: Ticket) -> int:
    """The ticket was reopened: invitations not yet sent are cancelled (the next
    solve or close schedules a fresh one). Sent ones stay: the customer has them."""
    return Invitation.objects.filter(ticket=ticket, status=Status.SCHEDULED).update(
        status=Status.CANCELLED
    )


@transaction.atomic
def invitation_create_manual(
    *, survey: Survey, customer: Customer, actor, send_after: datetime | None = None
) -> Invitation:
    """An invitation sent by hand (API, admin). The customer's own wishes still rule:
    no survey to an unsubscribed customer or one without an email address."""
    if customer.survey_opt_out:
        raise ApplicationError(_("This customer unsubscribed from surveys."), field="customer")
    if not customer.email:
        raise ApplicationError(_("This customer has no email address."), field="customer")
    if not survey.questions.exists():
        raise ApplicationError(_("This survey has no questions yet."), field="survey")
    invitation = _create(
        survey=survey,
        customer=customer,
        ticket=None,
        send_after=send_after or timezone.now(),
        skip_reason=None,
        created_by=actor,
    )
    _kick_dispatch()
    return invitation


@transaction.atomic
def campaign_run(*, survey: Survey, now: datetime | None = None) -> dict[str, int]:
    """Invite the survey's segment (current customers) now, under the same fatigue
    rules as every survey. Returns counts of scheduled and skipped invitations."""
    if survey.kind != Survey.Kind.RELATIONSHIP:
        raise ApplicationError(_("Only relationship campaigns are sent to a segment."))
    now = now or timezone.now()
    customers = Customer.objects.filter(stage=Customer.Stage.CUSTOMER)
    if survey.segment:
        customers = customers.filter(segment=survey.segment)
    counts = {"scheduled": 0, "skipped": 0}
    for customer in customers.iterator(chunk_size=500):
        last_any, last_this = _last_surveyed(customer, survey)
        reason = rules.customer_exclusion(
            survey=survey,
            customer=customer,
            now=now,
            last_surveyed_at=last_any,
            last_surveyed_by_this_at=last_this,
        ) or (
            None
            if rules.in_sample(survey=survey, key=f"campaign:{now:%Y%m%d}:{customer.pk}")
            else Invitation.SkipReason.SAMPLED_OUT
        )
        _create(survey=survey, customer=customer, ticket=None, send_after=now, skip_reason=reason)
        counts["skipped" if reason else "scheduled"] += 1
    if survey.repeat_every_months:
        survey.next_run_at = now + timedelta(days=30 * survey.repeat_every_months)
    else:
        survey.next_run_at = None
    survey.save(update_fields=["next_run_at", "updated_at"])
    if counts["scheduled"]:
        _kick_dispatch()
    return counts


def campaigns_run_due(*, now: datetime | None = None) -> int:
    """Beat: run every active campaign whose next run has come."""
    now = now or timezone.now()
    due = Survey.objects.filter(is_active=True, kind=Survey.Kind.RELATIONSHIP, next_run_at__lte=now)
    ran = 0
    for survey in due:
        campaign_run(survey=survey, now=now)
        ran += 1
    return ran
