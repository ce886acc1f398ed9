"""The privacy audit log: one row per erasure, whether a customer asked for it or the
retention period ran out. Written by privacy.services only, never changed afterwards."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ErasureRecord(models.Model):
    class Kind(models.TextChoices):
        REQUEST = "request", _("Customer's data erased")
        RETENTION = "retention", _("Old content anonymised (retention)")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # The customer row stays (anonymous) so the KPIs keep counting it; the link says
    # which row was erased. customer_pk survives even if that row is deleted later.
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    customer_pk = models.BigIntegerField(_("customer id"), null=True, blank=True)
    # A keyed hash (HMAC with SECRET_KEY), never the external id itself: it answers "was
    # this external id erased, when and by whom?" without keeping the identifier, and a
    # stolen database alone cannot turn short ids like C00042 back into names.
    external_id_hash = models.CharField(
        _("external id (keyed hash)"), max_length=64, blank=True, default="", db_index=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept as text too: the audit trail must still say who after the user is deleted.
    actor_name = models.CharField(_("by (name)"), max_length=150, blank=True, default="")
    reason = models.TextField(_("reason"), blank=True, default="")
    cutoff = models.DateTimeField(
        _("content older than"),
        null=True,
        blank=True,
        help_text=_("Retention runs: content written before this time was anonymised."),
    )
    counts = models.JSONField(_("what was erased"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("export_personal_data", _("Can export a customer's personal data")),
            ("erase_personal_data", _("Can erase a customer's personal data")),
        ]
        constraints = [
            # Erasure is irreversible and happens once per customer.
            models.UniqueConstraint(
                fields=["customer_pk"],
                condition=Q(kind="request"),
                name="erasure_once_per_customer",
            ),
            models.CheckConstraint(
                condition=~Q(kind="request") | Q(customer_pk__isnull=False),
                name="erasure_request_names_its_customer",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.REQUEST:
            return f"{self.get_kind_display()} #{self.customer_pk}"
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d}"
