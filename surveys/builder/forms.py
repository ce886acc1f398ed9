"""The builder's forms: a survey's settings and one question. Plain forms, not
ModelForms: the surveys services validate and save (the same rules as the admin), and
these only turn what an admin types into the services' arguments."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.forms.models import fields_for_model
from django.utils.translation import gettext_lazy as _

from customers.models import Channel
from tickets.models import Priority, Team

from ..models import Question, Survey

# The survey settings the model's own form fields describe well.
PLAIN_SURVEY_FIELDS = (
    "name",
    "kind",
    "is_active",
    "trigger",
    "sampling_rate",
    "exclude_without_agent_reply",
    "exclude_created_by_agent",
    "exclude_auto_closed_without_contact",
    "cooldown_days",
    "reminder_after_days",
    "expire_after_days",
    "segment",
    "repeat_every_months",
    "next_run_at",
)
PLAIN_QUESTION_FIELDS = (
    "type",
    "required",
    "text_en",
    "text_es",
    "scale_min",
    "scale_max",
    "reversed",
    "follow_up_threshold",
)


def _words(text: str, separator: str = ",") -> list[str]:
    """'spam, merged ,' → ['spam', 'merged']: order kept, blanks and repeats dropped."""
    seen: dict[str, None] = {}
    for part in text.split(separator):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


class SurveyForm(forms.Form):
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: customers of every language."),
    )
    delay_hours = forms.DecimalField(
        label=_("Delay (hours)"),
        min_value=Decimal(0),
        max_value=Decimal(24 * 90),
        decimal_places=2,
        initial=24,
        help_text=_("How long after the ticket is solved or closed the email goes out."),
    )
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every team."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every channel."),
    )
    priorities = forms.MultipleChoiceField(
        label=_("Priorities"),
        choices=Priority.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every priority."),
    )
    categories = forms.CharField(
        label=_("Categories"),
        required=False,
        help_text=_("Separated by commas. Empty: every category."),
    )
    excluded_tags = forms.CharField(
        label=_("Excluded tags"),
        required=False,
        help_text=_("Separated by commas, e.g. spam, merged. Tickets with any are not surveyed."),
    )

    def __init__(self, *args: Any, survey: Survey | None = None, **kwargs: Any) -> None:
        if survey is not None:
            kwargs.setdefault("initial", self.initial_for(survey))
        super().__init__(*args, **kwargs)
        model_fields = fields_for_model(Survey, fields=PLAIN_SURVEY_FIELDS)
        model_fields["next_run_at"].widget = forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        )
        self.fields.update(model_fields)
        self.fields["languages"].choices = settings.LANGUAGES
        self.order_fields(
            [
                "name",
                "kind",
                "is_active",
                "languages",
                "trigger",
                "delay_hours",
                "teams",
                "channels",
                "categories",
                "priorities",
                "sampling_rate",
                "exclude_without_agent_reply",
                "exclude_created_by_agent",
                "exclude_auto_closed_without_contact",
                "excluded_tags",
            ]
        )

    @staticmethod
    def initial_for(survey: Survey) -> dict[str, Any]:
        initial = {name: getattr(survey, name) for name in PLAIN_SURVEY_FIELDS}
        initial.update(
            languages=survey.languages,
            delay_hours=Decimal(survey.delay.total_seconds()) / 3600,
            teams=list(survey.teams.all()),
            channels=survey.channels,
            priorities=survey.priorities,
            categories=", ".join(survey.categories),
            excluded_tags=", ".join(survey.excluded_tags),
        )
        return initial

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of services.survey_save."""
        data = self.cleaned_data
        arguments = {name: data[name] for name in PLAIN_SURVEY_FIELDS}
        arguments.update(
            languages=list(data["languages"]),
            delay=timedelta(seconds=int(data["delay_hours"] * 3600)),
            teams=list(data["teams"]),
            channels=list(data["channels"]),
            priorities=list(data["priorities"]),
            categories=_words(data["categories"]),
            excluded_tags=_words(data["excluded_tags"]),
        )
        return arguments


class QuestionForm(forms.Form):
    choices_en = forms.CharField(
        label=_("Options (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Choice questions: one option per line."),
    )
    choices_es = forms.CharField(
        label=_("Options (Spanish)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("In the same order as the English ones."),
    )
    follow_up_of = forms.ModelChoiceField(
        label=_("Follow-up of"),
        queryset=Question.objects.none(),
        required=False,
        help_text=_("Shown only when the answer to that question is at or below the threshold."),
    )

    def __init__(
        self, *args: Any, survey: Survey, question: Question | None = None, **kwargs: Any
    ) -> None:
        if question is not None:
            initial = {name: getattr(question, name) for name in PLAIN_QUESTION_FIELDS}
            initial.update(
                choices_en="\n".join(question.choices_en),
                choices_es="\n".join(question.choices_es),
                follow_up_of=question.follow_up_of_id,
            )
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(Question, fields=PLAIN_QUESTION_FIELDS))
        parents = survey.questions.filter(follow_up_of__isnull=True).order_by("position", "pk")
        if question is not None:
            parents = parents.exclude(pk=question.pk)
        self.fields["follow_up_of"].queryset = parents
        self.order_fields(
            [
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
            ]
        )

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of services.question_save."""
        data = self.cleaned_data
        arguments = {name: data[name] for name in PLAIN_QUESTION_FIELDS}
        arguments.update(
            choices_en=_words(data["choices_en"], "\n"),
            choices_es=_words(data["choices_es"], "\n"),
            follow_up_of=data["follow_up_of"],
        )
        return arguments


class SendTestForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = settings.LANGUAGES


class MoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", _("Up")), ("down", _("Down"))])
