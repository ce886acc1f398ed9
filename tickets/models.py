import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer
from cxm.lib.models import TimeStampedModel

REFERENCE_PREFIX = "T-"
_REFERENCE_RE = re.compile(r"^\s*T-?0*(\d+)\s*$", re.IGNORECASE)


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), related_name="teams", blank=True
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("team lead"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_teams",
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.SlugField(_("name"), max_length=50, unique=True, allow_unicode=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Ticket(TimeStampedModel):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SOLVED = "solved", _("Solved")
        CLOSED = "closed", _("Closed")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    # Statuses in which the ticket still needs work from us.
    UNRESOLVED = (Status.NEW, Status.OPEN, Status.PENDING)

    external_id = models.CharField(
        _("external id"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("The id this ticket had in the help desk it was imported from."),
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="tickets"
    )
    subject = models.CharField(_("subject"), max_length=250)
    channel = models.CharField(
        _("channel"), max_length=12, choices=Channel.choices, default=Channel.EMAIL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    category = models.CharField(_("category"), max_length=60, blank=True, default="")
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="tickets", blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The agent who opened it on the customer's behalf, if any."),
    )
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    solved_at = models.DateTimeField(_("solved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    solved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("solved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The assignee when the ticket was solved: who gets the credit."),
    )
    reopen_count = models.PositiveIntegerField(_("times reopened"), default=0)
    # SLA clocks: the due times and breach flags are stored when events happen, so the
    # queue can sort and filter on them without computing business hours per row.
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_response_breached = models.BooleanField(_("first response SLA breached"), default=False)
    resolution_breached = models.BooleanField(_("resolution SLA breached"), default=False)
    sla_paused_at = models.DateTimeField(_("SLA paused at"), null=True, blank=True)
    do_not_survey = models.BooleanField(
        _("don't survey"),
        default=False,
        help_text=_("Send no satisfaction survey for this ticket."),
    )

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="ticket_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(solved_at__isnull=True) | Q(solved_at__gte=models.F("created_at")),
                name="ticket_solved_after_created",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["solved", "closed"]) | Q(solved_at__isnull=False),
                name="ticket_resolved_has_solved_at",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_at__isnull=False),
                name="ticket_closed_has_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-updated_at"], name="ticket_status_updated_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status_idx"),
            models.Index(fields=["team", "status"], name="ticket_team_status_idx"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),
            models.Index(fields=["solved_at"], name="ticket_solved_idx"),
            models.Index(fields=["resolution_due_at"], name="ticket_resolution_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk:06d}" if self.pk else ""

    @staticmethod
    def id_from_reference(text: str) -> int | None:
        """'T-000123', 't123' or '123' → 123; anything else → None."""
        match = _REFERENCE_RE.match(text or "")
        return int(match.group(1)) if match else None

    @property
    def is_resolved(self) -> bool:
        return self.status in (self.Status.SOLVED, self.Status.CLOSED)


class Message(models.Model):
    class Kind(models.TextChoices):
        REPLY = "reply", _("Public reply")
        NOTE = "note", _("Internal note")

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="messages"
    )
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices, default=Kind.REPLY)
    author_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ticket_messages",
    )
    from_customer = models.BooleanField(_("from the customer"), default=False)
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_customer=True, kind="note"),
                name="message_customer_never_writes_notes",
            ),
        ]
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_public(self) -> bool:
        return self.kind == self.Kind.REPLY

    @property
    def body_html(self) -> SafeString:
        """The plain-text body, escaped, with its line breaks kept."""
        return linebreaks(escape(self.body))


class TicketEvent(models.Model):
    """The audit trail: one row for every change, written in the change's transaction."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        ASSIGNED = "assigned", _("Assigned")
        TEAM_CHANGED = "team_changed", _("Team changed")
        STATUS_CHANGED = "status_changed", _("Status changed")
        PRIORITY_CHANGED = "priority_changed", _("Priority changed")
        REPLIED = "replied", _("Replied")
        CUSTOMER_REPLIED = "customer_replied", _("Customer replied")
        NOTE = "note", _("Internal note")
        SOLVED = "solved", _("Solved")
        REOPENED = "reopened", _("Reopened")
        CLOSED = "closed", _("Closed")
        IMPORTED = "imported", _("Imported")

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    from_value = models.CharField(_("from"), max_length=100, blank=True, default="")
    to_value = models.CharField(_("to"), max_length=100, blank=True, default="")
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticketevent_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.from_value}→{self.to_value}"
