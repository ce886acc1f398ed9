"""At-risk customers: current customers ranked by a risk score, each with its reasons.

The score adds up these signals (the window is the last 90 days unless told otherwise,
and "now" is the moment of the request):

==========================================================================  ======
Signal                                                                      Points
==========================================================================  ======
A detractor NPS answer (0-6) given in the window                            +3
A CSAT answer of 2 or less given in the window                              +2
Each open ticket (new, open or pending), at most 3                          +1 each
Any open ticket breaching its SLA now (as in the desk's "breaching" view)   +2
Each ticket reopened in the window, at most 2                               +1 each
Falling purchases: margin over the window below half the margin over the     +2
previous window of the same length (which must have been positive)
==========================================================================  ======

So the score runs from 0 to 14. Only customers at the "customer" stage are listed
(leads and churned customers are not), and only with a score above 0; ties go to the
customer with more open tickets, then by name.

Every signal is a correlated subquery (EXISTS, or a COUNT/SUM grouped by customer) on
the customers table, so a page of the list is ONE query whatever the data size.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext

from customers.models import Customer, Purchase
from surveys.models import Answer, Question
from tickets.models import Ticket, TicketEvent

WINDOW_DAYS = 90

DETRACTOR_MAX = 6  # NPS 0-6
LOW_CSAT_MAX = 2  # CSAT 1-2 on the 1-5 scale

WEIGHT_DETRACTOR = 3
WEIGHT_LOW_CSAT = 2
WEIGHT_OPEN_TICKET = 1
MAX_OPEN_TICKETS = 3
WEIGHT_SLA_BREACH = 2
WEIGHT_REOPENED = 1
MAX_REOPENED = 2
WEIGHT_FALLING_PURCHASES = 2

MONEY = DecimalField(max_digits=14, decimal_places=2)


def _capped(field: str, cap: int) -> Case:
    """min(field, cap) as a CASE: LEAST() is not in every database's SQL."""
    return Case(
        When(**{f"{field}__gt": cap}, then=Value(cap)),
        default=F(field),
        output_field=IntegerField(),
    )


def _count_per_customer(rows: QuerySet, field: str = "pk") -> Coalesce:
    """COUNT(DISTINCT field) of `rows` for the outer customer, 0 when it has none."""
    counted = (
        rows.order_by()
        .values("customer_id")
        .annotate(total=Count(field, distinct=True))
        .values("total")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _margin_between(start: datetime, end: datetime) -> Coalesce:
    summed = (
        Purchase.objects.filter(
            customer=OuterRef("pk"), occurred_at__gte=start, occurred_at__lt=end
        )
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("margin"))
        .values("total")
    )
    return Coalesce(Subquery(summed, output_field=MONEY), Value(Decimal(0)), output_field=MONEY)


def _breaching_now(now: datetime) -> Q:
    """The desk's "breaching" view: unresolved, and a target missed or already flagged."""
    return Q(status__in=Ticket.UNRESOLVED) & (
        Q(first_response_breached=True)
        | Q(resolution_breached=True)
        | Q(first_response_at__isnull=True, first_response_due_at__lt=now)
        | Q(resolution_due_at__lt=now)
    )


def at_risk_customers(
    *,
    segment: str | None = None,
    now: datetime | None = None,
    window_days: int = WINDOW_DAYS,
) -> QuerySet[Customer]:
    """Current customers with a risk score above 0, riskiest first, each annotated with
    its signals: `detractor`, `low_csat`, `sla_breach`, `falling_purchases` (booleans),
    `open_tickets`, `reopened_tickets` (counts, uncapped), `margin_recent`,
    `margin_previous` and `risk_score`. `segment` keeps one customer segment."""
    now = now or timezone.now()
    since = now - timedelta(days=window_days)
    before = since - timedelta(days=window_days)
    recent_answers = Answer.objects.filter(
        response__customer=OuterRef("pk"), response__answered_at__gte=since
    )
    customer_tickets = Ticket.objects.filter(customer=OuterRef("pk"))
    reopenings = TicketEvent.objects.filter(
        ticket__customer=OuterRef("pk"),
        kind=TicketEvent.Kind.REOPENED,
        created_at__gte=since,
    )
    reopened = (
        reopenings.order_by()
        .values("ticket__customer_id")
        .annotate(total=Count("ticket_id", distinct=True))
        .values("total")
    )
    customers = Customer.objects.filter(stage=Customer.Stage.CUSTOMER)
    if segment:
        customers = customers.filter(segment=segment)
    customers = customers.annotate(
        detractor=Exists(
            recent_answers.filter(question_type=Question.Type.NPS, score__lte=DETRACTOR_MAX)
        ),
        low_csat=Exists(
            recent_answers.filter(question_type=Question.Type.CSAT, score__lte=LOW_CSAT_MAX)
        ),
        open_tickets=_count_per_customer(customer_tickets.filter(status__in=Ticket.UNRESOLVED)),
        sla_breach=Exists(customer_tickets.filter(_breaching_now(now))),
        reopened_tickets=Coalesce(Subquery(reopened, output_field=IntegerField()), Value(0)),
        margin_recent=_margin_between(since, now),
        margin_previous=_margin_between(before, since),
    ).annotate(
        falling_purchases=Case(
            When(
                # recent * 2 < previous rather than recent < previous / 2: SQLite would
                # halve 99.00 to 49 (integer division of its stored decimals).
                Q(margin_previous__gt=0) & Q(margin_previous__gt=F("margin_recent") * 2),
                then=Value(True),
            ),
            default=Value(False),
        ),
    )
    points = (
        Case(When(detractor=True, then=Value(WEIGHT_DETRACTOR)), default=Value(0))
        + Case(When(low_csat=True, then=Value(WEIGHT_LOW_CSAT)), default=Value(0))
        + _capped("open_tickets", MAX_OPEN_TICKETS) * WEIGHT_OPEN_TICKET
        + Case(When(sla_breach=True, then=Value(WEIGHT_SLA_BREACH)), default=Value(0))
        + _capped("reopened_tickets", MAX_REOPENED) * WEIGHT_REOPENED
        + Case(When(falling_purchases=True, then=Value(WEIGHT_FALLING_PURCHASES)), default=Value(0))
    )
    return (
        customers.annotate(risk_score=points)
        .filter(risk_score__gt=0)
        .order_by("-risk_score", "-open_tickets", "name", "pk")
    )


@dataclass(frozen=True)
class Reason:
    text: str
    points: int


def risk_reasons(customer: Customer, *, window_days: int = WINDOW_DAYS) -> list[Reason]:
    """The signals of one row of at_risk_customers() in words, each with its points
    (they add up to its risk_score)."""
    reasons = []
    if customer.detractor:
        reasons.append(
            Reason(
                gettext("Detractor NPS answer (0-6) in the last %(days)d days")
                % {"days": window_days},
                WEIGHT_DETRACTOR,
            )
        )
    if customer.low_csat:
        reasons.append(
            Reason(
                gettext("CSAT of 2 or less in the last %(days)d days") % {"days": window_days},
                WEIGHT_LOW_CSAT,
            )
        )
    if customer.open_tickets:
        reasons.append(
            Reason(
                ngettext("%(count)d open ticket", "%(count)d open tickets", customer.open_tickets)
                % {"count": customer.open_tickets},
                min(customer.open_tickets, MAX_OPEN_TICKETS) * WEIGHT_OPEN_TICKET,
            )
        )
    if customer.sla_breach:
        reasons.append(Reason(gettext("A ticket is breaching its SLA"), WEIGHT_SLA_BREACH))
    if customer.reopened_tickets:
        reasons.append(
            Reason(
                ngettext(
                    "%(count)d ticket reopened in the last %(days)d days",
                    "%(count)d tickets reopened in the last %(days)d days",
                    customer.reopened_tickets,
                )
                % {"count": customer.reopened_tickets, "days": window_days},
                min(customer.reopened_tickets, MAX_REOPENED) * WEIGHT_REOPENED,
            )
        )
    if customer.falling_purchases:
        reasons.append(
            Reason(
                gettext(
                    "Falling purchases: margin %(recent)s in the last %(days)d days, "
                    "%(previous)s in the %(days)d before"
                )
                % {
                    "recent": number_format(customer.margin_recent, 2, force_grouping=True),
                    "previous": number_format(customer.margin_previous, 2, force_grouping=True),
                    "days": window_days,
                },
                WEIGHT_FALLING_PURCHASES,
            )
        )
    return reasons
