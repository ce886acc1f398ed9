import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.html import linebreaks
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer
from cxm.lib.models import TimeStampedModel

REFERENCE_PREFIX = "T-"
_REFERENCE_RE = re.compile(r"^\s*(?:T-?)?0*(\d+)\s*$", re.IGNORECASE)


class Team(models.Model):
    class Assignment(models.TextChoices):
        MANUAL = "manual", _("Manual")
        ROUND_ROBIN = "round_robin", _("Round-robin")
        LEAST_OPEN = "least_open", _("Fewest open tickets")

    name = models.CharField(_("name"), max_length=100, unique=True)
    assignment = models.CharField(
        _("auto-assignment"),
        max_length=12,
        choices=Assignment.choices,
        default=Assignment.MANUAL,
        help_text=_("How new tickets of this team are given to its available agents."),
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text=_("Where round-robin continues from."),
    )
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


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class BusinessCalendar(models.Model):
    """Working days, hours and holidays that business-hours SLA clocks count in."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=60, default="Europe/Madrid")

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkingHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    calendar = models.ForeignKey(
        BusinessCalendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(
        _("closes"), help_text=_("00:00 means midnight at the end of the day.")
    )

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes__gt=models.F("opens")) | Q(closes="00:00"),
                name="workinghours_closes_after_opens",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class Holiday(models.Model):
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("calendar"),
        on_delete=models.CASCADE,
        related_name="holidays",
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True, default="")

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_once_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SLAPolicy(models.Model):
    """Targets for one priority, for one team or (team empty) for every team."""

    name = models.CharField(_("name"), max_length=100)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policies",
        help_text=_("Empty: applies to every team without its own."),
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Empty: targets count calendar hours."),
    )
    first_response_minutes = models.PositiveIntegerField(_("first response target (minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution target (minutes)"))

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["team__name", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["priority", "team"], name="slapolicy_one_per_team_priority"
            ),
            models.UniqueConstraint(
                fields=["priority"],
                condition=Q(team__isnull=True),
                name="slapolicy_one_default_per_priority",
            ),
        ]

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


# Urgent first: the stored values do not sort that way.
_PRIORITY_RANK = models.Case(
    *(
        models.When(priority=value, then=models.Value(rank))
        for rank, value in enumerate(
            [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]
        )
    ),
    default=models.Value(9),
)

# The nearer running SLA target: first response until we answered, then resolution
# (None while paused); resolved tickets have none. A CASE rather than LEAST(), whose
# NULL handling differs between SQLite and PostgreSQL.
_SLA_DUE = models.Case(
    models.When(Q(status__in=["solved", "closed"]), then=models.Value(None)),
    models.When(
        Q(first_response_at__isnull=True, first_response_due_at__isnull=False)
        & (
            Q(resolution_due_at__isnull=True)
            | Q(first_response_due_at__lte=models.F("resolution_due_at"))
        ),
        then=models.F("first_response_due_at"),
    ),
    default=models.F("resolution_due_at"),
)


class Ticket(TimeStampedModel):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SOLVED = "solved", _("Solved")
        CLOSED = "closed", _("Closed")

    Priority = Priority

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
    sla_policy = models.ForeignKey(
        SLAPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    sla_paused_at = models.DateTimeField(_("SLA paused at"), null=True, blank=True)
    sla_paused_seconds = models.FloatField(
        _("SLA time paused (s)"),
        default=0,
        editable=False,
        help_text=_(
            "Working seconds spent pending on the customer; they extend the resolution target."
        ),
    )
    # Business-hours twins of the response and resolution times, recorded when the first
    # reply and the resolution happen (tickets.sla.business_seconds_since_created), in the
    # calendar of the ticket's SLA policy; empty when no business calendar applies.
    first_response_business_s = models.FloatField(
        _("first response time in business hours (s)"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Working seconds of the SLA calendar from creation to the first reply; empty "
            "when no business calendar applies."
        ),
    )
    resolution_business_s = models.FloatField(
        _("resolution time in business hours (s)"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Working seconds of the SLA calendar from creation to the resolution; empty "
            "when no business calendar applies or the ticket is not resolved."
        ),
    )
    # Kept by the database from the columns above, so the queue sorts on an index.
    priority_rank = models.GeneratedField(
        expression=_PRIORITY_RANK, output_field=models.SmallIntegerField(), db_persist=True
    )
    sla_due_at = models.GeneratedField(
        expression=_SLA_DUE, output_field=models.DateTimeField(), db_persist=True
    )
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
            # The queue's three sort orders, for every status and for the work still open.
            models.Index(
                models.F("updated_at").desc(), models.F("id").desc(), name="ticket_updated_idx"
            ),
            models.Index(
                models.F("updated_at").desc(),
                models.F("id").desc(),
                condition=Q(status__in=["new", "open", "pending"]),
                name="ticket_open_updated_idx",
            ),
            models.Index(
                "priority_rank",
                models.F("updated_at").desc(),
                models.F("id").desc(),
                name="ticket_priority_idx",
            ),
            models.Index(fields=["sla_due_at", "priority_rank", "id"], name="ticket_sla_due_idx"),
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

    class EmailStatus(models.TextChoices):
        NONE = "", _("Not emailed")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    email_status = models.CharField(
        _("email status"), max_length=8, choices=EmailStatus.choices, blank=True, default=""
    )
    email_attempts = models.PositiveSmallIntegerField(_("email attempts"), default=0)
    email_error = models.TextField(_("last email error"), blank=True, default="")
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)
    email_claimed_at = models.DateTimeField(
        _("email claimed at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "When a worker took the email to send; a stale claim is put back in the queue."
        ),
    )

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
        # linebreaks() escapes the body first, so the result is safe to render as is.
        return mark_safe(linebreaks(self.body, autoescape=True))  # noqa: S308


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
        TAGS_CHANGED = "tags_changed", _("Tags changed")
        SURVEY_SWITCH = "survey_switch", _("“Don't survey” changed")
        SLA_BREACHED = "sla_breached", _("SLA breached")
        EMAIL_FAILED = "email_failed", _("Email to customer failed")
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


class CannedReply(models.Model):
    """A saved answer. Shared when it has no owner; otherwise only its owner sees it.
    Placeholders: {{ customer.first_name }}, {{ ticket.reference }}, {{ agent.first_name }}…"""

    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("body"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_replies",
        help_text=_("Empty: shared with every agent."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Notification(models.Model):
    """Something an agent should know (an SLA breach, a survey follow-up…)."""

    class Kind(models.TextChoices):
        SLA_BREACH = "sla_breach", _("SLA breached")
        ASSIGNED = "assigned", _("Ticket assigned")
        FOLLOW_UP = "follow_up", _("Survey follow-up")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    text = models.CharField(_("text"), max_length=300)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.text
