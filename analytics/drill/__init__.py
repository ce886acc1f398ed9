"""Drill-down: the rows behind every figure of the analytics pages.

Each KPI of analytics.kpis.REGISTRY has a Drill: the rows its `n` counts (answers,
tickets, invitations, follow-ups, customers or purchases) and, as Parts, the subsets
behind its other figures (NPS promoters, passives and detractors; the tickets resolved at
first contact; the customers lost…). Every row set is built by the KPI module's own
public helpers (scored_answers, resolved_tickets, lifecycle_customers…), so a drill-down
lists exactly the rows the figure counts: same period, same dimensions, same agent credit.

drill_url() is the one way pages link a figure to its rows: the filter travels as the
query string of the analytics pages (a custom period and the dimensions), so the
drill-down page reads it with the same form.
"""

from .base import (
    ANSWERS,
    BUSINESS_TICKETS,
    BUYERS,
    CUSTOMERS,
    FOLLOW_UPS,
    INVITATIONS,
    NARROWERS,
    NO_VALUE,
    PURCHASES,
    TICKETS,
    Drill,
    Narrower,
    Part,
)
from .registry import DRILLS
from .rows import drill_query, drill_rows, drill_url, with_dimension

__all__ = [
    "ANSWERS",
    "BUSINESS_TICKETS",
    "BUYERS",
    "CUSTOMERS",
    "DRILLS",
    "FOLLOW_UPS",
    "INVITATIONS",
    "NARROWERS",
    "NO_VALUE",
    "PURCHASES",
    "TICKETS",
    "Drill",
    "Narrower",
    "Part",
    "drill_query",
    "drill_rows",
    "drill_url",
    "with_dimension",
]
