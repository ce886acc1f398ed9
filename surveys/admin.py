"""Admin for surveys, their questions, the invitation outbox and the answers.

Surveys and questions are saved through the surveys services (the same rules as the
builder page). Invitations and responses are history written by the survey loop: the
admin shows them, says why an invitation was skipped, and sends failed ones again."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customers.admin import ReadOnlyAdminMixin, apply_service_to_each, take_saved
from cxm.lib.exceptions import ApplicationError

from . import services
from .models import Answer, Invitation, Question, Response, Survey
from .services.config import QUESTION_FIELDS, SURVEY_FIELDS, question_validate


class QuestionInlineForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = ("position", *QUESTION_FIELDS)

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            question_validate(self.instance)
        except ValidationError as error:
            self._update_errors(error)


class QuestionInline(admin.StackedInline):
    """New questions go last; change "position" to reorder (or use the builder page)."""

    model = Question
    form = QuestionInlineForm
    extra = 0
    ordering = ("position", "pk")
    raw_id_fields = ("follow_up_of",)
    fields = (
        ("position", "type", "required"),
        ("text_en", "text_es"),
        ("choices_en", "choices_es"),
        ("scale_min", "scale_max", "reversed"),
        ("follow_up_of", "follow_up_threshold"),
    )


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "is_active",
        "trigger",
        "delay",
        "sampling_rate",
        "cooldown_days",
        "next_run_at",
        "updated_at",
    )
    list_filter = ("kind", "is_active", "trigger", "teams")
    search_fields = ("name",)
    filter_horizontal = ("teams",)
    inlines = (QuestionInline,)
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active", "languages")}),
        (
            _("After a ticket"),
            {
                "fields": (
                    "trigger",
                    "delay",
                    "teams",
                    "channels",
                    "categories",
                    "priorities",
                    "sampling_rate",
                    "exclude_without_agent_reply",
                    "exclude_created_by_agent",
                    "exclude_auto_closed_without_contact",
                    "excluded_tags",
                )
            },
        ),
        (
            _("Fatigue, reminder and expiry"),
            {"fields": ("cooldown_days", "reminder_after_days", "expire_after_days")},
        ),
        (
            _("Relationship campaign"),
            {"fields": ("segment", "repeat_every_months", "next_run_at")},
        ),
    )

    def save_model(self, request: HttpRequest, obj: Survey, form, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in SURVEY_FIELDS}
        # Activation needs a question, and the inline's questions are saved after the
        # survey: activate once they exist (save_related).
        if not change or not obj.questions.exists():
            fields["is_active"] = False
        saved = services.survey_save(
            survey=obj if change else None, teams=form.cleaned_data["teams"], **fields
        )
        if not change:
            take_saved(obj, saved)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        survey = form.instance
        if form.cleaned_data["is_active"] and not survey.is_active:
            try:
                services.survey_save(survey=survey, is_active=True)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.WARNING)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Question:
            return super().save_formset(request, form, formset, change)
        questions = formset.save(commit=False)
        for question in formset.deleted_objects:
            try:
                services.question_delete(question=question)
            except ApplicationError as error:
                self.message_user(request, f"{question}: {error.message}", messages.WARNING)
        for question in questions:
            fields = {name: getattr(question, name) for name in QUESTION_FIELDS}
            if question.pk:
                services.question_save(survey=form.instance, question=question, **fields)
            else:
                take_saved(question, services.question_save(survey=form.instance, **fields))
        formset.save_m2m()


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    """Only for finding a question (the follow-up picker); edit them on their survey."""

    list_display = ("text_en", "survey", "type", "position", "required")
    list_filter = ("survey", "type")
    list_select_related = ("survey",)
    search_fields = ("text_en", "text_es", "survey__name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Question | None = None) -> bool:
        return False


class SkipReasonFilter(admin.SimpleListFilter):
    title = _("why it was skipped")
    parameter_name = "skip_reason"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [(value, label) for value, label in Invitation.SkipReason.choices if value]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invitation]):
        if self.value():
            return queryset.filter(skip_reason=self.value())
        return queryset


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = (
        "survey",
        "customer",
        "ticket",
        "status",
        "skip_reason",
        "language",
        "send_after",
        "sent_at",
        "attempts",
        "created_at",
    )
    list_filter = (
        "status",
        SkipReasonFilter,
        "survey",
        ("created_at", admin.DateFieldListFilter),
        ("sent_at", admin.DateFieldListFilter),
        "language",
    )
    list_select_related = ("survey", "customer", "ticket")
    search_fields = ("customer__name", "customer__email", "customer__external_id")
    autocomplete_fields = ("customer", "ticket")
    date_hierarchy = "created_at"
    actions = ("send_again",)
    fields = (
        "survey",
        "customer",
        "ticket",
        "status",
        "skip_reason",
        "language",
        "send_after",
        "sent_at",
        "attempts",
        "last_error",
        "reminder_sent_at",
        "expires_at",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invitations are written by the survey loop (or the API, by hand)

    def has_delete_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        return False  # the outbox is the history of who was asked what, and why not

    @admin.action(description=_("Send again (failed ones)"), permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        def resend(invitation: Invitation) -> None:
            if invitation.status != Invitation.Status.FAILED:
                raise ApplicationError(_("Only failed invitations are sent again."))
            services.invitation_resend(invitation=invitation)

        apply_service_to_each(
            self,
            request,
            queryset,
            resend,
            lambda count: (
                ngettext(
                    "%(count)d invitation will be sent again.",
                    "%(count)d invitations will be sent again.",
                    count,
                )
                % {"count": count}
            ),
        )


class AnswerInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Answer
    fields = ("question", "question_type", "score", "choices", "text")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Answer]:
        return super().get_queryset(request).select_related("question")


class LoopFilter(admin.SimpleListFilter):
    title = _("closed loop")
    parameter_name = "loop"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [
            ("closed", _("Loop closed")),
            ("open", _("Follow-up open")),
            ("none", _("No follow-up")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Response]):
        if self.value() == "closed":
            return queryset.filter(follow_up_ticket__isnull=False, loop_closed_at__isnull=False)
        if self.value() == "open":
            return queryset.filter(follow_up_ticket__isnull=False, loop_closed_at__isnull=True)
        if self.value() == "none":
            return queryset.filter(follow_up_ticket__isnull=True)
        return queryset


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "survey",
        "customer",
        "answered_at",
        "source",
        "ticket",
        "team",
        "agent",
        "follow_up_ticket",
        "loop_closed_at",
    )
    list_filter = (
        "survey",
        "source",
        "team",
        ("agent", admin.RelatedOnlyFieldListFilter),
        ("answered_at", admin.DateFieldListFilter),
        LoopFilter,
        "channel",
        "language",
    )
    list_select_related = ("survey", "customer", "ticket", "team", "agent", "follow_up_ticket")
    search_fields = ("customer__name", "customer__email", "customer__external_id")
    date_hierarchy = "answered_at"
    inlines = (AnswerInline,)
    fields = (
        "survey",
        "customer",
        "invitation",
        "ticket",
        "team",
        "agent",
        "channel",
        "category",
        "priority",
        "segment",
        "language",
        "source",
        "answered_at",
        "follow_up_ticket",
        "loop_closed_at",
        "loop_closed_by",
    )
    readonly_fields = fields
