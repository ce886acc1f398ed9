"""Configuring surveys: their settings, their questions and the order of the questions,
and a test email an admin sends to themself. Used by the builder page and the admin."""

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from customers.models import Customer
from cxm.lib.exceptions import ApplicationError
from tickets.models import Team

from ..models import Invitation, Question, Survey

SURVEY_FIELDS = (
    "name",
    "kind",
    "is_active",
    "languages",
    "trigger",
    "delay",
    "channels",
    "categories",
    "priorities",
    "sampling_rate",
    "exclude_without_agent_reply",
    "exclude_created_by_agent",
    "exclude_auto_closed_without_contact",
    "excluded_tags",
    "cooldown_days",
    "reminder_after_days",
    "expire_after_days",
    "segment",
    "repeat_every_months",
    "next_run_at",
)
QUESTION_FIELDS = (
    "type",
    "required",
    "text_en",
    "text_es",
    "choices_en",
    "choices_es",
    "scale_min",
    "scale_max",
    "reversed",
    "follow_up_of",
    "follow_up_threshold",
)
CHOICE_TYPES = (Question.Type.SINGLE_CHOICE, Question.Type.MULTIPLE_CHOICE)


def _unknown(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"Unknown fields: {', '.join(sorted(unknown))}")


@transaction.atomic
def survey_save(
    *, survey: Survey | None = None, teams: Iterable[Team] | None = None, **fields: Any
) -> Survey:
    """Create a survey (survey=None) or change the given fields of one. A survey can
    only be active once it has a question: an active survey without one would invite
    customers to an empty page."""
    _unknown(fields, SURVEY_FIELDS)
    survey = Survey() if survey is None else Survey.objects.select_for_update().get(pk=survey.pk)
    for name, value in fields.items():
        setattr(survey, name, value)
    survey.full_clean()
    if survey.is_active and (survey.pk is None or not survey.questions.exists()):
        raise ValidationError({"is_active": _("Add a question before activating the survey.")})
    survey.save()
    if teams is not None:
        survey.teams.set(teams)
    return survey


def question_validate(question: Question) -> None:
    """The rules a question obeys beyond its fields' own (ValidationError by field);
    forms call it too, to show the errors beside the fields."""
    errors: dict[str, str] = {}
    if question.type in CHOICE_TYPES:
        if not question.choices_en:
            errors["choices_en"] = _("List the options the customer chooses from.")
        elif question.choices_es and len(question.choices_es) != len(question.choices_en):
            errors["choices_es"] = _("Give as many Spanish options as English ones.")
    has_bounds = question.scale_min is not None or question.scale_max is not None
    if question.scale is None and has_bounds:
        errors["scale_min"] = _("Only questions answered with a score have a scale.")
    parent = question.follow_up_of
    if parent is not None:
        if parent.survey_id != question.survey_id:
            errors["follow_up_of"] = _("Choose a question of the same survey.")
        elif parent.pk == question.pk or parent.follow_up_of_id is not None:
            errors["follow_up_of"] = _("Follow a main question, not a follow-up.")
        elif parent.scale is None:
            errors["follow_up_of"] = _("Follow a question that is answered with a score.")
        elif question.follow_up_threshold is None:
            errors["follow_up_threshold"] = _("Say up to which score the follow-up shows.")
        else:
            low, high = parent.scale
            if not low <= question.follow_up_threshold <= high:
                errors["follow_up_threshold"] = _("Choose a score from %(low)s to %(high)s.") % {
                    "low": low,
                    "high": high,
                }
    elif question.follow_up_threshold is not None:
        errors["follow_up_threshold"] = _("A threshold needs a question to follow up.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def question_save(*, survey: Survey, question: Question | None = None, **fields: Any) -> Question:
    """Add a question at the end of the survey (question=None), or change one. Both
    languages' texts are required; choice questions need their options, a follow-up
    its parent and threshold. Follow-ups are never the survey's first question."""
    _unknown(fields, QUESTION_FIELDS)
    Survey.objects.select_for_update().filter(pk=survey.pk).first()  # one writer at a time
    if question is None:
        last = survey.questions.aggregate(last=Max("position"))["last"]
        question = Question(survey=survey, position=0 if last is None else last + 1)
    elif question.survey_id != survey.pk:
        raise ApplicationError(_("This question belongs to another survey."))
    else:
        stored_type = Question.objects.filter(pk=question.pk).values_list("type", flat=True).first()
        # Answers keep their question's type for the KPIs: it cannot change under them.
        if fields.get("type", stored_type) != stored_type and question.answers.exists():
            raise ValidationError(
                {"type": _("Customers have answered this question; its type cannot change.")}
            )
    for name, value in fields.items():
        setattr(question, name, value)
    question.full_clean()
    question_validate(question)
    question.save()
    return question


def _renumber(survey: Survey) -> list[Question]:
    questions = list(survey.questions.order_by("position", "pk"))
    for position, question in enumerate(questions):
        question.position = position
    Question.objects.bulk_update(questions, ["position"])
    return questions


@transaction.atomic
def question_move(*, question: Question, direction: str) -> Question:
    """Swap the question with its neighbour above ("up") or below ("down"); at either
    end it stays where it is. Positions are renumbered 0, 1, 2… on the way."""
    if direction not in ("up", "down"):
        raise ApplicationError(_("Move a question up or down."))
    Survey.objects.select_for_update().filter(pk=question.survey_id).first()
    questions = _renumber(question.survey)
    index = next(i for i, q in enumerate(questions) if q.pk == question.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(questions):
        mine, theirs = questions[index], questions[other]
        mine.position, theirs.position = theirs.position, mine.position
        Question.objects.bulk_update([mine, theirs], ["position"])
    question.refresh_from_db()
    return question


@transaction.atomic
def question_delete(*, question: Question) -> None:
    """Remove a question nobody has answered yet. An answered one stays: its answers
    count in the KPIs (make the survey inactive and write a new one instead)."""
    if question.answers.exists():
        raise ApplicationError(_("Customers have answered this question; it cannot be deleted."))
    if question.follow_ups.exists():
        raise ApplicationError(_("Delete its follow-up questions first."))
    survey = question.survey
    question.delete()
    _renumber(survey)


def survey_preview_invitation(*, survey: Survey, language: str, name: str = "", email: str = ""):
    """An invitation that is never saved, to a customer that is never saved, so a
    preview or a test email counts nowhere: not in fatigue, not in response rates."""
    customer = Customer(
        name=name or _("Alex Example"),
        email=email or "customer@example.com",
        language=language,
    )
    return Invitation(
        survey=survey, customer=customer, language=language, token=secrets.token_urlsafe(32)
    )


def survey_preview_email(
    *, survey: Survey, language: str, preview_url: str, name: str = "", email: str = ""
) -> EmailMultiAlternatives:
    """The invitation email as a customer would get it, with every link to the survey
    page (and the unsubscribe link) pointing to `preview_url` instead: the throwaway
    token leads nowhere, and nothing a click does there is recorded."""
    from .dispatch import invitation_email, public_url

    invitation = survey_preview_invitation(survey=survey, language=language, name=name, email=email)
    message = invitation_email(invitation)
    token = invitation.token
    # The unsaved invitation has a random token; every link carries it, and only them.
    replace = {f"/s/{token}/unsubscribe/": preview_url, f"/s/{token}/": preview_url}
    absolute = {public_url(path): url for path, url in replace.items()}

    def point_to_preview(text: str) -> str:
        for old, new in (*absolute.items(), *replace.items()):
            text = text.replace(old, new)
        return text

    message.body = point_to_preview(message.body)
    alternatives, message.alternatives = message.alternatives, []
    for content, mimetype in alternatives:
        message.attach_alternative(point_to_preview(content), mimetype)
    message.extra_headers.pop("X-CXM-Invitation", None)
    message.extra_headers.pop("List-Unsubscribe-Post", None)
    message.extra_headers["List-Unsubscribe"] = f"<{preview_url}>"
    message.extra_headers["X-CXM-Test"] = "1"
    return message


def survey_send_test(*, survey: Survey, actor, language: str, preview_url: str) -> None:
    """Email the admin the survey's invitation, as their customers would get it in
    `language`, with links to the preview page. No invitation is saved or counted."""
    if not survey.questions.exists():
        raise ApplicationError(_("Add a question before sending a test."))
    if not actor.email:
        raise ApplicationError(_("Your profile has no email address to send the test to."))
    message = survey_preview_email(
        survey=survey,
        language=language,
        preview_url=preview_url,
        name=actor.get_full_name() or actor.get_username(),
        email=actor.email,
    )
    message.subject = _("[Test] %(subject)s") % {"subject": message.subject}
    message.send()
