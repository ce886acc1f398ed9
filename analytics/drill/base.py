"""What a drill-down is: the kinds of rows, a Drill and its Parts, and the Narrowers
that cut rows no KpiFilter dimension expresses."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .. import drivers
from ..filters import KpiFilter

NO_VALUE = "__none__"
"""A dimension value in a drill-down link meaning "empty": the breakdown and drivers
rows of answers without a category, channel or segment."""

# What the rows are.
ANSWERS = "answers"
TICKETS = "tickets"
BUSINESS_TICKETS = "business_tickets"
INVITATIONS = "invitations"
FOLLOW_UPS = "follow_ups"
CUSTOMERS = "customers"
BUYERS = "buyers"
PURCHASES = "purchases"

ALL_DIMENSIONS = frozenset({"team", "agent", "channel", "category", "segment", "survey"})
TICKET_DIMENSIONS = ALL_DIMENSIONS - {"survey"}
CUSTOMER_DIMENSIONS = frozenset({"segment"})

Rows = Callable[[KpiFilter], QuerySet]


@dataclass(frozen=True)
class Part:
    """A subset behind one figure. `description` names the rows in words, with the
    period's first and last day as %(first)s and %(last)s."""

    label: Promise
    description: Promise
    rows: Rows


@dataclass(frozen=True)
class Drill:
    kind: str
    description: Promise
    rows: Rows
    ordering: tuple[str, ...]
    dimensions: frozenset[str]
    parts: dict[str, Part] = field(default_factory=dict)
    value_part: str | None = None
    """The part the headline figure is a share of (CSAT → satisfied answers); None when
    the figure is read over all the rows (NPS, a median, a mean)."""
    scored: bool = False
    """Answers with a score: the rows may be narrowed to one score (?score=)."""
    narrowers: frozenset[str] = frozenset()
    """The NARROWERS these rows accept."""


@dataclass(frozen=True)
class Narrower:
    """A cut of a drill-down's rows that no KpiFilter dimension expresses: the group of
    a row of the drivers page's joined tables. `words` adds it to the description of
    the rows (%(rows)s) with the chosen group's label (%(choice)s)."""

    choices: dict[str, Promise]
    words: Promise
    narrow: Callable[[QuerySet, KpiFilter, str], QuerySet]
    dimensions: frozenset[str] = frozenset()
    """Dimensions the cut follows beyond the drill's own."""


def _by_latest_nps(customers: QuerySet, f: KpiFilter, group: str) -> QuerySet:
    nps_group, score = drivers.latest_nps_group(f, "pk")
    return customers.alias(latest_nps=score).alias(nps_group=nps_group).filter(nps_group=group)


def _by_first_response(answers: QuerySet, f: KpiFilter, bucket: str) -> QuerySet:
    return drivers.with_frt_bucket(answers).filter(frt_bucket=int(bucket))


def _without(answers: QuerySet, f: KpiFilter, dimension: str) -> QuerySet:
    return answers.filter(**{f"response__{dimension}__isnull": True})


NARROWERS: dict[str, Narrower] = {
    "latest_nps": Narrower(
        choices=drivers.NPS_GROUPS,
        words=_("%(rows)s; their latest NPS answer before the period's end: %(choice)s"),
        narrow=_by_latest_nps,
        dimensions=frozenset({"survey"}),
    ),
    "frt": Narrower(
        choices={str(index): label for index, (label, _limit) in enumerate(drivers.FRT_BUCKETS)},
        words=_("%(rows)s; the first response to their ticket took: %(choice)s"),
        narrow=_by_first_response,
    ),
    # The drivers' "(no team)" row: a team filter of None means "every team".
    "without": Narrower(
        choices={"team": _("a team")},
        words=_("%(rows)s, without %(choice)s"),
        narrow=_without,
    ),
}
