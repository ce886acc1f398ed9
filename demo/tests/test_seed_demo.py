import hashlib
import re
import time
from datetime import date, timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from accounts.models import User
from customers.models import Customer, CustomerEvent, LifecycleChange, Purchase
from cxm import roles
from tickets.models import Message, SLAPolicy, Tag, Team, Ticket, TicketEvent
from tickets.sla import add_business_time, schedule_for

pytestmark = pytest.mark.django_db

SMALL = {"customers": 25, "tickets": 120}
FIXED_ANCHOR = "2025-03-10"


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **{**SMALL, **options})
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = (
        User,
        Team,
        Tag,
        Customer,
        LifecycleChange,
        Purchase,
        CustomerEvent,
        Ticket,
        Message,
        TicketEvent,
    )
    return {model.__name__: model.objects.count() for model in models}


def digest() -> str:
    """Everything a person would see, without database ids."""
    parts = [
        User.objects.order_by("username").values_list("username", "first_name", "last_name"),
        Customer.objects.order_by("external_id").values_list(
            "external_id",
            "name",
            "email",
            "phone",
            "language",
            "segment",
            "stage",
            "created_at",
            "became_customer_at",
            "churned_at",
            "account_owner__username",
        ),
        Purchase.objects.order_by("customer__external_id", "occurred_at", "kind").values_list(
            "customer__external_id", "occurred_at", "kind", "amount", "margin"
        ),
        CustomerEvent.objects.order_by("customer__external_id", "occurred_at", "kind").values_list(
            "customer__external_id", "occurred_at", "kind", "channel", "note"
        ),
        Ticket.objects.order_by("created_at", "subject").values_list(
            "customer__external_id",
            "subject",
            "status",
            "priority",
            "channel",
            "category",
            "assignee__username",
            "created_at",
            "first_response_at",
            "solved_at",
            "closed_at",
            "reopen_count",
        ),
        Message.objects.order_by("ticket__created_at", "created_at", "body").values_list(
            "ticket__subject", "kind", "body", "created_at"
        ),
        TicketEvent.objects.order_by("ticket__created_at", "created_at", "kind").values_list(
            "ticket__subject", "kind", "from_value", "to_value", "created_at"
        ),
    ]
    # Survey follow-ups quote the original ticket's reference, which is its database id.
    text = re.sub(r"T-\d+", "T-…", repr([list(rows) for rows in parts]))
    return hashlib.sha256(text.encode()).hexdigest()


def wipe() -> None:
    Ticket.objects.all().delete()
    Customer.objects.all().delete()
    for model in (Team, Tag, SLAPolicy, User):
        model.objects.all().delete()


def test_demo_logins_work_with_password_demo_and_have_their_roles():
    seed()

    admin = authenticate(username="admin", password="demo")
    manager = authenticate(username="manager", password="demo")
    agent = authenticate(username="agent", password="demo")

    assert admin is not None and manager is not None and agent is not None
    assert admin.is_superuser and admin.is_staff
    assert list(admin.groups.values_list("name", flat=True)) == [roles.ADMIN]
    assert list(manager.groups.values_list("name", flat=True)) == [roles.MANAGER]
    assert list(agent.groups.values_list("name", flat=True)) == [roles.AGENT]
    assert not manager.is_superuser and not agent.is_staff
    assert User.objects.filter(groups__name=roles.AGENT).count() == 6
    assert agent.teams.exists()
    assert agent.assigned_tickets.exists()


def test_running_it_again_changes_nothing():
    seed()
    before = row_counts()

    started = time.monotonic()
    output = seed()

    assert row_counts() == before
    assert "already loaded" in output
    assert time.monotonic() - started < 1


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    seed(seed=7, anchor=FIXED_ANCHOR)
    first = digest()
    wipe()
    seed(seed=7, anchor=FIXED_ANCHOR)
    again = digest()
    wipe()
    seed(seed=8, anchor=FIXED_ANCHOR)
    other = digest()

    assert again == first
    assert other != first


def test_seeded_tickets_are_consistent_with_their_history():
    seed()
    now = timezone.now()
    tickets = Ticket.objects.all()

    assert tickets.exclude(category="survey follow-up").count() == SMALL["tickets"]
    assert not tickets.filter(first_response_at__lt=F("created_at")).exists()
    assert not tickets.filter(solved_at__lt=F("created_at")).exists()
    assert not tickets.filter(status__in=["solved", "closed"], solved_at=None).exists()
    assert not tickets.filter(status="closed", closed_at=None).exists()
    assert not tickets.filter(closed_at__lt=F("solved_at")).exists()
    assert not tickets.filter(~Q(solved_by=F("assignee")), solved_at__isnull=False).exists()
    assert not tickets.filter(
        status__in=["new", "open", "pending"], solved_at__isnull=False
    ).exists()
    assert not tickets.filter(status="new", assignee__isnull=False).exists()
    assert not tickets.filter(created_at__lt=F("customer__created_at")).exists()
    # Every ticket's history starts with its creation, at its creation time.
    created_events = TicketEvent.objects.filter(kind="created", created_at=F("ticket__created_at"))
    assert created_events.values("ticket").distinct().count() == tickets.count()
    first_event = tickets.annotate(first=Min("events__created_at")).filter(
        first__lt=F("created_at")
    )
    assert not first_event.exists()
    # first_response_at is the first public reply of an agent.
    first_agent_reply = tickets.annotate(
        first_reply=Min(
            "messages__created_at",
            filter=Q(messages__kind="reply", messages__from_customer=False),
        )
    )
    assert all(ticket.first_response_at == ticket.first_reply for ticket in first_agent_reply)
    # reopen_count agrees with the reopened events.
    reopened = tickets.annotate(reopens=Count("events", filter=Q(events__kind="reopened")))
    assert all(ticket.reopens == ticket.reopen_count for ticket in reopened)
    assert not Message.objects.filter(created_at__lt=F("ticket__created_at")).exists()
    # Nothing happens in the future.
    for model, field in (
        (Ticket, "created_at"),
        (Ticket, "first_response_at"),
        (Ticket, "solved_at"),
        (Ticket, "closed_at"),
        (Ticket, "updated_at"),
        (Message, "created_at"),
        (TicketEvent, "created_at"),
        (Purchase, "occurred_at"),
        (CustomerEvent, "occurred_at"),
        (LifecycleChange, "occurred_at"),
        (Customer, "became_customer_at"),
        (Customer, "churned_at"),
    ):
        assert not model.objects.filter(**{f"{field}__gt": now}).exists(), (model, field)


def test_seeded_customers_follow_their_lifecycle():
    seed(customers=80, tickets=10)

    customers = Customer.objects.all()
    assert customers.count() == 80
    assert set(customers.values_list("external_id", flat=True)) == {
        f"demo-{number:04d}" for number in range(1, 81)
    }
    assert set(customers.values_list("stage", flat=True)) == {"lead", "customer", "churned"}
    assert set(customers.values_list("language", flat=True)) == {"es", "en"}
    for customer in customers.exclude(stage="lead"):
        changes = list(customer.lifecycle_changes.values_list("from_stage", "to_stage"))
        assert changes[0] == ("lead", "customer")
        assert changes[-1][1] == customer.stage
        first_purchase = customer.purchases.order_by("occurred_at").first()
        assert first_purchase.kind == "new"
        assert first_purchase.occurred_at == customer.became_customer_at.replace(microsecond=0)
    assert not LifecycleChange.objects.filter(customer__stage="lead").exists()
    assert not Purchase.objects.filter(customer__stage="lead").exists()
    assert not Purchase.objects.filter(margin__gt=F("amount")).exists()


def test_an_anchor_in_the_future_is_refused():
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    with pytest.raises(CommandError):
        seed(anchor=tomorrow)

    assert not Customer.objects.exists()


def test_the_full_demo_is_realistic_and_loads_quickly():
    started = time.monotonic()
    output = seed(customers=200, tickets=2400)
    elapsed = time.monotonic() - started

    assert elapsed < 20
    assert "2,400 tickets" in output.splitlines()[-1]
    assert Customer.objects.count() == 200
    assert Ticket.objects.count() >= 2000
    assert Team.objects.count() == 3
    assert User.objects.filter(groups__name=roles.AGENT).count() == 6
    assert set(Customer.objects.values_list("segment", flat=True)) == {
        "smb",
        "mid_market",
        "enterprise",
    }
    assert set(Purchase.objects.values_list("kind", flat=True)) == {
        "new",
        "renewal",
        "upsell",
        "cross_sell",
    }
    assert CustomerEvent.objects.values("channel").distinct().count() >= 4
    today = timezone.localdate()
    span = Ticket.objects.aggregate(oldest=Min("created_at"))["oldest"]
    assert date(2000, 1, 1) < span.date() <= today - timedelta(days=175)
    assert set(Ticket.objects.values_list("status", flat=True)) == {
        "new",
        "open",
        "pending",
        "solved",
        "closed",
    }
    recent = Ticket.objects.filter(created_at__gte=timezone.now() - timedelta(days=2))
    older = Ticket.objects.filter(created_at__lt=timezone.now() - timedelta(days=30))
    assert recent.filter(status__in=Ticket.UNRESOLVED).count() > recent.count() / 2
    assert older.filter(status="closed").count() > 0.9 * older.count()
    assert Ticket.objects.filter(reopen_count__gt=0).count() > 50
    assert Message.objects.filter(kind="note").count() > 200
    assert Message.objects.filter(from_customer=True).count() > 2400
    # First responses take minutes to hours; resolutions hours to days.
    resolved = list(Ticket.objects.filter(solved_at__isnull=False))
    first_responses = sorted(t.first_response_at - t.created_at for t in resolved)
    resolutions = sorted(t.solved_at - t.created_at for t in resolved)
    median = len(resolved) // 2
    assert timedelta(minutes=10) < first_responses[median] < timedelta(hours=4)
    assert timedelta(hours=4) < resolutions[median] < timedelta(days=3)
    assert resolutions[-1] > timedelta(days=5)


def test_seeded_tickets_count_business_hours_where_their_policy_has_a_calendar():
    seed()
    answered = Ticket.objects.filter(first_response_at__isnull=False).select_related(
        "sla_policy__calendar"
    )
    in_business_hours = answered.filter(sla_policy__calendar__isnull=False)
    in_calendar_hours = answered.filter(sla_policy__calendar__isnull=True)

    assert in_business_hours.exists() and in_calendar_hours.exists()  # urgent: calendar hours
    assert not in_business_hours.filter(first_response_business_s__isnull=True).exists()
    assert not in_business_hours.filter(
        solved_at__isnull=False, resolution_business_s__isnull=True
    ).exists()
    assert not Ticket.objects.filter(solved_at=None, resolution_business_s__isnull=False).exists()
    assert not in_calendar_hours.filter(
        Q(first_response_business_s__isnull=False) | Q(resolution_business_s__isnull=False)
    ).exists()
    for ticket in in_business_hours:
        schedule = schedule_for(ticket.sla_policy.calendar)
        assert ticket.first_response_due_at == add_business_time(
            ticket.created_at, ticket.sla_policy.first_response_minutes * 60, schedule
        )
        waited = (ticket.first_response_at - ticket.created_at).total_seconds()
        assert 0 <= ticket.first_response_business_s <= waited
    # Exactly what the backfill (and so the services) would have recorded.
    out = StringIO()
    call_command("backfill_business_times", "--recompute", stdout=out)
    assert "written for 0 of" in out.getvalue()
