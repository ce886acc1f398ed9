"""Historical answers imported from another survey tool (manage.py import_responses).

An imported answer is a Response like a native one (source "import", no invitation),
so every KPI counts it, with one Answer per question type. A Response is identified
by customer, survey and answered_at; within it, the answer by its question type. So a
row is identified by customer, survey, question type and answered_at, and importing
the same file twice updates rather than duplicates. Imports never open follow-up
tickets and never email anybody: the customer answered long ago, somewhere else.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from customers.models import Customer
from tickets.models import Ticket

from ..models import Answer, Question, Response, Survey
from ..signals import response_recorded

# The question types another tool's export can carry.
IMPORTABLE_TYPES = (
    Question.Type.NPS,
    Question.Type.CSAT,
    Question.Type.CES,
    Question.Type.YES_NO,
    Question.Type.TEXT,
)
# The wording of a question created for an imported survey: (English, Spanish). It is
# sample content in both languages, stored on the question, not interface text.
IMPORTED_QUESTION_TEXTS: dict[str, tuple[str, str]] = {
    Question.Type.NPS: (
        "How likely are you to recommend us to a friend or colleague?",
        "¿Qué probabilidad hay de que nos recomiendes a un amigo o colega?",
    ),
    Question.Type.CSAT: (
        "How satisfied are you with the support you received?",
        "¿Cómo valoras la atención que has recibido?",
    ),
    Question.Type.CES: (
        "The company made it easy for me to handle my issue.",
        "La empresa me puso fácil resolver mi consulta.",
    ),
    Question.Type.YES_NO: ("Was your issue resolved?", "¿Se resolvió tu consulta?"),
    Question.Type.TEXT: ("Comment", "Comentario"),
}
MAX_COMMENT_LENGTH = 5000


def imported_question(survey: Survey | None, question_type: str) -> Question | None:
    """The question an imported answer of this type belongs to: the survey's first
    top-level question of that type (None when it has none)."""
    if survey is None or survey.pk is None:
        return None
    candidates = [
        question
        for question in survey.questions.all()
        if question.type == question_type and question.follow_up_of_id is None
    ]
    return min(candidates, key=lambda question: (question.position, question.pk), default=None)


def imported_scale(survey: Survey | None, question_type: str) -> tuple[int, int] | None:
    """The scale a score of this type is checked against: the existing question's (it
    may be configured, e.g. CES 1-10) or the type's default."""
    question = imported_question(survey, question_type)
    if question is not None:
        return question.scale
    return Question.DEFAULT_SCALES.get(question_type)


def _check(*, survey: Survey | None, question_type: str, score: int | None, comment: str) -> None:
    if question_type not in IMPORTABLE_TYPES:
        raise ValidationError(
            {
                "question_type": _("“%(value)s” is not allowed; use one of: %(allowed)s.")
                % {"value": question_type, "allowed": ", ".join(IMPORTABLE_TYPES)}
            }
        )
    if survey is not None and survey.is_active and imported_question(survey, question_type) is None:
        # Adding a question to a live survey would change what customers are asked.
        raise ValidationError(
            {
                "question_type": _(
                    "The active survey “%(survey)s” has no %(type)s question; add one in the "
                    "survey builder first, or import into another survey."
                )
                % {"survey": survey.name, "type": question_type}
            }
        )
    scale = imported_scale(survey, question_type)
    if scale is None:
        if score is not None:
            raise ValidationError(
                {"score": _("A free-text answer has no score; leave the score empty.")}
            )
        if not comment:
            raise ValidationError(
                {"comment": _("A free-text answer needs its text in the comment column.")}
            )
    else:
        low, high = scale
        if score is None or not low <= score <= high:
            raise ValidationError(
                {
                    "score": _("A %(type)s score is a whole number from %(low)s to %(high)s.")
                    % {"type": question_type, "low": low, "high": high}
                }
            )
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ValidationError({"comment": _("Keep it under 5,000 characters, please.")})


def _survey_for_import(name: str, *, ticket: Ticket | None) -> Survey:
    survey = Survey.objects.filter(name__iexact=name).first()
    if survey is None:
        # Inactive: an imported survey records history, it never sends anything itself.
        survey = Survey(
            name=name,
            kind=Survey.Kind.TRANSACTIONAL if ticket else Survey.Kind.RELATIONSHIP,
            is_active=False,
        )
        survey.full_clean()
        survey.save()
    return survey


def _question_for_import(survey: Survey, question_type: str) -> Question:
    question = imported_question(survey, question_type)
    if question is None:
        english, spanish = IMPORTED_QUESTION_TEXTS[question_type]
        last = survey.questions.aggregate(last=Max("position"))["last"]
        question = Question.objects.create(
            survey=survey,
            type=question_type,
            position=0 if last is None else last + 1,
            required=question_type != Question.Type.TEXT,
            text_en=english,
            text_es=spanish,
        )
    return question


def _current_comment(
    survey: Survey | None, customer: Customer, question_type: str, answered_at: datetime
) -> str:
    if survey is None:
        return ""
    answer = Answer.objects.filter(
        response__survey=survey,
        response__customer=customer,
        response__answered_at=answered_at,
        response__source=Response.Source.IMPORT,
        question_type=question_type,
    ).first()
    return answer.text if answer is not None else ""


def _set_changed(instance, values: dict) -> bool:
    """Assign `values`; True when any of them differs from what the instance had."""
    changed = False
    for field, value in values.items():
        if getattr(instance, field) != value:
            setattr(instance, field, value)
            changed = True
    return changed


@transaction.atomic
def response_import_upsert(
    *,
    customer: Customer,
    survey_name: str,
    question_type: str,
    score: int | None,
    comment: str | None = None,
    answered_at: datetime,
    ticket: Ticket | None = None,
) -> tuple[Answer, bool]:
    """Create or update one imported answer; returns (answer, created).

    The survey is found by name (case-insensitive) or created inactive; it gets a
    question of the type if it has none (never an active survey: that would change
    what customers are asked). A comment is kept on the answer itself, next to the
    score; None (the file has no comment column) keeps the one imported before. A
    ticket fills team, agent, channel, category and priority as on a native answer;
    without one, a re-import keeps the ticket already linked. Sends response_recorded
    when something was created or changed.
    """
    name = survey_name.strip()
    if ticket is not None and ticket.customer_id != customer.pk:
        raise ValidationError(
            {
                "ticket": _("Ticket %(reference)s belongs to another customer.")
                % {"reference": ticket.external_id or ticket.reference}
            }
        )
    existing = Survey.objects.filter(name__iexact=name).prefetch_related("questions").first()
    if comment is None:
        comment = _current_comment(existing, customer, question_type, answered_at)
    comment = comment.strip()
    _check(survey=existing, question_type=question_type, score=score, comment=comment)
    survey = existing or _survey_for_import(name, ticket=ticket)
    question = _question_for_import(survey, question_type)

    response = (
        Response.objects.select_for_update()
        .filter(
            survey=survey,
            customer=customer,
            answered_at=answered_at,
            source=Response.Source.IMPORT,
        )
        .first()
    )
    response_created = response is None
    if response_created:
        response = Response(
            survey=survey, customer=customer, answered_at=answered_at, source=Response.Source.IMPORT
        )
    values = {"language": customer.language, "segment": customer.segment}
    if ticket is not None:
        values.update(
            ticket_id=ticket.pk,
            team_id=ticket.team_id,
            agent_id=ticket.solved_by_id or ticket.assignee_id,
            channel=ticket.channel,
            category=ticket.category,
            priority=ticket.priority,
        )
    response_changed = _set_changed(response, values) or response_created

    answer = None
    if not response_created:
        answer = Answer.objects.filter(response=response, question=question).first()
    answer_created = answer is None
    if answer_created:
        answer = Answer(response=response, question=question)
    answer_changed = (
        _set_changed(
            answer,
            {"question_type": question.type, "score": score, "choices": [], "text": comment},
        )
        or answer_created
    )
    if response_changed or answer_changed:
        response.save()  # also when only the answer changed: updated_at says so
        if answer_changed:
            answer.response = response
            answer.save()
        response_recorded.send(
            sender=Response,
            response=response,
            previous_answered_at=None if response_created else response.answered_at,
        )
    return answer, answer_created
