"""What the survey endpoints read and write. Shapes and types only: who may be invited
is decided by surveys.services. An invitation's token never leaves the server: it is
the customer's key to their survey."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.api.serializers import IdField, RelatedIdField, TimestampField
from customers.models import Customer

from ..models import Answer, Invitation, Question, Response, Survey


class QuestionOutputSerializer(serializers.ModelSerializer):
    scale = serializers.SerializerMethodField(
        help_text=_("Lowest and highest score; null for questions not answered with a score.")
    )

    class Meta:
        model = Question
        fields = (
            "id",
            "position",
            "type",
            "required",
            "text_en",
            "text_es",
            "choices_en",
            "choices_es",
            "scale",
            "reversed",
            "follow_up_of",
            "follow_up_threshold",
        )
        read_only_fields = fields

    def get_scale(self, question: Question) -> list[int] | None:
        return list(question.scale) if question.scale is not None else None


class SurveyOutputSerializer(serializers.ModelSerializer):
    questions = QuestionOutputSerializer(many=True, read_only=True)
    delay_seconds = serializers.SerializerMethodField(
        help_text=_("How long after the ticket is solved or closed the survey is sent.")
    )

    class Meta:
        model = Survey
        fields = (
            "id",
            "name",
            "kind",
            "is_active",
            "languages",
            "trigger",
            "delay_seconds",
            "teams",
            "channels",
            "categories",
            "priorities",
            "sampling_rate",
            "cooldown_days",
            "reminder_after_days",
            "expire_after_days",
            "segment",
            "repeat_every_months",
            "next_run_at",
            "questions",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_delay_seconds(self, survey: Survey) -> int:
        return int(survey.delay.total_seconds())


class SurveyFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Survey.Kind.choices, required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)


class InvitationOutputSerializer(serializers.ModelSerializer):
    answered = serializers.SerializerMethodField(help_text=_("Whether the customer answered."))

    class Meta:
        model = Invitation
        fields = (
            "id",
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
            "answered",
            "created_by",
            "created_at",
        )
        read_only_fields = fields

    def get_answered(self, invitation: Invitation) -> bool:
        return hasattr(invitation, "response")


class InvitationInputSerializer(serializers.Serializer):
    survey = RelatedIdField(queryset=Survey.objects.all())
    customer = RelatedIdField(queryset=Customer.objects.all())
    send_after = TimestampField(required=False, help_text=_("When to send it; now if left out."))


class InvitationFilterSerializer(serializers.Serializer):
    survey = IdField(required=False)
    status = serializers.ChoiceField(choices=Invitation.Status.choices, required=False)
    customer = IdField(required=False)
    ticket = IdField(required=False)
    created_from = serializers.DateField(
        required=False, help_text=_("First day included (YYYY-MM-DD, local time).")
    )
    created_to = serializers.DateField(
        required=False, help_text=_("Last day included (YYYY-MM-DD, local time).")
    )


class AnswerOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Answer
        fields = ("question", "question_type", "score", "choices", "text")
        read_only_fields = fields


class ResponseOutputSerializer(serializers.ModelSerializer):
    answers = AnswerOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Response
        fields = (
            "id",
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
            "answers",
            "follow_up_ticket",
            "loop_closed_at",
            "loop_closed_by",
        )
        read_only_fields = fields


class ResponseFilterSerializer(serializers.Serializer):
    survey = IdField(required=False)
    question_type = serializers.ChoiceField(
        choices=Question.Type.choices,
        required=False,
        help_text=_("Responses with an answer to a question of this type."),
    )
    score_min = serializers.IntegerField(
        required=False,
        min_value=-1000,
        max_value=1000,
        help_text=_("Responses with an answer scored at least this (of question_type, if given)."),
    )
    score_max = serializers.IntegerField(
        required=False,
        min_value=-1000,
        max_value=1000,
        help_text=_("Responses with an answer scored at most this (of question_type, if given)."),
    )
    answered_from = serializers.DateField(
        required=False, help_text=_("First day included (YYYY-MM-DD, local time).")
    )
    answered_to = serializers.DateField(
        required=False, help_text=_("Last day included (YYYY-MM-DD, local time).")
    )
    team = IdField(required=False)
    agent = IdField(required=False)
    customer = IdField(required=False)

    def validate(self, data: dict) -> dict:
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"score_max": _("Must be at least score_min.")})
        return data
