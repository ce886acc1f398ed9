from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Language
from cxm.lib.models import TimeStampedModel


class Channel(models.TextChoices):
    """How a customer reached us; shared by tickets and touchpoints."""

    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    WEB = "web", _("Web")
    SOCIAL = "social", _("Social")
    IN_PERSON = "in_person", _("In person")


class Customer(TimeStampedModel):
    class Stage(models.TextChoices):
        LEAD = "lead", _("Lead")
        CUSTOMER = "customer", _("Customer")
        CHURNED = "churned", _("Churned")

    external_id = models.CharField(
        _("external id"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("The id this customer has in other systems; unique when set."),
    )
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email"), blank=True, default="")
    phone = models.CharField(_("phone"), max_length=40, blank=True, default="")
    language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.SPANISH
    )
    segment = models.CharField(_("segment"), max_length=60, blank=True, default="", db_index=True)
    account_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    stage = models.CharField(
        _("lifecycle stage"), max_length=10, choices=Stage.choices, default=Stage.LEAD
    )
    became_customer_at = models.DateTimeField(_("became a customer at"), null=True, blank=True)
    churned_at = models.DateTimeField(_("churned at"), null=True, blank=True)
    survey_opt_out = models.BooleanField(
        _("opted out of surveys"), default=False, help_text=_("Never send this customer a survey.")
    )

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="customer_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(stage="lead", churned_at__isnull=True)
                | Q(stage="customer", became_customer_at__isnull=False, churned_at__isnull=True)
                | Q(stage="churned", became_customer_at__isnull=False, churned_at__isnull=False),
                name="customer_stage_timestamps_consistent",
            ),
            models.CheckConstraint(
                condition=Q(churned_at__isnull=True) | Q(churned_at__gte=F("became_customer_at")),
                name="customer_churned_after_becoming_customer",
            ),
        ]
        indexes = [
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["stage", "became_customer_at"], name="customer_stage_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0] if self.name else ""


class LifecycleChange(models.Model):
    """One row per stage transition, so churn and retention can be counted exactly
    for any past period even when a customer churns and comes back."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="lifecycle_changes"
    )
    from_stage = models.CharField(_("from"), max_length=10, choices=Customer.Stage.choices)
    to_stage = models.CharField(_("to"), max_length=10, choices=Customer.Stage.choices)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("lifecycle change")
        verbose_name_plural = _("lifecycle changes")
        ordering = ["occurred_at", "id"]
        indexes = [
            # Each customer's changes in time order, ties by id: the customer KPIs read a
            # customer's stage at an instant as their latest change before it.
            models.Index(
                fields=["customer", "occurred_at", "id"],
                name="lifecyclechange_cust_time_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_stage} → {self.to_stage}"


class Purchase(models.Model):
    class Kind(models.TextChoices):
        NEW = "new", _("New")
        RENEWAL = "renewal", _("Renewal")
        UPSELL = "upsell", _("Up-sell")
        CROSS_SELL = "cross_sell", _("Cross-sell")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="purchases"
    )
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    margin = models.DecimalField(_("margin"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.NEW)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # Imports identify a purchase by who, when and what kind: re-importing updates it.
            models.UniqueConstraint(
                fields=["customer", "occurred_at", "kind"], name="purchase_natural_key"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["occurred_at"], name="purchase_occurred_idx")]

    def __str__(self) -> str:
        return f"{self.customer} {self.amount} {self.currency} ({self.get_kind_display()})"


class CustomerEvent(models.Model):
    """A touchpoint on the customer's journey (visit, abandoned cart, meeting…)."""

    class Kind(models.TextChoices):
        VISIT = "visit", _("Visit")
        SIGNUP = "signup", _("Sign-up")
        CART_ABANDONED = "cart_abandoned", _("Cart abandoned")
        PLAN_CHANGED = "plan_changed", _("Plan changed")
        RETURN = "return", _("Return")
        MEETING = "meeting", _("Meeting")
        CALL = "call", _("Call")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="events"
    )
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2, null=True, blank=True)
    note = models.TextField(_("note"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "occurred_at"], name="custevent_customer_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_channel_display()})"
