"""DRILLS: the drill-down of every KPI of analytics.kpis.REGISTRY, each built from its KPI
module's own public row helpers."""

from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from surveys.models import Question

from ..drivers import LOW_CSAT_MAX
from ..filters import KpiFilter
from ..kpis import commerce, customers, surveys, tickets
from .base import (
    ALL_DIMENSIONS,
    ANSWERS,
    BUSINESS_TICKETS,
    BUYERS,
    CUSTOMER_DIMENSIONS,
    CUSTOMERS,
    FOLLOW_UPS,
    INVITATIONS,
    PURCHASES,
    TICKET_DIMENSIONS,
    TICKETS,
    Drill,
    Part,
    Rows,
)


def _answers(question_type: str) -> Rows:
    return lambda f: surveys.scored_answers(f, question_type)


def _ces(f: KpiFilter) -> QuerySet:
    return surveys.ces_answers(f)


def _fcr(f: KpiFilter) -> QuerySet:
    return tickets.resolved_tickets(f).annotate(public_replies=tickets.public_agent_replies())


def _lifecycle_group(group: str) -> Rows:
    def rows(f: KpiFilter) -> QuerySet:
        people, groups = customers.lifecycle_customers(f)
        return people.filter(groups[group])

    return rows


def _buyers(f: KpiFilter) -> QuerySet:
    """The customers kpi_clv divides by, with the margin it sums for each of them."""
    purchases = customers.purchases_to_date(f)
    margin = (
        purchases.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(total=Sum("margin"))
        .values("total")
    )
    return Customer.objects.filter(pk__in=purchases.values("customer_id")).annotate(
        margin_to_date=Subquery(margin)
    )


ANSWER_ORDER = ("-response__answered_at", "-pk")
RECEIVED_ORDER = ("-created_at", "-pk")
RESOLVED_ORDER = ("-solved_at", "-pk")
CUSTOMER_ORDER = ("name", "pk")
PURCHASE_ORDER = ("-occurred_at", "-pk")

_nps = _answers(Question.Type.NPS)
_csat = _answers(Question.Type.CSAT)


def _tickets_with_target(f: KpiFilter) -> QuerySet:
    return tickets.resolved_tickets(f).filter(tickets.SLA_WITH_TARGET)


DRILLS: dict[str, Drill] = {
    "nps": Drill(
        kind=ANSWERS,
        description=_("NPS answers given from %(first)s to %(last)s"),
        rows=_nps,
        ordering=ANSWER_ORDER,
        dimensions=ALL_DIMENSIONS,
        scored=True,
        narrowers=frozenset({"without"}),
        parts={
            "promoters": Part(
                _("Promoters"),
                _("Promoters: NPS answers 9-10 given from %(first)s to %(last)s"),
                lambda f: _nps(f).filter(surveys.PROMOTERS),
            ),
            "passives": Part(
                _("Passives"),
                _("Passives: NPS answers 7-8 given from %(first)s to %(last)s"),
                lambda f: _nps(f).filter(surveys.PASSIVES),
            ),
            "detractors": Part(
                _("Detractors"),
                _("Detractors: NPS answers 0-6 given from %(first)s to %(last)s"),
                lambda f: _nps(f).filter(surveys.DETRACTORS),
            ),
        },
    ),
    "csat": Drill(
        kind=ANSWERS,
        description=_("CSAT answers given from %(first)s to %(last)s"),
        rows=_csat,
        ordering=ANSWER_ORDER,
        dimensions=ALL_DIMENSIONS,
        scored=True,
        narrowers=frozenset({"frt", "without"}),
        value_part="satisfied",
        parts={
            "satisfied": Part(
                _("Satisfied"),
                _("Satisfied: CSAT answers 4-5 given from %(first)s to %(last)s"),
                lambda f: _csat(f).filter(surveys.SATISFIED),
            ),
            "low": Part(
                _("Dissatisfied"),
                _("Dissatisfied: CSAT answers 1-2 given from %(first)s to %(last)s"),
                lambda f: _csat(f).filter(score__lte=LOW_CSAT_MAX),
            ),
        },
    ),
    "ces": Drill(
        kind=ANSWERS,
        description=_("CES answers given from %(first)s to %(last)s"),
        rows=_ces,
        ordering=ANSWER_ORDER,
        dimensions=ALL_DIMENSIONS,
        scored=True,
        parts={
            "agreeing": Part(
                _("Agreeing"),
                _(
                    "Agreeing: CES answers in the top three points of the 1-7 agreement "
                    "scale, given from %(first)s to %(last)s"
                ),
                lambda f: _ces(f).filter(surveys.CES_AGREEING),
            ),
        },
    ),
    "response_rate": Drill(
        kind=INVITATIONS,
        description=_("Survey invitations sent from %(first)s to %(last)s"),
        rows=surveys.invitations_sent,
        ordering=("-sent_at", "-pk"),
        dimensions=ALL_DIMENSIONS,
        value_part="answered",
        parts={
            "answered": Part(
                _("Answered"),
                _("Answered: invitations sent from %(first)s to %(last)s that have an answer"),
                lambda f: surveys.invitations_sent(f).filter(surveys.ANSWERED),
            ),
            "unanswered": Part(
                _("Not answered"),
                _("Not answered: invitations sent from %(first)s to %(last)s without an answer"),
                lambda f: surveys.invitations_sent(f).exclude(surveys.ANSWERED),
            ),
        },
    ),
    "closed_loop_rate": Drill(
        kind=FOLLOW_UPS,
        description=_("Answers given from %(first)s to %(last)s that opened a follow-up ticket"),
        rows=surveys.follow_up_responses,
        ordering=("-answered_at", "-pk"),
        dimensions=ALL_DIMENSIONS,
        value_part="closed",
        parts={
            "closed": Part(
                _("Loop closed"),
                _(
                    "Loop closed: answers given from %(first)s to %(last)s whose follow-up "
                    "loop is closed"
                ),
                lambda f: surveys.follow_up_responses(f).filter(surveys.LOOP_CLOSED),
            ),
            "open": Part(
                _("Loop open"),
                _(
                    "Loop open: answers given from %(first)s to %(last)s whose follow-up "
                    "loop is still open"
                ),
                lambda f: surveys.follow_up_responses(f).exclude(surveys.LOOP_CLOSED),
            ),
        },
    ),
    "churn_rate": Drill(
        kind=CUSTOMERS,
        description=_("Customers active when the period from %(first)s to %(last)s began"),
        rows=_lifecycle_group("at_start"),
        ordering=CUSTOMER_ORDER,
        dimensions=CUSTOMER_DIMENSIONS,
        narrowers=frozenset({"latest_nps"}),
        value_part="lost",
        parts={
            "lost": Part(
                _("Lost"),
                _(
                    "Lost: customers active when the period began who churned from "
                    "%(first)s to %(last)s"
                ),
                _lifecycle_group("lost"),
            ),
        },
    ),
    "retention_rate": Drill(
        kind=CUSTOMERS,
        description=_("Customers active when the period from %(first)s to %(last)s began"),
        rows=_lifecycle_group("at_start"),
        ordering=CUSTOMER_ORDER,
        dimensions=CUSTOMER_DIMENSIONS,
        parts={
            "at_end": Part(
                _("At the end"),
                _("Customers at the end of the period from %(first)s to %(last)s"),
                _lifecycle_group("at_end"),
            ),
            "acquired": Part(
                _("Acquired"),
                _("Acquired: people who became customers from %(first)s to %(last)s"),
                _lifecycle_group("acquired"),
            ),
        },
    ),
    "churn_vs_acquisition": Drill(
        kind=CUSTOMERS,
        description=_("Acquired: people who became customers from %(first)s to %(last)s"),
        rows=_lifecycle_group("acquired"),
        ordering=CUSTOMER_ORDER,
        dimensions=CUSTOMER_DIMENSIONS,
        value_part="churned",
        parts={
            "churned": Part(
                _("Churned"),
                _("Churned: customers who churned from %(first)s to %(last)s"),
                _lifecycle_group("churned"),
            ),
        },
    ),
    "clv": Drill(
        kind=BUYERS,
        description=_("Customers who bought anything up to %(last)s, with their margin"),
        rows=_buyers,
        ordering=CUSTOMER_ORDER,
        dimensions=CUSTOMER_DIMENSIONS,
        narrowers=frozenset({"latest_nps"}),
    ),
    "conversion_rate": Drill(
        kind=CUSTOMERS,
        description=_("Leads created from %(first)s to %(last)s"),
        rows=customers.leads_created,
        ordering=("-created_at", "-pk"),
        dimensions=CUSTOMER_DIMENSIONS,
        value_part="converted",
        parts={
            "converted": Part(
                _("Converted"),
                _(
                    "Converted: leads created from %(first)s to %(last)s who became "
                    "customers in the period"
                ),
                lambda f: customers.leads_created(f).filter(customers.lead_converted(f)),
            ),
        },
    ),
    "first_response_time": Drill(
        kind=TICKETS,
        description=_("Tickets received from %(first)s to %(last)s that have had a first response"),
        rows=tickets.first_responded_tickets,
        ordering=RECEIVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
    ),
    "resolution_time": Drill(
        kind=TICKETS,
        description=_("Tickets resolved from %(first)s to %(last)s"),
        rows=tickets.resolved_tickets,
        ordering=RESOLVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
    ),
    "first_response_time_business": Drill(
        kind=BUSINESS_TICKETS,
        description=_(
            "Tickets received from %(first)s to %(last)s with a first response time in "
            "business hours"
        ),
        rows=tickets.business_first_responded_tickets,
        ordering=RECEIVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
    ),
    "resolution_time_business": Drill(
        kind=BUSINESS_TICKETS,
        description=_(
            "Tickets resolved from %(first)s to %(last)s with a resolution time in business hours"
        ),
        rows=tickets.business_resolved_tickets,
        ordering=RESOLVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
    ),
    "resolution_rate": Drill(
        kind=TICKETS,
        description=_("Tickets received (created) from %(first)s to %(last)s"),
        rows=lambda f: tickets.tickets_in_scope(f).filter(tickets.received_in_period(f)),
        ordering=RECEIVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
        value_part="resolved",
        parts={
            "resolved": Part(
                _("Resolved"),
                _(
                    "Resolved: tickets resolved from %(first)s to %(last)s, whenever they "
                    "were received"
                ),
                tickets.resolved_tickets,
            ),
        },
    ),
    "fcr_rate": Drill(
        kind=TICKETS,
        description=_("Tickets resolved from %(first)s to %(last)s"),
        rows=_fcr,
        ordering=RESOLVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
        value_part="first_contact",
        parts={
            "first_contact": Part(
                _("At first contact"),
                _(
                    "Resolved at first contact: tickets resolved from %(first)s to %(last)s "
                    "with exactly one public agent reply and never reopened"
                ),
                lambda f: _fcr(f).filter(tickets.FIRST_CONTACT),
            ),
        },
    ),
    "reopen_rate": Drill(
        kind=TICKETS,
        description=_("Tickets resolved from %(first)s to %(last)s"),
        rows=tickets.resolved_tickets,
        ordering=RESOLVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
        value_part="reopened",
        parts={
            "reopened": Part(
                _("Reopened"),
                _(
                    "Reopened: tickets resolved from %(first)s to %(last)s that were "
                    "reopened at least once"
                ),
                lambda f: tickets.resolved_tickets(f).filter(tickets.REOPENED),
            ),
        },
    ),
    "sla_compliance": Drill(
        kind=TICKETS,
        description=_("Tickets with an SLA target resolved from %(first)s to %(last)s"),
        rows=_tickets_with_target,
        ordering=RESOLVED_ORDER,
        dimensions=TICKET_DIMENSIONS,
        value_part="met",
        parts={
            "met": Part(
                _("Met"),
                _(
                    "Met: tickets with an SLA target resolved from %(first)s to %(last)s "
                    "that met both their first-response and resolution targets"
                ),
                lambda f: _tickets_with_target(f).exclude(tickets.SLA_MISSED),
            ),
            "missed": Part(
                _("Missed"),
                _(
                    "Missed: tickets with an SLA target resolved from %(first)s to %(last)s "
                    "that missed a target"
                ),
                lambda f: _tickets_with_target(f).filter(tickets.SLA_MISSED),
            ),
        },
    ),
    "upsell_cross_sell_share": Drill(
        kind=PURCHASES,
        description=_("Purchases from %(first)s to %(last)s"),
        rows=commerce.purchases_in_period,
        ordering=PURCHASE_ORDER,
        dimensions=CUSTOMER_DIMENSIONS,
        value_part="upsell_cross_sell",
        parts={
            "upsell_cross_sell": Part(
                _("Up-sell or cross-sell"),
                _("Up-sell and cross-sell purchases from %(first)s to %(last)s"),
                lambda f: commerce.purchases_in_period(f).filter(
                    commerce.UPSELL | commerce.CROSS_SELL
                ),
            ),
            "upsell": Part(
                _("Up-sell"),
                _("Up-sell purchases from %(first)s to %(last)s"),
                lambda f: commerce.purchases_in_period(f).filter(commerce.UPSELL),
            ),
            "cross_sell": Part(
                _("Cross-sell"),
                _("Cross-sell purchases from %(first)s to %(last)s"),
                lambda f: commerce.purchases_in_period(f).filter(commerce.CROSS_SELL),
            ),
        },
    ),
    "average_order_value": Drill(
        kind=PURCHASES,
        description=_("Purchases from %(first)s to %(last)s"),
        rows=commerce.purchases_in_period,
        ordering=PURCHASE_ORDER,
        dimensions=CUSTOMER_DIMENSIONS,
    ),
}
