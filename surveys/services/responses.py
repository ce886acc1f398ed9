"""Recording answers (idempotently, one response per invitation), unsubscribing, and
the closed loop: a poor answer opens a follow-up ticket; solving it closes the loop."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.services import customer_update
from cxm.lib.exceptions import ApplicationError
from tickets import services as ticket_services
from tickets.models import Notification, Team, Ticket

from .. import rules
from ..models import Answer, Invitation, Question, Response
from ..selectors import survey_questions
from ..signals import response_recorded

FOLLOW_UP_CATEGORY = "survey follow-up"
User = get_user_model()


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


# What response_record reads with its lock, and no more: every column read costs
# (the related rows are wide). Whatever else is used loads when first touched.
_RECORD_READS = (
    *(field.attname for field in Invitation._meta.concrete_fields),
    "survey__questions_revision",
    "survey__name",
    "customer__name",
    "customer__segment",
    *(
        f"ticket__{name}"
        for name in ("team_id", "solved_by_id", "assignee_id", "channel", "category", "priority")
    ),
    *(f"response__{field.attname}" for field in Response._meta.concrete_fields),
)


@transaction.atomic
def response_record(
    *, invitation: Invitation, answers: dict[int, AnswerInput], language: str | None = None
) -> Response:
    """Store the customer's answers for this invitation. Submitting again replaces
    them (one response per invitation; the latest answer counts), until the invitation
    expires. Out-of-range or missing required answers raise ValidationError (field
    keys q<question id>) and store nothing. A poor answer opens the follow-up ticket
    (once per response) in the same transaction."""
    # The lock serialises answers to one invitation; the same query reads what the
    # response copies and the response already stored, if any.
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("survey", "customer", "ticket", "response")
        .only(*_RECORD_READS)
        .order_by()
        .get(pk=invitation.pk)
    )
    if not invitation.is_open_for_answers:
        raise ApplicationError(_("This survey is closed: answers are no longer accepted."))
    language = language or invitation.language
    questions = survey_questions(survey=invitation.survey)
    shown = visible_questions(questions, answers)
    errors: dict[str, str] = {}
    for question in shown:
        errors.update(_validate(question, answers.get(question.pk, AnswerInput()), language))
    if errors:
        raise ValidationError(errors)

    try:
        response = invitation.response
    except Response.DoesNotExist:
        response = Response(invitation=invitation, survey=invitation.survey)
    previous_answered_at = response.answered_at if response.pk else None
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
    given = [
        Answer(
            question=question,
            question_type=question.type,
            score=answers[question.pk].score,
            choices=list(answers[question.pk].choices),
            text=answers[question.pk].text.strip(),
        )
        for question in shown
        if question.pk in answers and not answers[question.pk].is_empty
    ]
    poor = [q for q in shown if q.pk in answers and rules.is_poor_answer(q, answers[q.pk].score)]
    if poor and response.follow_up_ticket_id is None:
        # Before the response is written, so that it is written once, pointing to it.
        response.follow_up_ticket = _open_follow_up(
            response, poor[0], answers[poor[0].pk], comments=[a.text for a in given if a.text]
        )
    replacing = response.pk is not None
    response.save()
    if replacing:
        response.answers.all().delete()
    for answer in given:
        answer.response = response
    Answer.objects.bulk_create(given)
    response_recorded.send(
        sender=Response, response=response, previous_answered_at=previous_answered_at
    )
    return response


def _open_follow_up(
    response: Response, question: Question, given: AnswerInput, *, comments: list[str]
) -> Ticket:
    """The follow-up ticket of a poor answer, for the agent who solved the original
    ticket (or its assignee) when they are still in its team, and a notification for
    the people who should act on it."""
    original = response.ticket
    body = _("%(customer)s answered “%(question)s” with %(score)s.") % {
        "customer": response.customer.name,
        "question": question.text_in(response.language),
        "score": given.score,
    }
    if comments:
        body += "\n\n" + "\n\n".join(comments)
    if original is not None:
        body += "\n\n" + _("Original ticket: %(reference)s") % {"reference": original.reference}
    team = assignee = None
    if original is not None:
        if original.team_id is not None:
            team = Team.objects.select_related("lead").get(pk=original.team_id)
        candidate_id = original.solved_by_id or original.assignee_id
        if candidate_id is not None:
            # Only while they are still in the ticket's team.
            candidates = team.members.all() if team is not None else User.objects.all()
            assignee = candidates.filter(pk=candidate_id).first()
    follow_up = ticket_services.ticket_create(
        customer=response.customer,
        subject=_("Survey follow-up: %(survey)s") % {"survey": response.survey.name},
        body=body,
        channel=original.channel if original is not None else "email",
        priority=Ticket.Priority.HIGH,
        category=FOLLOW_UP_CATEGORY,
        team=team,
        assignee=assignee,
        # Nobody should survey a customer about the follow-up of their own complaint.
        do_not_survey=True,
    )
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
    return follow_up


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
