"""The public survey form: one field per question (q<question id>, the keys
services.response_record uses for its errors) and an optional comment on the first
scored question. The form only parses what was posted; the service decides what is
required, in range, and visible."""

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.forms import BoundField
from django.utils.translation import gettext_lazy as _

from .models import Question, Response
from .services import AnswerInput

Type = Question.Type
COMMENT_MAX_LENGTH = 5000

# The words at both ends of a scale, so "1" and "5" say which end is good.
SCALE_ENDS = {
    Type.NPS: (_("Not at all likely"), _("Extremely likely")),
    Type.CSAT: (_("Very dissatisfied"), _("Very satisfied")),
    Type.CES: (_("Strongly disagree"), _("Strongly agree")),
}
REVERSED_CES_ENDS = (_("Very easy"), _("Very difficult"))


def scale_ends(question: Question) -> tuple[str, str] | None:
    if question.type == Type.CES and question.reversed:
        return REVERSED_CES_ENDS
    return SCALE_ENDS.get(question.type)


def field_name(question: Question) -> str:
    return f"q{question.pk}"


def comment_name(question: Question) -> str:
    return f"q{question.pk}_comment"


def comment_question(questions: list[Question]) -> Question | None:
    """The first question, when it is a score or yes/no, carries the optional comment
    box, unless the survey asks its own free-text question."""
    top_level = [q for q in questions if q.follow_up_of_id is None]
    if not top_level or any(q.type == Type.TEXT for q in top_level):
        return None
    first = top_level[0]
    return first if first.scale is not None else None


@dataclass
class Option:
    value: str
    label: str
    checked: bool
    hidden_suffix: str = ""


@dataclass
class QuestionItem:
    """What the template needs to draw one question."""

    question: Question
    text: str
    bound: BoundField
    kind: str  # "scale", "yes_no", "single", "multiple", "text"
    options: list[Option] = field(default_factory=list)
    ends: tuple[str, str] | None = None
    comment: BoundField | None = None
    parent_name: str = ""  # a follow-up: the field of the question it follows
    threshold: int | None = None
    shown_for_sure: bool = True  # the parent's score is known and low enough


class SurveyAnswerForm(forms.Form):
    def __init__(self, *args: Any, questions: list[Question], language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.questions = questions
        self.language = language
        self.comment_question = comment_question(questions)
        for question in questions:
            self.fields[field_name(question)] = self._field_for(question)
        if self.comment_question is not None:
            self.fields[comment_name(self.comment_question)] = forms.CharField(
                label=_("Anything you would like to add? (optional)"),
                required=False,
                max_length=COMMENT_MAX_LENGTH,
                widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
            )

    def _field_for(self, question: Question) -> forms.Field:
        label = question.text_in(self.language)
        if question.scale is not None:
            # Range and "required" are the service's to judge, with its own messages.
            return forms.IntegerField(label=label, required=False)
        offered = [(choice, choice) for choice in question.choices_in(self.language)]
        if question.type == Type.SINGLE_CHOICE:
            return forms.ChoiceField(label=label, required=False, choices=offered)
        if question.type == Type.MULTIPLE_CHOICE:
            return forms.MultipleChoiceField(label=label, required=False, choices=offered)
        return forms.CharField(
            label=label,
            required=False,
            max_length=COMMENT_MAX_LENGTH,
            widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}),
        )

    def answers(self) -> dict[int, AnswerInput]:
        """What was given, per question id (call after is_valid())."""
        given: dict[int, AnswerInput] = {}
        for question in self.questions:
            value = self.cleaned_data.get(field_name(question))
            if question.scale is not None:
                comment = ""
                if question == self.comment_question:
                    comment = self.cleaned_data.get(comment_name(question), "")
                given[question.pk] = AnswerInput(score=value, text=comment)
            elif question.type == Type.SINGLE_CHOICE:
                given[question.pk] = AnswerInput(choices=(value,) if value else ())
            elif question.type == Type.MULTIPLE_CHOICE:
                given[question.pk] = AnswerInput(choices=tuple(value or ()))
            else:
                given[question.pk] = AnswerInput(text=value or "")
        return given

    def _current_score(self, question: Question) -> int | None:
        raw = self[field_name(question)].value()
        try:
            return int(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            return None

    def question_items(self) -> list[QuestionItem]:
        items = []
        by_id = {question.pk: question for question in self.questions}
        for question in self.questions:
            bound = self[field_name(question)]
            item = QuestionItem(
                question=question,
                text=question.text_in(self.language),
                bound=bound,
                kind=self._kind(question),
                ends=scale_ends(question),
            )
            current = bound.value()
            if question.type == Type.YES_NO:
                item.options = [
                    Option("1", str(_("Yes")), str(current) == "1"),
                    Option("0", str(_("No")), str(current) == "0"),
                ]
            elif question.scale is not None:
                low, high = question.scale
                item.options = [
                    Option(str(score), str(score), str(current) == str(score))
                    for score in range(low, high + 1)
                ]
                if item.ends:
                    item.options[0].hidden_suffix = str(item.ends[0])
                    item.options[-1].hidden_suffix = str(item.ends[1])
            elif question.type in (Type.SINGLE_CHOICE, Type.MULTIPLE_CHOICE):
                chosen = (
                    {str(value) for value in current}
                    if isinstance(current, list)
                    else {str(current)}
                )
                item.options = [
                    Option(choice, choice, choice in chosen)
                    for choice in question.choices_in(self.language)
                ]
            if question == self.comment_question:
                item.comment = self[comment_name(question)]
            parent = by_id.get(question.follow_up_of_id)
            if parent is not None:
                item.parent_name = field_name(parent)
                item.threshold = question.follow_up_threshold
                score = self._current_score(parent)
                item.shown_for_sure = (
                    score is not None
                    and question.follow_up_threshold is not None
                    and score <= question.follow_up_threshold
                )
            items.append(item)
        return items

    @staticmethod
    def _kind(question: Question) -> str:
        if question.type == Type.YES_NO:
            return "yes_no"
        if question.scale is not None:
            return "scale"
        if question.type == Type.SINGLE_CHOICE:
            return "single"
        if question.type == Type.MULTIPLE_CHOICE:
            return "multiple"
        return "text"


def initial_answers(
    questions: list[Question], *, response: Response | None, score: str | None
) -> dict[str, Any]:
    """The form as the customer left it (their stored answers), with the score they
    clicked in the email on the first question when it is a valid one."""
    initial: dict[str, Any] = {}
    first_comment = comment_question(questions)
    if response is not None:
        for answer in response.answers.all():
            question = answer.question
            name = f"q{answer.question_id}"
            if question.scale is not None:
                initial[name] = answer.score
                if question == first_comment and answer.text:
                    initial[comment_name(question)] = answer.text
            elif question.type == Type.SINGLE_CHOICE:
                initial[name] = answer.choices[0] if answer.choices else ""
            elif question.type == Type.MULTIPLE_CHOICE:
                initial[name] = list(answer.choices)
            else:
                initial[name] = answer.text
    first = next((q for q in questions if q.follow_up_of_id is None), None)
    if first is not None and first.scale is not None and score is not None:
        try:
            chosen = int(score)
        except ValueError:
            chosen = None
        low, high = first.scale
        if chosen is not None and low <= chosen <= high:
            initial[field_name(first)] = chosen
    return initial


def can_send_after_first(questions: list[Question]) -> bool:
    """Whether the first answer alone can be sent: no other question is required (a
    follow-up may still be, when the score calls for it)."""
    top_level = [q for q in questions if q.follow_up_of_id is None]
    return len(top_level) > 1 and not any(q.required for q in top_level[1:])
