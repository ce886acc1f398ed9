"""The customer's survey answers, drawn on pages other apps own: the customer profile
and the ticket sidebar ({% load surveys_tags %}). The customers and tickets apps never
import surveys; their templates compose this card. Each tag reads through a selector
with a fixed number of queries, and draws nothing for staff who may not read answers."""

from dataclasses import dataclass
from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from tickets.models import Ticket

from .. import rules, selectors
from ..models import Answer, Question, Response

register = template.Library()

# How an answer reads, in words (never colour alone) and a Bootstrap colour.
SENTIMENTS = {
    "detractor": (_("Detractor"), "danger"),
    "passive": (_("Passive"), "warning"),
    "promoter": (_("Promoter"), "success"),
    "poor": (_("Unhappy"), "danger"),
    "neutral": (_("Neutral"), "warning"),
    "good": (_("Happy"), "success"),
}


def sentiment(question: Question, score: int | None) -> str:
    """detractor/passive/promoter for NPS (0-6, 7-8, 9-10); poor/neutral/good for the
    other scored questions. "Poor" is exactly what opens a follow-up ticket."""
    if score is None or question.scale is None:
        return ""
    if question.type == Question.Type.NPS:
        return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
    if rules.is_poor_answer(question, score):
        return "poor"
    if question.type == Question.Type.YES_NO:
        return "good"
    if question.type == Question.Type.CSAT:
        return "good" if score >= 4 else "neutral"
    low, high = question.scale
    # CES: the top third of the scale agrees it was easy (5-7 of 1-7), whichever end.
    share = (score - low) / (high - low)
    return "good" if (1 - share if question.reversed else share) >= 2 / 3 else "neutral"


@dataclass(frozen=True)
class AnswerCard:
    response: Response
    headline: Answer | None
    question_text: str
    sentiment: str
    sentiment_label: str
    colour: str
    comments: list[str]
    choices: list[str]
    about_ticket: bool


def _card(response: Response, ticket: Ticket | None = None) -> AnswerCard:
    answers = list(response.answers.all())
    headline = next((a for a in answers if a.score is not None), None)
    mood = sentiment(headline.question, headline.score) if headline is not None else ""
    label, colour = SENTIMENTS.get(mood, ("", "secondary"))
    return AnswerCard(
        response=response,
        headline=headline,
        question_text=headline.question.text_in() if headline is not None else "",
        sentiment=mood,
        sentiment_label=str(label),
        colour=colour,
        comments=[a.text for a in answers if a.text],
        choices=[choice for a in answers for choice in a.choices],
        about_ticket=ticket is not None
        and ticket.pk in (response.ticket_id, response.follow_up_ticket_id),
    )


def _may_read_answers(context: template.Context) -> bool:
    request = context.get("request")
    return request is not None and request.user.has_perm("surveys.view_response")


@register.inclusion_tag("surveys/_answers_card.html", takes_context=True)
def customer_answers(
    context: template.Context, customer: Customer, limit: int = 10
) -> dict[str, Any]:
    """The customer's latest survey answers: survey, date, score and how it reads,
    comment, and the follow-up ticket with the state of its loop."""
    if not _may_read_answers(context):
        return {"hidden": True}
    responses = selectors.customer_response_list(
        customer_id=customer.pk, limit=limit, user=context["request"].user
    )
    return {
        "cards": [_card(response) for response in responses],
        "heading_id": f"customer-answers-{customer.pk}",
        "limit": limit,
    }


@register.inclusion_tag("surveys/_answers_card.html", takes_context=True)
def ticket_answers(context: template.Context, ticket: Ticket, limit: int = 5) -> dict[str, Any]:
    """The customer's survey answers beside a ticket, those about this ticket first."""
    if not _may_read_answers(context):
        return {"hidden": True}
    responses = selectors.ticket_response_list(
        ticket_id=ticket.pk,
        customer_id=ticket.customer_id,
        limit=limit,
        user=context["request"].user,
    )
    return {
        "cards": [_card(response, ticket) for response in responses],
        "heading_id": f"ticket-answers-{ticket.pk}",
        "limit": limit,
    }
