"""What the ticket endpoints read and write. Shapes and types only: whether a ticket
may be replied to, assigned or closed is decided by tickets.services."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.api.serializers import IdField, RelatedIdField, active_users
from customers.models import Channel, Customer

from ..models import Message, Team, Ticket, TicketEvent

UNASSIGNED = "none"


class MessageOutputSerializer(serializers.ModelSerializer):
    author = serializers.PrimaryKeyRelatedField(
        source="author_agent",
        read_only=True,
        allow_null=True,
        help_text=_("The agent who wrote it; null when the customer did."),
    )

    class Meta:
        model = Message
        fields = ("id", "kind", "author", "from_customer", "body", "created_at")
        read_only_fields = fields


class TicketEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketEvent
        fields = ("id", "kind", "actor", "from_value", "to_value", "created_at")
        read_only_fields = fields


class TicketOutputSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True, help_text=_("For example T-000123."))
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Ticket
        fields = (
            "id",
            "reference",
            "external_id",
            "customer",
            "subject",
            "channel",
            "status",
            "priority",
            "category",
            "tags",
            "team",
            "assignee",
            "created_by",
            "created_at",
            "updated_at",
            "first_response_at",
            "solved_at",
            "closed_at",
            "reopen_count",
            "first_response_due_at",
            "resolution_due_at",
            "first_response_breached",
            "resolution_breached",
            "do_not_survey",
        )
        read_only_fields = fields


class TicketDetailOutputSerializer(TicketOutputSerializer):
    messages = MessageOutputSerializer(many=True, read_only=True)
    events = TicketEventOutputSerializer(
        many=True, read_only=True, help_text=_("The audit trail, oldest first.")
    )

    class Meta(TicketOutputSerializer.Meta):
        fields = (*TicketOutputSerializer.Meta.fields, "messages", "events")
        read_only_fields = fields


class TicketCreateInputSerializer(serializers.Serializer):
    customer = RelatedIdField(queryset=Customer.objects.all())
    subject = serializers.CharField(max_length=250)
    body = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=_("The customer's own description of the problem."),
    )
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    category = serializers.CharField(max_length=60, required=False, allow_blank=True)
    team = RelatedIdField(queryset=Team.objects.all(), required=False, allow_null=True)
    assignee = RelatedIdField(queryset=active_users(), required=False, allow_null=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=20
    )


class MessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False)


class TicketAssignInputSerializer(serializers.Serializer):
    assignee = RelatedIdField(
        queryset=active_users(), allow_null=True, help_text=_("An agent's id; null unassigns.")
    )
    team = RelatedIdField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Move the ticket to this team too (null: no team). Omit to keep it."),
    )


class StatusListField(serializers.CharField):
    """`open` or `new,open,pending`: every name must be a known status."""

    def to_internal_value(self, data) -> list[str]:
        text = super().to_internal_value(data)
        statuses = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [status for status in statuses if status not in Ticket.Status.values]
        if unknown:
            raise serializers.ValidationError(
                _("Unknown status “%(value)s”; use %(choices)s.")
                % {"value": unknown[0], "choices": ", ".join(Ticket.Status.values)}
            )
        return statuses


class AssigneeFilterField(serializers.CharField):
    """An agent's id, or `none` for unassigned tickets."""

    def to_internal_value(self, data) -> int | str:
        text = super().to_internal_value(data).strip()
        if text.lower() == UNASSIGNED:
            return UNASSIGNED
        return IdField().run_validation(text)


class TicketFilterSerializer(serializers.Serializer):
    status = StatusListField(
        required=False, allow_blank=True, help_text=_("One status or a comma-separated list.")
    )
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    team = IdField(required=False)
    assignee = AssigneeFilterField(
        required=False, help_text=_("An agent's id, or “none” for unassigned tickets.")
    )
    customer = IdField(required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    category = serializers.CharField(max_length=60, required=False, allow_blank=True)
    created_from = serializers.DateField(
        required=False, help_text=_("First day included (YYYY-MM-DD, local time).")
    )
    created_to = serializers.DateField(
        required=False, help_text=_("Last day included (YYYY-MM-DD, local time).")
    )
    search = serializers.CharField(
        max_length=250,
        required=False,
        allow_blank=True,
        help_text=_("A reference (T-000123) or part of the subject."),
    )

    def validate(self, attrs: dict) -> dict:
        if attrs.get("assignee") == UNASSIGNED:
            attrs = {**attrs, "unassigned": True}
            del attrs["assignee"]
        return attrs
