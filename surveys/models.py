"""Surveys, their questions, the invitation outbox and the answers.

The Invitation row is the outbox: it is written in the transaction that solves or
closes the ticket, and a worker claims it (scheduled → sending) before emailing, so
nothing is lost when the broker is down and nothing is sent twice.
"""

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer
from tickets.models import Priority, Team, Ticket


def new_token() -> str:
    """256 random bits, URL-safe: unguessable and unrelated to any id."""
    return secrets.token_urlsafe(32)


def new_questions_revision() -> str:
    """Random, not a counter: a survey id a rolled-back test (or a restored database)
    hands out again never meets the revision its questions were cached under before."""
    return secrets.token_hex(8)


class Survey(models.Model):
    class Kind(models.TextChoices):
        TRANSACTIONAL = "transactional", _("After a ticket")
        RELATIONSHIP = "relationship", _("Relationship campaign")

    class Trigger(models.TextChoices):
        SOLVED = "solved", _("When the ticket is solved")
        CLOSED = "closed", _("When the ticket is closed")

    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(
        _("kind"), max_length=14, choices=Kind.choices, default=Kind.TRANSACTIONAL
    )
    is_active = models.BooleanField(_("active"), default=False)
    languages = models.JSONField(
        _("languages"), default=list, blank=True, help_text=_("Empty: every language.")
    )
    # Transactional trigger rules.
    trigger = models.CharField(
        _("trigger"), max_length=6, choices=Trigger.choices, default=Trigger.SOLVED
    )
    delay = models.DurationField(_("delay"), default=timedelta(hours=24))
    teams = models.ManyToManyField(
        Team, verbose_name=_("teams"), blank=True, help_text=_("Empty: every team.")
    )
    channels = models.JSONField(
        _("channels"), default=list, blank=True, help_text=_("Empty: every channel.")
    )
    categories = models.JSONField(
        _("categories"), default=list, blank=True, help_text=_("Empty: every category.")
    )
    priorities = models.JSONField(
        _("priorities"), default=list, blank=True, help_text=_("Empty: every priority.")
    )
    sampling_rate = models.PositiveSmallIntegerField(
        _("sampling rate (%)"),
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Share of matching tickets that get the survey."),
    )
    exclude_without_agent_reply = models.BooleanField(
        _("skip tickets with no public agent reply"), default=True
    )
    exclude_created_by_agent = models.BooleanField(
        _("skip tickets an agent opened on the customer's behalf"), default=False
    )
    exclude_auto_closed_without_contact = models.BooleanField(
        _("skip tickets auto-closed with no customer contact"), default=True
    )
    excluded_tags = models.JSONField(
        _("excluded tags"),
        default=list,
        blank=True,
        help_text=_("Tickets with any of these tags (e.g. spam, merged) are not surveyed."),
    )
    cooldown_days = models.PositiveSmallIntegerField(
        _("cooldown for this survey (days)"),
        default=0,
        help_text=_("A customer gets this survey at most once in this many days."),
    )
    reminder_after_days = models.PositiveSmallIntegerField(
        _("reminder after (days)"),
        null=True,
        blank=True,
        help_text=_("Empty: no reminder. One reminder only."),
    )
    expire_after_days = models.PositiveSmallIntegerField(
        _("answers accepted for (days)"), default=14
    )
    # Relationship campaigns.
    segment = models.CharField(
        _("customer segment"),
        max_length=60,
        blank=True,
        default="",
        help_text=_("Relationship campaigns: empty means every current customer."),
    )
    repeat_every_months = models.PositiveSmallIntegerField(
        _("repeat every (months)"), null=True, blank=True, help_text=_("Empty: send once.")
    )
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Replaced in the same transaction as any write to one of its questions (Question and
    # its queryset do it): the public pages keep the questions per process under it
    # (selectors.survey_questions), so an edited survey is never served from that cache.
    questions_revision = models.CharField(
        _("questions revision"), max_length=16, default=new_questions_revision, editable=False
    )

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sampling_rate__gte=0, sampling_rate__lte=100),
                name="survey_sampling_rate_is_a_percentage",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def _touch_surveys(surveys: Q) -> None:
    """A new questions revision for these surveys (see Survey.questions_revision)."""
    Survey.objects.filter(surveys).update(questions_revision=new_questions_revision())


class QuestionQuerySet(models.QuerySet):
    """Bulk writes renew their surveys' questions revision too (bulk_update goes through
    update). Each runs in the transaction of its write, so no reader sees one without
    the other."""

    def update(self, **kwargs: Any) -> int:
        with transaction.atomic(using=self.db, savepoint=False):
            # Before the write, while the filter still finds the rows.
            _touch_surveys(Q(pk__in=self.values("survey_id")))
            rows = super().update(**kwargs)
            moved_to = kwargs.get("survey", kwargs.get("survey_id"))
            if moved_to is not None:
                _touch_surveys(Q(pk=getattr(moved_to, "pk", moved_to)))
        return rows

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db, savepoint=False):
            _touch_surveys(Q(pk__in=self.values("survey_id")))
            return super().delete()

    def bulk_create(self, objs: Iterable["Question"], *args: Any, **kwargs: Any) -> list:
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            _touch_surveys(Q(pk__in={question.survey_id for question in created}))
        return created


class Question(models.Model):
    class Type(models.TextChoices):
        NPS = "nps", _("NPS (0-10)")
        CSAT = "csat", _("CSAT (1-5)")
        CES = "ces", _("Customer effort (CES)")
        YES_NO = "yes_no", _("Yes / no")
        SINGLE_CHOICE = "single_choice", _("Single choice")
        MULTIPLE_CHOICE = "multiple_choice", _("Multiple choice")
        TEXT = "text", _("Free text")

    SCORED = (Type.NPS, Type.CSAT, Type.CES)
    DEFAULT_SCALES = {Type.NPS: (0, 10), Type.CSAT: (1, 5), Type.CES: (1, 7), Type.YES_NO: (0, 1)}

    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="questions"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    required = models.BooleanField(_("required"), default=True)
    text_en = models.CharField(_("text (English)"), max_length=300)
    text_es = models.CharField(_("text (Spanish)"), max_length=300)
    choices_en = models.JSONField(_("choices (English)"), default=list, blank=True)
    choices_es = models.JSONField(_("choices (Spanish)"), default=list, blank=True)
    scale_min = models.SmallIntegerField(_("lowest score"), null=True, blank=True)
    scale_max = models.SmallIntegerField(_("highest score"), null=True, blank=True)
    reversed = models.BooleanField(
        _("reversed scale"),
        default=False,
        help_text=_("A high score is bad (e.g. “how difficult was it?”); reports flip it."),
    )
    follow_up_of = models.ForeignKey(
        "self",
        verbose_name=_("follow-up of"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="follow_ups",
        help_text=_("Shown only when the answer to that question is at or below the threshold."),
    )
    follow_up_threshold = models.SmallIntegerField(
        _("show when the score is at most"), null=True, blank=True
    )

    objects = QuestionQuerySet.as_manager()

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["survey", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scale_min__isnull=True)
                | Q(scale_max__isnull=True)
                | Q(scale_max__gt=models.F("scale_min")),
                name="question_scale_is_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.text_en

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The survey's own bookkeeping, not a side effect: from this write on, what the
        # public pages cached of its questions is stale (Survey.questions_revision).
        with transaction.atomic(savepoint=False):
            surveys = Q(pk=self.survey_id)
            if self.pk is not None:
                # Before the write: a question moved to another survey renews both.
                surveys |= Q(questions__pk=self.pk)
            _touch_surveys(surveys)
            super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic(savepoint=False):
            _touch_surveys(Q(pk=self.survey_id))
            return super().delete(*args, **kwargs)

    @property
    def scale(self) -> tuple[int, int] | None:
        default = self.DEFAULT_SCALES.get(self.type)
        if default is None:
            return None
        low = self.scale_min if self.scale_min is not None else default[0]
        high = self.scale_max if self.scale_max is not None else default[1]
        return low, high

    def text_in(self, language: str | None = None) -> str:
        language = language or get_language()
        return (self.text_es if language == "es" else self.text_en) or self.text_en

    def choices_in(self, language: str | None = None) -> list[str]:
        language = language or get_language()
        return (self.choices_es if language == "es" else self.choices_en) or self.choices_en


class Invitation(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")

    class SkipReason(models.TextChoices):
        NONE = "", _("—")
        OPTED_OUT = "opted_out", _("Customer unsubscribed")
        NO_EMAIL = "no_email", _("Customer has no email address")
        FATIGUE = "fatigue", _("Customer surveyed recently (global rule)")
        COOLDOWN = "cooldown", _("Customer got this survey recently")
        SAMPLED_OUT = "sampled_out", _("Not in the sample")
        NO_AGENT_REPLY = "no_agent_reply", _("No public agent reply on the ticket")
        AGENT_CREATED = "agent_created", _("Ticket opened by an agent")
        AUTO_CLOSED = "auto_closed", _("Ticket auto-closed with no customer contact")
        EXCLUDED_TAG = "excluded_tag", _("Ticket has an excluded tag")
        DO_NOT_SURVEY = "do_not_survey", _("Agent asked not to survey this ticket")
        LANGUAGE = "language", _("Survey not offered in the customer's language")
        EXPIRED = "expired", _("Not sent before it expired")

    # An invitation still on its way or answered; at most one per survey and ticket.
    LIVE = (Status.SCHEDULED, Status.SENDING, Status.SENT)

    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="invitations"
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="invitations"
    )
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations",
    )
    token = models.CharField(
        _("token"), max_length=64, unique=True, default=new_token, editable=False
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )
    skip_reason = models.CharField(
        _("why it was skipped"), max_length=16, choices=SkipReason.choices, blank=True, default=""
    )
    language = models.CharField(_("language"), max_length=2, default="es")
    send_after = models.DateTimeField(_("send after"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    reminder_sent_at = models.DateTimeField(_("reminder sent at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "ticket"],
                condition=Q(status__in=["scheduled", "sending", "sent"], ticket__isnull=False),
                name="invitation_one_live_per_survey_and_ticket",
            ),
            models.CheckConstraint(
                condition=~Q(status="skipped") | ~Q(skip_reason=""),
                name="invitation_skipped_says_why",
            ),
        ]
        indexes = [
            models.Index(
                fields=["send_after"],
                condition=Q(status="scheduled"),
                name="invitation_due_idx",
            ),
            models.Index(fields=["customer", "sent_at"], name="invitation_customer_sent_idx"),
            # The survey response rate counts invitations by the day they were sent.
            models.Index(fields=["sent_at"], name="invitation_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer}"

    @property
    def is_open_for_answers(self) -> bool:
        return self.status == self.Status.SENT and (
            self.expires_at is None or timezone.now() < self.expires_at
        )


class Response(models.Model):
    """One per invitation (upserted: the latest answer counts). Imported historical
    answers have no invitation. Team, agent, channel and category are copied from the
    ticket when answered, so KPIs filter without joining the ticket's later changes."""

    class Source(models.TextChoices):
        SURVEY = "survey", _("Survey page")
        IMPORT = "import", _("Imported")

    invitation = models.OneToOneField(
        Invitation,
        verbose_name=_("invitation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="response",
    )
    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="responses"
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="responses"
    )
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="survey_responses",
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    channel = models.CharField(
        _("channel"), max_length=12, choices=Channel.choices, blank=True, default=""
    )
    category = models.CharField(_("category"), max_length=60, blank=True, default="")
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, blank=True, default=""
    )
    segment = models.CharField(_("segment"), max_length=60, blank=True, default="")
    language = models.CharField(_("language"), max_length=2, default="es")
    source = models.CharField(
        _("source"), max_length=6, choices=Source.choices, default=Source.SURVEY
    )
    answered_at = models.DateTimeField(_("answered at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The closed loop: a poor answer opens a follow-up ticket; closing it closes the loop.
    follow_up_ticket = models.OneToOneField(
        Ticket,
        verbose_name=_("follow-up ticket"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_up_of_response",
    )
    loop_closed_at = models.DateTimeField(_("loop closed at"), null=True, blank=True)
    loop_closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("loop closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ["-answered_at", "-id"]
        constraints = [
            # Imports identify a historical answer by who, which survey and when.
            models.UniqueConstraint(
                fields=["survey", "customer", "answered_at"],
                condition=Q(source="import"),
                name="response_import_natural_key",
            ),
        ]
        indexes = [
            models.Index(fields=["survey", "answered_at"], name="response_survey_day_idx"),
            models.Index(fields=["customer", "answered_at"], name="response_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} · {self.customer} · {self.answered_at:%Y-%m-%d}"


class Answer(models.Model):
    response = models.ForeignKey(
        Response, verbose_name=_("response"), on_delete=models.CASCADE, related_name="answers"
    )
    question = models.ForeignKey(
        Question, verbose_name=_("question"), on_delete=models.CASCADE, related_name="answers"
    )
    # Denormalised from the question so KPIs aggregate answers without a join.
    question_type = models.CharField(
        _("question type"), max_length=16, choices=Question.Type.choices
    )
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    text = models.TextField(_("text"), blank=True, default="")

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(
                fields=["response", "question"], name="answer_once_per_question"
            ),
        ]
        indexes = [models.Index(fields=["question_type", "score"], name="answer_type_score_idx")]

    def __str__(self) -> str:
        return f"{self.question_type}: {self.score if self.score is not None else self.text[:30]}"
