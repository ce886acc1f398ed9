"""Recording answers (idempotently, one response per invitation), unsubscribing, and
the closed loop: a poor answer opens a follow-up ticket; solving it closes the loop."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.services import customer_update
from cxm.lib.exceptions import ApplicationError
from tickets import services as ticket_services
from tickets.models import Notification, Ticket

from .. import rules
from ..models import Answer, Invitation, Question, Response
from ..signals import response_recorded

FOLLOW_UP_CATEGORY = "survey follow-up"


@dataclass(frozen=True)
class AnswerInput:
    """What the customer gave for one question: a score, choices or text."""

    score: int | None = None
    choices: tuple[str, ...] = ()
    text: str = ""

    @property
    def is_empty(self) -> bool:
        return self.score is None and not self.choices and not self.text.strip()


def visible_questions(questions: list[Question], answers: dict[int, AnswerInput]) -> list[Question]:
    """Follow-up questions show only when their parent's score is at or below the
    threshold; everything else always shows."""
    shown = []
    for question in questions:
        parent = question.follow_up_of_id
        if parent is not None:
            parent_score = answers.get(parent, AnswerInput()).score
            if parent_score is None or question.follow_up_threshold is None:
                continue
            if parent_score > question.follow_up_threshold:
                continue
        shown.append(question)
    return shown


def _validate(question: Question, given: AnswerInput, language: str) -> dict[str, str]:
    key = f"q{question.pk}"
    if given.is_empty:
        return {key: _("Please answer this question.")} if question.required else {}
    if question.scale is not None:
        low, high = question.scale
        if given.score is None or not low <= given.score <= high:
            return {key: _("Choose a score from %(low)s to %(high)s.") % {"low": low, "high": high}}
    elif question.type in (Question.Type.SINGLE_CHOICE, Question.Type.MULTIPLE_CHOICE):
        offered = set(question.choices_in(language))
        if not set(given.choices) <= offered:
            return {key: _("Choose among the options shown.")}
        if question.type == Question.Type.SINGLE_CHOICE and len(given.choices) > 1:
            return {key: _("Choose one option.")}
    elif question.type == Question.Type.TEXT and len(given.text) > 5000:
        return {key: _("Keep it under 5,000 characters, please.")}
    return {}


@transaction.atomic
def response_record(
    *, invitation: Invitation, answers: dict[int, AnswerInput], language: str | None = None
) -> Response:
    """Store the customer's answers for this invitation. Submitting again replaces
    them (one response per invitation; the latest answer counts), until the invitation
    expires. Out-of-range or missing required answers raise ValidationError (field
    keys q<question id>) and store nothing."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("survey", "customer", "ticket")
        .get(pk=invitation.pk)
    )
    if not invitation.is_open_for_answers:
        raise ApplicationError(_("This survey is closed: answers are no longer accepted."))
    language = language or invitation.language
    questions = list(invitation.survey.questions.order_by("position", "pk"))
    shown = visible_questions(questions, answers)
    errors: dict[str, str] = {}
    for question in shown:
        errors.update(_validate(question, answers.get(question.pk, AnswerInput()), language))
    if errors:
        raise ValidationError(errors)

    response = Response.objects.filter(invitation=invitation).first()
    previous_answered_at = response.answered_at if response else None
    if response is None:
        response = Response(invitation=invitation, survey=invitation.survey)
    ticket = invitation.ticket
    response.customer = invitation.customer
    response.ticket = ticket
    response.language = language
    response.answered_at = timezone.now()
    response.segment = invitation.customer.segment
    if ticket is not None:
        response.team_id = ticket.team_id
        response.agent_id = ticket.solved_by_id or ticket.assignee_id
        response.channel = ticket.channel
        response.category = ticket.category
        response.priority = ticket.priority
    response.save()
    response.answers.all().delete()
    Answer.objects.bulk_create(
        Answer(
            response=response,
            question=question,
            question_type=question.type,
            score=answers[question.pk].score,
            choices=list(answers[question.pk].choices),
            text=answers[question.pk].text.strip(),
        )
        for question in shown
        if question.pk in answers and not answers[question.pk].is_empty
    )
    poor = [q for q in shown if q.pk in answers and rules.is_poor_answer(q, answers[q.pk].score)]
    if poor and response.follow_up_ticket_id is None:
        _open_follow_up(response, poor[0], answers[poor[0].pk])
    response_recorded.send(
        sender=Response, response=response, previous_answered_at=previous_answered_at
    )
    return response


def _open_follow_up(response: Response, question: Question, given: AnswerInput) -> None:
    original = response.ticket
    comments = [a.text for a in response.answers.all() if a.text]
    body = _("%(customer)s answered “%(question)s” with %(score)s.") % {
        "customer": response.customer.name,
        "question": question.text_in(response.language),
        "score": given.score,
    }
    if comments:
        body += "\n\n" + "\n\n".join(comments)
    if original is not None:
        body += "\n\n" + _("Original ticket: %(reference)s") % {"reference": original.reference}
    assignee = None
    team = original.team if original is not None else None
    if original is not None:
        candidate = original.solved_by or original.assignee
        if candidate is not None and (
            team is None or team.members.filter(pk=candidate.pk).exists()
        ):
            assignee = candidate
    follow_up = ticket_services.ticket_create(
        customer=response.customer,
        subject=_("Survey follow-up: %(survey)s") % {"survey": response.survey.name},
        body=body,
        channel=original.channel if original is not None else "email",
        priority=Ticket.Priority.HIGH,
        category=FOLLOW_UP_CATEGORY,
        team=team,
        assignee=assignee,
    )
    # Nobody should survey a customer about the follow-up of their own complaint.
    Ticket.objects.filter(pk=follow_up.pk).update(do_not_survey=True)
    follow_up.do_not_survey = True
    response.follow_up_ticket = follow_up
    response.save(update_fields=["follow_up_ticket", "updated_at"])
    # The assignee, or (when nobody has it yet) the whole team; the team lead always.
    people = set()
    if follow_up.assignee is not None:
        people.add(follow_up.assignee)
    elif team is not None:
        people.update(team.members.all())
    if team is not None and team.lead is not None:
        people.add(team.lead)
    for person in sorted(people, key=lambda user: user.pk):
        ticket_services.notify(user=person, ticket=follow_up, kind=Notification.Kind.FOLLOW_UP)


@transaction.atomic
def follow_up_resolved(*, ticket: Ticket, actor, at: datetime | None = None) -> bool:
    """The follow-up ticket was solved or closed: the loop is closed, by whom and when
    (the first time only). Returns whether the ticket was a follow-up."""
    updated = Response.objects.filter(follow_up_ticket=ticket, loop_closed_at__isnull=True).update(
        loop_closed_at=at or timezone.now(), loop_closed_by=actor
    )
    return bool(updated)


@transaction.atomic
def follow_up_reopened(*, ticket: Ticket) -> bool:
    return bool(
        Response.objects.filter(follow_up_ticket=ticket).update(
            loop_closed_at=None, loop_closed_by=None
        )
    )


@transaction.atomic
def customer_unsubscribe(*, invitation: Invitation) -> Customer:
    """The customer asked for no more surveys: opt them out and cancel what is queued."""
    customer = invitation.customer
    if not customer.survey_opt_out:
        customer = customer_update(customer=customer, survey_opt_out=True)
    Invitation.objects.filter(customer=customer, status=Invitation.Status.SCHEDULED).update(
        status=Invitation.Status.CANCELLED
    )
    return customer
