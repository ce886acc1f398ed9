"""Who may be surveyed, and when: pure decisions over already-loaded rows."""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings

from customers.models import Customer
from tickets.models import Ticket, TicketEvent

from .models import Invitation, Question, Survey

SkipReason = Invitation.SkipReason


def in_sample(*, survey: Survey, key: str) -> bool:
    """A stable draw: the same ticket and survey always fall the same way, so a
    retried or re-evaluated trigger never changes its mind."""
    if survey.sampling_rate >= 100:
        return True
    digest = hashlib.sha256(f"{survey.pk}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < survey.sampling_rate


def ticket_matches(*, survey: Survey, ticket: Ticket, team_ids: set[int]) -> bool:
    """The survey's targeting (teams, channels, categories, priorities); empty = any."""
    return (
        (not team_ids or ticket.team_id in team_ids)
        and (not survey.channels or ticket.channel in survey.channels)
        and (not survey.categories or ticket.category in survey.categories)
        and (not survey.priorities or ticket.priority in survey.priorities)
    )


def ticket_exclusion(
    *,
    survey: Survey,
    ticket: Ticket,
    tag_names: set[str],
    has_agent_reply: bool,
    auto_closed_without_contact: bool,
) -> str | None:
    if ticket.do_not_survey:
        return SkipReason.DO_NOT_SURVEY
    if survey.exclude_without_agent_reply and not has_agent_reply:
        return SkipReason.NO_AGENT_REPLY
    if survey.exclude_created_by_agent and ticket.created_by_id is not None:
        return SkipReason.AGENT_CREATED
    if survey.exclude_auto_closed_without_contact and auto_closed_without_contact:
        return SkipReason.AUTO_CLOSED
    if tag_names & set(survey.excluded_tags):
        return SkipReason.EXCLUDED_TAG
    return None


def customer_exclusion(
    *,
    survey: Survey,
    customer: Customer,
    now: datetime,
    last_surveyed_at: datetime | None,
    last_surveyed_by_this_at: datetime | None,
) -> str | None:
    """The customer-level rules every survey obeys: opt-out, an address, the global
    fatigue rule across all surveys, and the survey's own cooldown."""
    if customer.survey_opt_out:
        return SkipReason.OPTED_OUT
    if not customer.email:
        return SkipReason.NO_EMAIL
    if survey.languages and customer.language not in survey.languages:
        return SkipReason.LANGUAGE
    fatigue = timedelta(days=settings.CXM_SURVEY_FATIGUE_DAYS)
    if last_surveyed_at is not None and now - last_surveyed_at < fatigue:
        return SkipReason.FATIGUE
    cooldown = timedelta(days=survey.cooldown_days)
    if (
        survey.cooldown_days
        and last_surveyed_by_this_at
        and now - last_surveyed_by_this_at < cooldown
    ):
        return SkipReason.COOLDOWN
    return None


def is_poor_answer(question: Question, score: int | None) -> bool:
    """The answers that open a follow-up: NPS detractors (0-6), CSAT 1-2, "not
    resolved", and CES in the worst fifth of its scale (whichever end that is)."""
    if score is None:
        return False
    if question.type == Question.Type.NPS:
        return score <= 6
    if question.type == Question.Type.CSAT:
        return score <= 2
    if question.type == Question.Type.YES_NO:
        return score == 0
    if question.type == Question.Type.CES:
        low, high = question.scale
        band = (high - low) * 0.2
        return score >= high - band if question.reversed else score <= low + band
    return False


def auto_closed_without_contact(events: list[TicketEvent]) -> bool:
    """Closed by the system (no actor) and the customer never wrote after creation."""
    closed_by_system = any(e.kind == TicketEvent.Kind.CLOSED and e.actor_id is None for e in events)
    customer_wrote = any(e.kind == TicketEvent.Kind.CUSTOMER_REPLIED for e in events)
    return closed_by_system and not customer_wrote
