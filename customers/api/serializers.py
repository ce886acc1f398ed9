"""What the customer endpoints read and write. Input serializers only check shapes and
types; the rules (lifecycle, uniqueness at save time) stay in customers.services."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import Language
from cxm.lib.timestamps import validate_timestamp

from ..models import Channel, Customer, CustomerEvent, Purchase

# Ids beyond a 64-bit integer cannot exist; refusing them here keeps them from the database.
MAX_ID = 2**63 - 1


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class RelatedIdField(serializers.PrimaryKeyRelatedField):
    """A foreign id: a nonexistent or absurd one is a field error, never a server error."""

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool) and not 0 < data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class TimestampField(serializers.DateTimeField):
    """A date and time within the span the product accepts (1970 to 2099)."""

    def __init__(self, **kwargs):
        super().__init__(validators=[validate_timestamp], **kwargs)


def active_users():
    return get_user_model().objects.filter(is_active=True)


# --- Customers


class CustomerOutputSerializer(serializers.ModelSerializer):
    # Empty when the customer gave none, which the schema must allow beside a valid email.
    email = serializers.EmailField(read_only=True, allow_blank=True)

    class Meta:
        model = Customer
        fields = (
            "id",
            "external_id",
            "name",
            "email",
            "phone",
            "language",
            "segment",
            "account_owner",
            "stage",
            "became_customer_at",
            "churned_at",
            "survey_opt_out",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CustomerInputSerializer(serializers.Serializer):
    """Create and update (PUT, PATCH). Uniqueness and the lifecycle are the service's."""

    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    segment = serializers.CharField(max_length=60, required=False, allow_blank=True)
    account_owner = RelatedIdField(queryset=active_users(), required=False, allow_null=True)
    stage = serializers.ChoiceField(
        choices=Customer.Stage.choices,
        required=False,
        help_text=_("Lifecycle stage; only the allowed transitions are accepted."),
    )
    survey_opt_out = serializers.BooleanField(required=False)


class CustomerFilterSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    segment = serializers.CharField(max_length=60, required=False, allow_blank=True)
    stage = serializers.ChoiceField(choices=Customer.Stage.choices, required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    search = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text=_("Part of the name or the email."),
    )


# --- Purchases


class PurchaseOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Purchase
        fields = ("id", "customer", "occurred_at", "amount", "margin", "currency", "kind")
        read_only_fields = fields


class PurchaseUpdateInputSerializer(serializers.Serializer):
    occurred_at = TimestampField(required=False)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"))
    margin = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        error_messages={"invalid": _("Use a three-letter ISO 4217 code, such as EUR.")},
    )
    kind = serializers.ChoiceField(choices=Purchase.Kind.choices, required=False)


class PurchaseCreateInputSerializer(PurchaseUpdateInputSerializer):
    customer = RelatedIdField(queryset=Customer.objects.all())


class PurchaseFilterSerializer(serializers.Serializer):
    customer = IdField(required=False)
    kind = serializers.ChoiceField(choices=Purchase.Kind.choices, required=False)
    occurred_from = serializers.DateField(
        required=False, help_text=_("First day included (YYYY-MM-DD, local time).")
    )
    occurred_to = serializers.DateField(
        required=False, help_text=_("Last day included (YYYY-MM-DD, local time).")
    )


# --- Customer events (touchpoints)


class CustomerEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomerEvent
        fields = ("id", "customer", "channel", "kind", "occurred_at", "value", "note")
        read_only_fields = fields


class CustomerEventUpdateInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    kind = serializers.ChoiceField(choices=CustomerEvent.Kind.choices)
    occurred_at = TimestampField(required=False)
    value = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True
    )
    note = serializers.CharField(required=False, allow_blank=True)


class CustomerEventCreateInputSerializer(CustomerEventUpdateInputSerializer):
    customer = RelatedIdField(queryset=Customer.objects.all())


class CustomerEventFilterSerializer(serializers.Serializer):
    customer = IdField(required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    kind = serializers.ChoiceField(choices=CustomerEvent.Kind.choices, required=False)
    occurred_from = serializers.DateField(
        required=False, help_text=_("First day included (YYYY-MM-DD, local time).")
    )
    occurred_to = serializers.DateField(
        required=False, help_text=_("Last day included (YYYY-MM-DD, local time).")
    )
