"""Pieces of the agent desk that several pages draw: the customer sidebar of the ticket
page, the customer profile's timeline, SLA clocks.

Pages where apps meet compose through these tags ({% load desk %}), so the customers
app draws its profile with tickets in it without its Python code importing tickets.
Each tag reads through a selector with a fixed number of queries."""

from datetime import datetime
from typing import Any

from django import template
from django.db import models
from django.utils import timezone

from customers import selectors as customer_selectors
from customers.models import Customer

from .. import selectors
from ..models import Priority, Ticket, TicketEvent

register = template.Library()


def _user(context: template.Context):
    return context["request"].user


@register.inclusion_tag("customers/_profile_card.html")
def customer_profile(customer: Customer, link: bool = True) -> dict[str, Any]:
    """Name, contact, language, segment, stage and account owner."""
    return {"customer": customer, "link": link}


@register.inclusion_tag("tickets/_ticket_customer_tickets.html", takes_context=True)
def customer_tickets(
    context: template.Context, customer: Customer, exclude: Ticket | None = None, limit: int = 10
) -> dict[str, Any]:
    """The customer's latest tickets the agent may see, but `exclude` (the one open)."""
    tickets = selectors.customer_ticket_list(
        customer_id=customer.pk,
        user=_user(context),
        exclude_id=exclude.pk if exclude is not None else None,
        limit=limit,
    )
    return {"customer": customer, "tickets": tickets, "limit": limit}


@register.inclusion_tag("customers/_purchases.html")
def customer_purchases(customer: Customer, limit: int = 5) -> dict[str, Any]:
    """The latest purchases and what the customer has bought in total, per currency."""
    return {
        "customer": customer,
        "purchases": customer_selectors.customer_recent_purchases(
            customer_id=customer.pk, limit=limit
        ),
        "totals": customer_selectors.customer_purchase_totals(customer_id=customer.pk),
    }


@register.inclusion_tag("customers/_events.html")
def customer_events(customer: Customer, limit: int = 5) -> dict[str, Any]:
    """The customer's latest touchpoints (visits, calls, abandoned carts…)."""
    return {
        "customer": customer,
        "events": customer_selectors.customer_recent_events(customer_id=customer.pk, limit=limit),
    }


@register.inclusion_tag("customers/_timeline.html", takes_context=True)
def customer_timeline(
    context: template.Context, customer: Customer, limit: int = 200
) -> dict[str, Any]:
    """Tickets, purchases and touchpoints, newest first."""
    entries, truncated = selectors.customer_timeline(
        customer_id=customer.pk, user=_user(context), limit=limit
    )
    return {"customer": customer, "entries": entries, "truncated": truncated, "limit": limit}


def sla_clock_state(
    *,
    due: datetime | None,
    done_at: datetime | None,
    breached: bool,
    paused: bool = False,
    now: datetime | None = None,
) -> str:
    """Where an SLA clock stands: "met" or "missed" once its target was reached,
    "paused" while waiting on the customer, "past", "soon" (within SLA_SOON) or "ok"
    while running, and "" when the ticket has no target."""
    if paused:
        return "paused"
    if due is None:
        return ""
    if done_at is not None:
        return "missed" if breached else "met"
    now = now or timezone.now()
    if breached or due <= now:
        return "past"
    return "soon" if due - now < selectors.SLA_SOON else "ok"


@register.inclusion_tag("tickets/_ticket_sla.html")
def sla_clocks(ticket: Ticket) -> dict[str, Any]:
    """The first-response and resolution clocks of a ticket, in words and colour."""
    clocks = [
        {
            "name": "first_response",
            "due": ticket.first_response_due_at,
            "state": sla_clock_state(
                due=ticket.first_response_due_at,
                done_at=ticket.first_response_at,
                breached=ticket.first_response_breached,
            ),
        },
        {
            "name": "resolution",
            "due": ticket.resolution_due_at,
            "state": sla_clock_state(
                due=ticket.resolution_due_at,
                done_at=ticket.solved_at,
                breached=ticket.resolution_breached,
                paused=ticket.sla_paused_at is not None and ticket.sla_policy_id is not None,
            ),
        },
    ]
    return {"ticket": ticket, "clocks": [clock for clock in clocks if clock["state"]]}


_STATUS_EVENTS = {
    TicketEvent.Kind.CREATED,
    TicketEvent.Kind.STATUS_CHANGED,
    TicketEvent.Kind.SOLVED,
    TicketEvent.Kind.REOPENED,
    TicketEvent.Kind.CLOSED,
    TicketEvent.Kind.IMPORTED,
}


def _event_value(event: TicketEvent, value: str) -> str:
    """A status or priority as its label in the agent's language; others as stored."""
    choices: type[models.TextChoices] | None = None
    if event.kind in _STATUS_EVENTS:
        choices = Ticket.Status
    elif event.kind == TicketEvent.Kind.PRIORITY_CHANGED:
        choices = Priority
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return value


@register.filter
def event_from(event: TicketEvent) -> str:
    return _event_value(event, event.from_value)


@register.filter
def event_to(event: TicketEvent) -> str:
    return _event_value(event, event.to_value)
