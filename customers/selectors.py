"""Read paths for customers, purchases and touchpoints."""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from .models import Customer, CustomerEvent, Purchase

_FIRST_DAY = date.min + timedelta(days=1)
_LAST_DAY = date.max - timedelta(days=1)


def local_day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the project's time zone (settings.TIME_ZONE),
    so a date filter means the day the team lives, not the UTC day."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def filter_day_range(
    queryset: QuerySet, field: str, *, day_from: date | None, day_to: date | None
) -> QuerySet:
    """Keep rows whose `field` falls between the two local dates, both inclusive.

    A bound at the very edge of the calendar (0001-01-01, 9999-12-31) excludes
    nothing, and is dropped: as a time in UTC it may not exist."""
    if day_from is not None and day_from > _FIRST_DAY:
        queryset = queryset.filter(**{f"{field}__gte": local_day_start(day_from)})
    if day_to is not None and day_to < _LAST_DAY:
        queryset = queryset.filter(**{f"{field}__lt": local_day_start(day_to + timedelta(days=1))})
    return queryset


def customer_list(
    *,
    external_id: str | None = None,
    email: str | None = None,
    segment: str | None = None,
    stage: str | None = None,
    language: str | None = None,
    search: str | None = None,
) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    if external_id:
        customers = customers.filter(external_id=external_id)
    if email:
        customers = customers.filter(email__iexact=email)
    if segment:
        customers = customers.filter(segment=segment)
    if stage:
        customers = customers.filter(stage=stage)
    if language:
        customers = customers.filter(language=language)
    if search:
        customers = customers.filter(Q(name__icontains=search) | Q(email__icontains=search))
    return customers


def customer_get(customer_id: int) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()


def purchase_list(
    *,
    customer: int | None = None,
    kind: str | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> QuerySet[Purchase]:
    purchases = Purchase.objects.all()
    if customer is not None:
        purchases = purchases.filter(customer_id=customer)
    if kind:
        purchases = purchases.filter(kind=kind)
    return filter_day_range(purchases, "occurred_at", day_from=occurred_from, day_to=occurred_to)


def purchase_get(purchase_id: int) -> Purchase | None:
    return Purchase.objects.filter(pk=purchase_id).first()


def customer_event_list(
    *,
    customer: int | None = None,
    channel: str | None = None,
    kind: str | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> QuerySet[CustomerEvent]:
    events = CustomerEvent.objects.all()
    if customer is not None:
        events = events.filter(customer_id=customer)
    if channel:
        events = events.filter(channel=channel)
    if kind:
        events = events.filter(kind=kind)
    return filter_day_range(events, "occurred_at", day_from=occurred_from, day_to=occurred_to)


def customer_event_get(event_id: int) -> CustomerEvent | None:
    return CustomerEvent.objects.filter(pk=event_id).first()


# --- The customer pages and the ticket sidebar ------------------------------------------


def customer_search(*, query: str = "") -> QuerySet[Customer]:
    """Customers whose name or email contains the text, or whose external id is it."""
    customers = Customer.objects.order_by("name", "id")
    query = query.strip()
    if query:
        customers = customers.filter(
            Q(name__icontains=query) | Q(email__icontains=query) | Q(external_id=query)
        )
    return customers


def customer_page(*, query: str = "", page: int = 1, page_size: int = 25) -> tuple[list, bool]:
    """One page of the search and whether another follows, reading one row more than it
    shows: no COUNT over the whole table, which costs a full scan on a large one."""
    start = (max(page, 1) - 1) * page_size
    rows = list(customer_search(query=query)[start : start + page_size + 1])
    return rows[:page_size], len(rows) > page_size


def customer_get_for_profile(customer_id: int) -> Customer | None:
    return Customer.objects.select_related("account_owner").filter(pk=customer_id).first()


def customer_recent_purchases(*, customer_id: int, limit: int = 5) -> list[Purchase]:
    return list(purchase_list(customer=customer_id).order_by("-occurred_at", "-id")[:limit])


def customer_purchase_totals(*, customer_id: int) -> list[dict]:
    """What the customer has bought, summed by the database per currency:
    [{"currency": "EUR", "total": Decimal, "count": int}, …]."""
    return list(
        Purchase.objects.filter(customer_id=customer_id)
        .values("currency")
        .annotate(total=Sum("amount"), count=Count("id"))
        .order_by("currency")
    )


def customer_recent_events(*, customer_id: int, limit: int = 5) -> list[CustomerEvent]:
    return list(customer_event_list(customer=customer_id).order_by("-occurred_at", "-id")[:limit])
