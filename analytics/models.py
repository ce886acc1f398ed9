"""Daily KPI rollups: per local day (company time zone), per dimension, the counts and sums
the KPIs are made of. Written only by analytics.rollups.build (upserts); read by
analytics.rollups.read. RollupDay says which days the rollups can be trusted for.

Each rollup row belongs to one `dimension` ("all", or one of the filters: team, agent,
channel, category, segment, survey) and one `value` of it (the id or text, "" for "all"),
so a KPI over the whole company or over one dimension value sums one small set of rows. A
filter combining two dimensions is computed from the raw rows instead.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Dimension(models.TextChoices):
    ALL = "all", _("everything")
    TEAM = "team", _("team")
    AGENT = "agent", _("agent")
    CHANNEL = "channel", _("channel")
    CATEGORY = "category", _("category")
    SEGMENT = "segment", _("segment")
    SURVEY = "survey", _("survey")


class RollupDay(models.Model):
    """The bookkeeping of one local day. Rollup rows serve a day only when it is not dirty
    and its last recomputation, claimed after the day had ended, finished (`final`); any
    other day is read live. `computed_at` is the instant of the last claim."""

    day = models.DateField(_("day"), unique=True)
    dirty = models.BooleanField(_("dirty"), default=True)
    marked_at = models.DateTimeField(_("marked dirty at"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    final = models.BooleanField(_("computed after the day ended"), default=False)

    class Meta:
        verbose_name = _("rollup day")
        verbose_name_plural = _("rollup days")
        indexes = [models.Index(fields=["dirty", "day"], name="rollupday_dirty_idx")]

    def __str__(self) -> str:
        return str(self.day)


class RollupRow(models.Model):
    day = models.DateField(_("day"))
    dimension = models.CharField(_("dimension"), max_length=10, choices=Dimension.choices)
    value = models.CharField(_("value"), max_length=100, blank=True, default="")
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.value}"


def _rollup_meta(name: str, *keys: str) -> dict:
    return {
        "constraints": [
            models.UniqueConstraint(
                fields=["day", "dimension", "value", *keys], name=f"{name}_unique"
            )
        ],
        "indexes": [models.Index(fields=["dimension", "value", "day"], name=f"{name}_read_idx")],
    }


class AnswerDay(RollupRow):
    """Scored answers (NPS, CSAT, CES) given on the day, per question and score."""

    question_id = models.BigIntegerField(_("question"))
    question_type = models.CharField(_("question type"), max_length=10)
    score = models.SmallIntegerField(_("score"))
    answers = models.PositiveIntegerField(_("answers"))

    class Meta:
        verbose_name = _("answers per day")
        verbose_name_plural = _("answers per day")
        constraints = _rollup_meta("answerday", "question_id", "question_type", "score")[
            "constraints"
        ]
        indexes = _rollup_meta("answerday")["indexes"]


class InvitationDay(RollupRow):
    """Survey invitations sent on the day, and how many of them have been answered."""

    sent = models.PositiveIntegerField(_("sent"))
    answered = models.PositiveIntegerField(_("answered"))

    class Meta:
        verbose_name = _("invitations per day")
        verbose_name_plural = _("invitations per day")
        constraints = _rollup_meta("invitationday")["constraints"]
        indexes = _rollup_meta("invitationday")["indexes"]


class LoopDay(RollupRow):
    """Responses given on the day that opened a follow-up ticket, and how many of those
    loops are closed."""

    follow_ups = models.PositiveIntegerField(_("follow-ups"))
    closed = models.PositiveIntegerField(_("closed"))

    class Meta:
        verbose_name = _("closed loops per day")
        verbose_name_plural = _("closed loops per day")
        constraints = _rollup_meta("loopday")["constraints"]
        indexes = _rollup_meta("loopday")["indexes"]


class ReceivedDay(RollupRow):
    """Tickets created on the day (agent: who solved it, else its assignee)."""

    received = models.PositiveIntegerField(_("received"))

    class Meta:
        verbose_name = _("tickets received per day")
        verbose_name_plural = _("tickets received per day")
        constraints = _rollup_meta("receivedday")["constraints"]
        indexes = _rollup_meta("receivedday")["indexes"]


class ResolvedDay(RollupRow):
    """Tickets whose current resolution falls on the day (agent: who solved it)."""

    resolved = models.PositiveIntegerField(_("resolved"))
    first_contact = models.PositiveIntegerField(_("resolved at first contact"))
    reopened = models.PositiveIntegerField(_("reopened"))
    sla_targets = models.PositiveIntegerField(_("with an SLA target"))
    sla_missed = models.PositiveIntegerField(_("SLA target missed"))

    class Meta:
        verbose_name = _("tickets resolved per day")
        verbose_name_plural = _("tickets resolved per day")
        constraints = _rollup_meta("resolvedday")["constraints"]
        indexes = _rollup_meta("resolvedday")["indexes"]


class PurchaseDay(RollupRow):
    """Purchases on the day (dimensions: all and the customer's segment)."""

    purchases = models.PositiveIntegerField(_("purchases"))
    upsells = models.PositiveIntegerField(_("up-sells"))
    cross_sells = models.PositiveIntegerField(_("cross-sells"))
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    margin = models.DecimalField(_("margin"), max_digits=18, decimal_places=2)
    first_buyers = models.PositiveIntegerField(_("customers buying for the first time"))

    class Meta:
        verbose_name = _("purchases per day")
        verbose_name_plural = _("purchases per day")
        constraints = _rollup_meta("purchaseday")["constraints"]
        indexes = _rollup_meta("purchaseday")["indexes"]


class DurationRow(RollupRow):
    metric = models.CharField(_("metric"), max_length=30)
    bucket = models.IntegerField(_("bucket"))
    count = models.PositiveIntegerField(_("count"))
    total_s = models.FloatField(_("total seconds"))

    class Meta:
        abstract = True


class DurationDay(DurationRow):
    """A histogram of one duration metric (first response, resolution, closed loop, and
    their business-hours variants) on the day, for the whole company (dimension "all"):
    values falling in each logarithmic bucket, with their exact count and total in
    seconds. Per dimension value a day holds too few values to be worth a histogram;
    those are kept per month (DurationMonth)."""

    class Meta:
        verbose_name = _("durations per day")
        verbose_name_plural = _("durations per day")
        constraints = _rollup_meta("durationday", "metric", "bucket")["constraints"]
        indexes = [
            models.Index(
                fields=["metric", "dimension", "value", "day"], name="durationday_read_idx"
            )
        ]


class DurationMonth(DurationRow):
    """The same histograms per calendar month (`day` is the month's first day), for every
    dimension value: read for the months a period covers whole."""

    class Meta:
        verbose_name = _("durations per month")
        verbose_name_plural = _("durations per month")
        constraints = _rollup_meta("durationmonth", "metric", "bucket")["constraints"]
        indexes = [
            models.Index(
                fields=["metric", "dimension", "value", "day"], name="durationmonth_read_idx"
            )
        ]


class LifecycleFact(models.Model):
    """A customer's lifecycle history, prepared for the customer KPIs (churn, retention,
    churn vs acquisition, CLV's active customers, lead conversion) so that a period's
    figures are counted in one pass over these rows instead of following every customer's
    changes. Written only by analytics.rollups.lifecycle, per customer, in the same
    transaction as the change (receivers), and rebuilt whole by rebuild_kpis.

    One row per change to "customer" (an acquisition, which starts a spell as a customer)
    and per change to "churned", logged or legacy (became_customer_at / churned_at without
    a row; see analytics.kpis.customers), in the customer's order of changes; and one row
    per customer who was a lead when created (kind "lead")."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("became a customer")
        CHURNED = "churned", _("churned")
        LEAD = "lead", _("lead created")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("customer"),
    )
    segment = models.CharField(_("segment"), max_length=60, blank=True, default="")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("at"))
    previous_at = models.DateTimeField(
        _("previous change to the same stage at"), null=True, blank=True
    )
    ends_at = models.DateTimeField(_("next change at"), null=True, blank=True)
    churns_at = models.DateTimeField(_("next churn at"), null=True, blank=True)
    rejoins_at = models.DateTimeField(_("next change to customer at"), null=True, blank=True)
    converts_at = models.DateTimeField(_("lead converted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("lifecycle fact")
        verbose_name_plural = _("lifecycle facts")
        # Churns and leads are counted within a period: a range of this index.
        indexes = [models.Index(fields=["kind", "at"], name="lifecyclefact_kind_at_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"
