"""What a drill-down shows: the columns of each kind of row (the page's text and links,
the CSV's raw values) and the words naming the rows."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer, Purchase

from ..filters import KpiFilter
from ..views import format_duration, format_number
from .base import (
    ANSWERS,
    BUSINESS_TICKETS,
    BUYERS,
    CUSTOMERS,
    FOLLOW_UPS,
    INVITATIONS,
    NARROWERS,
    PURCHASES,
    TICKETS,
    Drill,
)

NONE_LABEL = _("(none)")
EMPTY = "—"


# --- Columns --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of the table and of the CSV: `value` is the raw cell (CSV); the page
    shows `text` (by default `value` formatted) linked to `url` when it gives one."""

    header: Promise
    value: Callable[[Any], object]
    url: Callable[[Any], str | None] | None = None
    text: Callable[[Any], str] | None = None
    on_page: bool = True
    nowrap: bool = False  # a ticket reference reads as one word

    def cell(self, row: Any) -> tuple[str, str | None, bool]:
        text = self.text(row) if self.text else _text(self.value(row))
        return text or EMPTY, self.url(row) if self.url else None, self.nowrap


def _local(moment: datetime | None) -> datetime | None:
    return None if moment is None else timezone.localtime(moment, ZoneInfo(settings.TIME_ZONE))


def _text(value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return date_format(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, Decimal):
        return format_number(value, 2)
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    local = _local(moment)
    return local.isoformat() if local else None


def _when(get: Callable[[Any], datetime | None]) -> dict:
    """A timestamp column: local ISO 8601 in the CSV, the short local format on the page."""
    return {"value": lambda row: _iso(get(row)), "text": lambda row: _text(_local(get(row)))}


def _seconds(end: datetime | None, start: datetime | None) -> float | None:
    return None if end is None or start is None else (end - start).total_seconds()


def _duration(get: Callable[[Any], float | None]) -> dict:
    """A duration column: seconds in the CSV, "3 h 05 min" on the page."""

    def text(row: Any) -> str:
        seconds = get(row)
        return "" if seconds is None else format_duration(seconds)

    return {"value": get, "text": text}


def _ticket_url(ticket_id: int | None) -> str | None:
    return reverse("desk:ticket_detail", args=[ticket_id]) if ticket_id else None


def _customer_url(customer_id: int | None) -> str | None:
    return reverse("customers:detail", args=[customer_id]) if customer_id else None


def person_name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


CHANNELS = dict(Channel.choices)  # lazy labels: each reads in the request's language


def channel_label(value: str) -> str:
    return str(CHANNELS.get(value, value))


def _customer_columns(get: Callable[[Any], Customer]) -> list[Column]:
    return [
        Column(
            _("Customer"),
            lambda row: get(row).name,
            url=lambda row: _customer_url(get(row).pk),
        ),
        Column(_("Customer number"), lambda row: get(row).pk, on_page=False),
    ]


def _reference(ticket) -> str:
    return ticket.reference if ticket else ""


ANSWER_COLUMNS = [
    Column(_("Answered"), **_when(lambda a: a.response.answered_at)),
    Column(_("Score"), lambda a: a.score),
    Column(_("Comment"), lambda a: a.comment),
    *_customer_columns(lambda a: a.response.customer),
    Column(
        _("Ticket"),
        lambda a: _reference(a.response.ticket),
        url=lambda a: _ticket_url(a.response.ticket_id),
        nowrap=True,
    ),
    Column(_("Survey"), lambda a: a.response.survey.name),
    Column(_("Team"), lambda a: a.response.team.name if a.response.team else ""),
    Column(_("Agent"), lambda a: person_name(a.response.agent)),
    Column(_("Channel"), lambda a: channel_label(a.response.channel)),
    Column(_("Category"), lambda a: a.response.category),
]


def _credited(ticket):
    """The agent a ticket KPI credits: whoever solved it, else its assignee."""
    return ticket.solved_by if ticket.solved_by_id else ticket.assignee


TICKET_COLUMNS = [
    Column(_("Ticket"), lambda t: t.reference, url=lambda t: _ticket_url(t.pk), nowrap=True),
    Column(_("Subject"), lambda t: t.subject),
    *_customer_columns(lambda t: t.customer),
    Column(_("Team"), lambda t: t.team.name if t.team else ""),
    Column(_("Agent"), lambda t: person_name(_credited(t))),
    Column(_("Channel"), lambda t: channel_label(t.channel)),
    Column(_("Category"), lambda t: t.category),
    Column(_("Created"), **_when(lambda t: t.created_at)),
    Column(
        _("First response time"),
        **_duration(lambda t: _seconds(t.first_response_at, t.created_at)),
    ),
    Column(_("Resolved"), **_when(lambda t: t.solved_at)),
    Column(_("Resolution time"), **_duration(lambda t: _seconds(t.solved_at, t.created_at))),
    Column(_("Times reopened"), lambda t: t.reopen_count),
]


BUSINESS_TICKET_COLUMNS = [
    *TICKET_COLUMNS,
    Column(
        _("First response time (business hours)"),
        **_duration(lambda t: t.first_response_business_s),
    ),
    Column(_("Resolution time (business hours)"), **_duration(lambda t: t.resolution_business_s)),
]


def _response_of(invitation):
    try:
        return invitation.response
    except ObjectDoesNotExist:
        return None


INVITATION_COLUMNS = [
    Column(_("Sent"), **_when(lambda i: i.sent_at)),
    *_customer_columns(lambda i: i.customer),
    Column(
        _("Ticket"),
        lambda i: _reference(i.ticket),
        url=lambda i: _ticket_url(i.ticket_id),
        nowrap=True,
    ),
    Column(_("Survey"), lambda i: i.survey.name),
    Column(
        _("Answered"),
        value=lambda i: _iso(response.answered_at) if (response := _response_of(i)) else None,
        text=lambda i: (
            _text(_local(response.answered_at))
            if (response := _response_of(i))
            else gettext("Not answered")
        ),
    ),
]

FOLLOW_UP_COLUMNS = [
    Column(_("Answered"), **_when(lambda r: r.answered_at)),
    *_customer_columns(lambda r: r.customer),
    Column(
        _("Ticket"),
        lambda r: _reference(r.ticket),
        url=lambda r: _ticket_url(r.ticket_id),
        nowrap=True,
    ),
    Column(_("Survey"), lambda r: r.survey.name),
    Column(
        _("Follow-up ticket"),
        lambda r: _reference(r.follow_up_ticket),
        url=lambda r: _ticket_url(r.follow_up_ticket_id),
        nowrap=True,
    ),
    Column(_("Loop closed"), **_when(lambda r: r.loop_closed_at)),
    Column(
        _("Time to close the loop"),
        **_duration(lambda r: _seconds(r.loop_closed_at, r.answered_at)),
    ),
]

CUSTOMER_COLUMNS = [
    *_customer_columns(lambda c: c),
    Column(_("Email"), lambda c: c.email),
    Column(_("Segment"), lambda c: c.segment),
    Column(_("Stage now"), lambda c: c.get_stage_display()),
    Column(_("Created"), **_when(lambda c: c.created_at)),
    Column(_("Customer since"), **_when(lambda c: c.became_customer_at)),
    Column(_("Churned"), **_when(lambda c: c.churned_at)),
]

BUYER_COLUMNS = [
    *CUSTOMER_COLUMNS,
    Column(_("Margin up to the period's end"), lambda c: c.margin_to_date),
]

PURCHASE_COLUMNS = [
    Column(_("Date"), **_when(lambda p: p.occurred_at)),
    *_customer_columns(lambda p: p.customer),
    Column(_("Kind"), lambda p: Purchase.Kind(p.kind).label if p.kind else ""),
    Column(_("Amount"), lambda p: p.amount),
    Column(_("Margin"), lambda p: p.margin),
    Column(_("Currency"), lambda p: p.currency),
]

COLUMNS: dict[str, list[Column]] = {
    ANSWERS: ANSWER_COLUMNS,
    TICKETS: TICKET_COLUMNS,
    BUSINESS_TICKETS: BUSINESS_TICKET_COLUMNS,
    INVITATIONS: INVITATION_COLUMNS,
    FOLLOW_UPS: FOLLOW_UP_COLUMNS,
    CUSTOMERS: CUSTOMER_COLUMNS,
    BUYERS: BUYER_COLUMNS,
    PURCHASES: PURCHASE_COLUMNS,
}


def count_text(kind: str, count: int) -> str:
    number = format_number(count, 0)
    nouns = {
        ANSWERS: ngettext("%(count)s answer", "%(count)s answers", count),
        TICKETS: ngettext("%(count)s ticket", "%(count)s tickets", count),
        BUSINESS_TICKETS: ngettext("%(count)s ticket", "%(count)s tickets", count),
        INVITATIONS: ngettext("%(count)s invitation", "%(count)s invitations", count),
        FOLLOW_UPS: ngettext("%(count)s answer", "%(count)s answers", count),
        CUSTOMERS: ngettext("%(count)s customer", "%(count)s customers", count),
        BUYERS: ngettext("%(count)s customer", "%(count)s customers", count),
        PURCHASES: ngettext("%(count)s purchase", "%(count)s purchases", count),
    }
    return nouns[kind] % {"count": number}


def describe(
    drill: Drill,
    f: KpiFilter,
    *,
    part: str | None,
    score: int | None,
    narrow: dict[str, str] | None = None,
) -> str:
    """Which rows are shown, in words: "Detractors: NPS answers 0-6 given from 1
    November 2026 to 30 November 2026"."""
    template = drill.parts[part].description if part else drill.description
    text = template % {
        "first": date_format(f.date_from, "DATE_FORMAT"),
        "last": date_format(f.date_to, "DATE_FORMAT"),
    }
    if score is not None:
        text = gettext("%(rows)s, with a score of %(score)s") % {"rows": text, "score": score}
    for name, value in (narrow or {}).items():
        narrower = NARROWERS[name]
        text = narrower.words % {"rows": text, "choice": narrower.choices[value]}
    return text
