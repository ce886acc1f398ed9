"""What each KPI means, in words managers read on the glossary page: its name, its
formula, what its sample size n counts and which day each item counts on. Keyed like
analytics.kpis.REGISTRY (a test checks that every registered KPI has an entry)."""

# The formulas are for people: they use the real minus, times and division signs.
# ruff: noqa: RUF001

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .kpis import REGISTRY


@dataclass(frozen=True)
class GlossaryEntry:
    name: Promise
    formula: Promise
    sample: Promise  # what n counts, and on which day each item counts


GLOSSARY: dict[str, GlossaryEntry] = {
    "nps": GlossaryEntry(
        name=_("Net Promoter Score (NPS)"),
        formula=_(
            "Answers of 0 to 10 to “How likely are you to recommend us?”. Promoters answer "
            "9 or 10, passives 7 or 8, detractors 0 to 6. NPS is the percentage of "
            "promoters minus the percentage of detractors, from −100 to +100. The 95% "
            "margin is 1.96 × 100 × √((p + d − (p − d)²) ÷ n), p and d being the shares of "
            "promoters and detractors: the true score very likely lies within NPS ± margin."
        ),
        sample=_("n is the number of NPS answers given in the period, on the day each was given."),
    ),
    "csat": GlossaryEntry(
        name=_("Customer satisfaction (CSAT)"),
        formula=_(
            "Answers of 1 to 5. CSAT is the percentage of answers of 4 or 5 (satisfied "
            "customers); the mean score is shown beside it."
        ),
        sample=_("n is the number of CSAT answers given in the period, on the day each was given."),
    ),
    "ces": GlossaryEntry(
        name=_("Customer effort score (CES)"),
        formula=_(
            "Agreement with “the company made it easy to handle my issue”, read on a 1 to 7 "
            "scale: questions with another scale are mapped onto 1-7, and a reversed scale "
            "(where a high score means hard) is flipped first. CES is the mean; “agree” is "
            "the percentage of answers from 5 to 7."
        ),
        sample=_("n is the number of CES answers given in the period, on the day each was given."),
    ),
    "response_rate": GlossaryEntry(
        name=_("Survey response rate"),
        formula=_("Invitations answered ÷ invitations sent × 100."),
        sample=_(
            "n is the number of invitations sent in the period, on the day each was sent; "
            "an invitation counts as answered whenever its answer came."
        ),
    ),
    "closed_loop_rate": GlossaryEntry(
        name=_("Closed-loop rate and time"),
        formula=_(
            "Of the poor answers that opened a follow-up ticket (detractors, CSAT 1-2, the "
            "worst CES band), the percentage whose loop has been closed; the time is from "
            "the answer to the loop being closed (median and mean), over closed loops only."
        ),
        sample=_(
            "n is the number of answers given in the period that opened a follow-up, on "
            "the day each answer was given."
        ),
    ),
    "churn_rate": GlossaryEntry(
        name=_("Churn rate"),
        formula=_("Customers lost during the period ÷ customers active at its start × 100."),
        sample=_("n is the number of customers active at the start of the period."),
    ),
    "retention_rate": GlossaryEntry(
        name=_("Retention rate"),
        formula=_(
            "(Customers at the end of the period − customers acquired during it) ÷ "
            "customers at its start × 100."
        ),
        sample=_("n is the number of customers active at the start of the period."),
    ),
    "churn_vs_acquisition": GlossaryEntry(
        name=_("Churn vs acquisition"),
        formula=_(
            "Customers who churned during the period ÷ customers acquired during it (new or "
            "returning): a ratio, not a percentage. Above 1 the customer base is shrinking; below "
            "1 it is growing."
        ),
        sample=_("n is the number of customers acquired in the period, new or returning."),
    ),
    "clv": GlossaryEntry(
        name=_("Customer lifetime value (CLV)"),
        formula=_(
            "Historical: the total margin of all purchases up to the end of the period ÷ the "
            "customers who bought anything up to then. Predictive: m × r ÷ (1 + d − r), m being "
            "the period's margin per customer active in it, r the retention rate and d the "
            "discount rate (a setting)."
        ),
        sample=_("n is the number of customers who bought anything up to the end of the period."),
    ),
    "conversion_rate": GlossaryEntry(
        name=_("Conversion rate"),
        formula=_(
            "Leads created in the period that became customers ÷ leads created in the period × 100."
        ),
        sample=_("n is the number of leads created in the period."),
    ),
    "first_response_time": GlossaryEntry(
        name=_("First response time"),
        formula=_(
            "Calendar time from the ticket's creation to the first public reply by an agent: "
            "median, mean and 90th percentile (nine tickets in ten were answered faster). Tickets "
            "still waiting for a reply are left out, not counted as zero."
        ),
        sample=_(
            "n is the number of tickets created in the period that have a first reply; "
            "each counts on the day it was created."
        ),
    ),
    "first_response_time_business": GlossaryEntry(
        name=_("First response time (business hours)"),
        formula=_(
            "Working time of the business calendar of the ticket's SLA policy, from the "
            "ticket's creation to the first public reply by an agent: nights, weekends and "
            "holidays do not count. Median, mean and 90th percentile. Only tickets whose SLA "
            "policy has a business calendar are measured; the others are left out."
        ),
        sample=_(
            "n is the number of tickets created in the period that have a first reply and a "
            "business calendar; each counts on the day it was created."
        ),
    ),
    "resolution_time": GlossaryEntry(
        name=_("Resolution time"),
        formula=_(
            "Calendar time from the ticket's creation to its resolution (its last one, if it was "
            "reopened): median, mean and 90th percentile."
        ),
        sample=_(
            "n is the number of tickets resolved in the period, on the day each was resolved."
        ),
    ),
    "resolution_time_business": GlossaryEntry(
        name=_("Resolution time (business hours)"),
        formula=_(
            "Working time of the business calendar of the ticket's SLA policy, from the "
            "ticket's creation to its resolution (its last one, if it was reopened): nights, "
            "weekends and holidays do not count, working hours spent waiting for the customer "
            "do. Median, mean and 90th percentile. Only tickets whose SLA policy has a "
            "business calendar are measured."
        ),
        sample=_(
            "n is the number of tickets with a business calendar resolved in the period, on "
            "the day each was resolved."
        ),
    ),
    "resolution_rate": GlossaryEntry(
        name=_("Resolution rate"),
        formula=_("Tickets resolved in the period ÷ tickets received in the period × 100."),
        sample=_("n is the number of tickets received (created) in the period."),
    ),
    "fcr_rate": GlossaryEntry(
        name=_("First contact resolution"),
        formula=_(
            "Resolved tickets with exactly one public agent reply that were never reopened "
            "÷ resolved tickets × 100."
        ),
        sample=_(
            "n is the number of tickets resolved in the period, on the day each was resolved."
        ),
    ),
    "reopen_rate": GlossaryEntry(
        name=_("Reopen rate"),
        formula=_("Resolved tickets that were reopened at least once ÷ resolved tickets × 100."),
        sample=_(
            "n is the number of tickets resolved in the period, on the day each was resolved."
        ),
    ),
    "sla_compliance": GlossaryEntry(
        name=_("SLA compliance"),
        formula=_(
            "Tickets that met both their first-response and resolution targets ÷ tickets "
            "with a target × 100."
        ),
        sample=_(
            "n is the number of tickets with an SLA target resolved in the period, on the day each"
            " was resolved."
        ),
    ),
    "upsell_cross_sell_share": GlossaryEntry(
        name=_("Cross-sell and up-sell share"),
        formula=_(
            "Purchases marked up-sell or cross-sell ÷ all purchases in the period × 100 "
            "(counted in orders, not money); each kind's own share is shown too."
        ),
        sample=_("n is the number of purchases made in the period."),
    ),
    "average_order_value": GlossaryEntry(
        name=_("Average order value"),
        formula=_("Total amount of the purchases in the period ÷ number of purchases."),
        sample=_("n is the number of purchases made in the period."),
    ),
}


def glossary_entries() -> list[tuple[str, GlossaryEntry]]:
    """The entries of the registered KPIs, in the order the API lists them."""
    return [(name, GLOSSARY[name]) for name in REGISTRY if name in GLOSSARY]
