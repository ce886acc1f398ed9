"""Support KPIs: hand-computed figures, the tickets each KPI reads, the days they count on,
the dimensions, and a property test against a plain-Python computation over the same rows."""

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import agent
from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.kpis.tickets import (
    KPIS,
    kpi_fcr_rate,
    kpi_first_response_time,
    kpi_first_response_time_business,
    kpi_reopen_rate,
    kpi_resolution_rate,
    kpi_resolution_time,
    kpi_resolution_time_business,
    kpi_sla_compliance,
)
from customers.tests.factories import CustomerFactory
from tickets.models import BusinessCalendar, Message, SLAPolicy, Ticket, WorkingHours
from tickets.services import (
    ticket_add_note,
    ticket_create,
    ticket_customer_reply,
    ticket_import_upsert,
    ticket_reopen,
    ticket_reply,
    ticket_solve,
)
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"


def local(day: int, hour: int = 12, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=MADRID)


def march(first: int = 1, last: int = 31, **dimensions) -> KpiFilter:
    return KpiFilter(date(2025, 3, first), date(2025, 3, last), **dimensions)


MARCH_10 = local(10)


def make_ticket(
    created_at: datetime = MARCH_10,
    *,
    after: dict[str, timedelta] | None = None,
    customer=None,
    **fields,
) -> Ticket:
    """A ticket row as the services leave it; `after` sets timestamps relative to its
    creation ({"solved_at": timedelta(hours=2)})."""
    for name, delay in (after or {}).items():
        fields[name] = created_at + delay
    if fields.get("solved_at"):
        fields.setdefault("status", Ticket.Status.SOLVED)
    return Ticket.objects.create(
        customer=customer or CustomerFactory(),
        subject="My order never arrived",
        created_at=created_at,
        **{"status": Ticket.Status.OPEN, **fields},
    )


def reply(ticket: Ticket, *, count: int = 1) -> None:
    for _ in range(count):
        Message.objects.create(ticket=ticket, kind=Message.Kind.REPLY, body="Hello")


NO_TIMES = {"median_s": None, "mean_s": None, "p90_s": None, "n": 0, "small_sample": True}


# --- The registry -----------------------------------------------------------------------


def test_every_ticket_kpi_is_registered_under_its_api_name():
    # Each business-hours variant right after its calendar-time twin.
    assert list(KPIS) == [
        "first_response_time",
        "first_response_time_business",
        "resolution_time",
        "resolution_time_business",
        "resolution_rate",
        "fcr_rate",
        "reopen_rate",
        "sla_compliance",
    ]
    assert all(REGISTRY[name] is function for name, function in KPIS.items())


def test_every_ticket_kpi_answers_none_with_n_zero_for_an_empty_period():
    make_ticket(local(10), after={"first_response_at": timedelta(hours=1)})
    april = KpiFilter(date(2025, 4, 1), date(2025, 4, 30))

    answers = {name: kpi(april) for name, kpi in KPIS.items()}

    assert answers["first_response_time"] == NO_TIMES
    assert answers["resolution_time"] == NO_TIMES
    assert answers["first_response_time_business"] == NO_TIMES
    assert answers["resolution_time_business"] == NO_TIMES
    for name in ("resolution_rate", "fcr_rate", "reopen_rate", "sla_compliance"):
        assert answers[name]["value"] is None
        assert answers[name]["n"] == 0
        assert answers[name]["small_sample"] is True


def test_every_ticket_kpi_runs_a_bounded_number_of_queries_whatever_the_ticket_count(
    django_assert_max_num_queries,
):
    customer = CustomerFactory()
    Ticket.objects.bulk_create(
        Ticket(
            customer=customer,
            subject="x",
            created_at=local(1 + i % 28),
            first_response_at=local(1 + i % 28) + timedelta(minutes=i),
            solved_at=local(1 + i % 28) + timedelta(hours=i),
            status=Ticket.Status.SOLVED,
            first_response_business_s=60.0 * i,
            resolution_business_s=1800.0 * i,
        )
        for i in range(300)
    )

    for kpi in KPIS.values():
        with django_assert_max_num_queries(3):
            kpi(march())


# --- First response time ----------------------------------------------------------------


def test_first_response_time_gives_median_mean_and_p90_in_seconds():
    for minutes in (1, 2, 3, 4, 60):
        make_ticket(after={"first_response_at": timedelta(minutes=minutes)})

    assert kpi_first_response_time(march()) == {
        "median_s": 180.0,
        "mean_s": pytest.approx(840.0),  # (60 + 120 + 180 + 240 + 3600) / 5
        "p90_s": pytest.approx(2256.0),  # position 0.9 * 4 = 3.6: 240 + 0.6 * 3360
        "n": 5,
        "small_sample": True,
    }


def test_first_response_time_of_one_ticket_is_that_tickets_time():
    make_ticket(after={"first_response_at": timedelta(seconds=90.5)})

    figures = kpi_first_response_time(march())

    assert (figures["median_s"], figures["mean_s"], figures["p90_s"]) == (90.5, 90.5, 90.5)
    assert figures["n"] == 1


def test_first_response_time_leaves_out_tickets_still_waiting_for_a_reply():
    make_ticket(after={"first_response_at": timedelta(minutes=10)})
    make_ticket()

    figures = kpi_first_response_time(march())

    assert figures["n"] == 1
    assert figures["median_s"] == 600.0


def test_first_response_time_counts_a_ticket_on_the_local_day_it_was_created():
    make_ticket(local(10, 23, 50), after={"first_response_at": timedelta(minutes=20)})

    assert kpi_first_response_time(march(10, 10))["n"] == 1
    assert kpi_first_response_time(march(11, 11))["n"] == 0


def test_first_response_time_is_measured_from_a_real_reply():
    support_agent = agent()
    with time_machine.travel(local(10, 9, 0), tick=False):
        ticket = ticket_create(customer=CustomerFactory(), subject="Refund", body="Hi")
    with time_machine.travel(local(10, 9, 45), tick=False):
        ticket_add_note(ticket=ticket, author=support_agent, body="Checking the order")
    with time_machine.travel(local(10, 10, 30), tick=False):
        ticket_reply(ticket=ticket, author=support_agent, body="Refund sent")

    assert kpi_first_response_time(march())["median_s"] == 90 * 60.0


# --- Resolution time --------------------------------------------------------------------


def test_resolution_time_gives_median_mean_and_p90_of_tickets_solved_in_the_period():
    for hours in (1, 2, 4, 8):
        make_ticket(after={"solved_at": timedelta(hours=hours)})

    assert kpi_resolution_time(march()) == {
        "median_s": 3 * 3600.0,  # halfway between 2 h and 4 h
        "mean_s": pytest.approx(3.75 * 3600),
        "p90_s": pytest.approx(6.8 * 3600),  # position 2.7: 4 + 0.7 * (8 - 4) hours
        "n": 4,
        "small_sample": True,
    }


def test_resolution_time_counts_a_ticket_on_the_day_it_was_solved_not_created():
    make_ticket(local(28, month=2), solved_at=local(2))

    figures = kpi_resolution_time(march())

    assert figures["n"] == 1
    assert figures["median_s"] == (local(2) - local(28, month=2)).total_seconds()
    assert kpi_resolution_time(KpiFilter(date(2025, 2, 1), date(2025, 2, 28)))["n"] == 0


def test_resolution_time_ignores_unsolved_tickets():
    make_ticket()

    assert kpi_resolution_time(march()) == NO_TIMES


# --- Response and resolution times in business hours ------------------------------------


@pytest.fixture
def office_hours() -> SLAPolicy:
    """Normal-priority tickets count 9:00-18:00, Monday to Friday, in Madrid."""
    calendar = BusinessCalendar.objects.create(name="Madrid office", time_zone="Europe/Madrid")
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=day, opens=time(9), closes=time(18))
        for day in range(5)
    )
    return SLAPolicy.objects.create(
        name="Normal",
        priority="normal",
        calendar=calendar,
        first_response_minutes=240,
        resolution_minutes=960,
    )


def test_business_hours_leave_out_the_weekend_of_a_ticket_sent_on_friday_evening(office_hours):
    support_agent = agent()
    with time_machine.travel(local(7, 17), tick=False):  # Friday 17:00
        ticket = ticket_create(customer=CustomerFactory(), subject="Refund", body="Hi")
    with time_machine.travel(local(10, 10), tick=False):  # Monday 10:00
        ticket_reply(ticket=ticket, author=support_agent, body="Refund sent")
    with time_machine.travel(local(10, 12), tick=False):
        ticket_solve(ticket=ticket, actor=support_agent)

    # Friday 17-18 and Monday 9-10; to the resolution, Monday 9-12 too.
    assert kpi_first_response_time_business(march())["median_s"] == 2 * 3600.0
    assert kpi_resolution_time_business(march())["median_s"] == 4 * 3600.0
    # Their calendar-time twins count the whole weekend.
    assert kpi_first_response_time(march())["median_s"] == 65 * 3600.0
    assert kpi_resolution_time(march())["median_s"] == 67 * 3600.0


def test_business_hours_times_give_median_mean_and_p90_of_the_recorded_values():
    for hours in (1, 2, 4, 8):
        make_ticket(
            after={"first_response_at": timedelta(days=1), "solved_at": timedelta(days=3)},
            first_response_business_s=hours * 600.0,
            resolution_business_s=hours * 3600.0,
        )

    assert kpi_resolution_time_business(march()) == {
        "median_s": 3 * 3600.0,  # halfway between 2 h and 4 h
        "mean_s": pytest.approx(3.75 * 3600),
        "p90_s": pytest.approx(6.8 * 3600),  # position 2.7: 4 + 0.7 * (8 - 4) hours
        "n": 4,
        "small_sample": True,
    }
    assert kpi_first_response_time_business(march())["median_s"] == 1800.0


def test_business_hours_times_leave_out_tickets_without_a_business_calendar():
    make_ticket(
        after={"first_response_at": timedelta(hours=1), "solved_at": timedelta(hours=2)},
        first_response_business_s=600.0,
        resolution_business_s=1200.0,
    )
    # A ticket whose policy counts calendar hours has no business values.
    make_ticket(after={"first_response_at": timedelta(hours=3), "solved_at": timedelta(hours=5)})

    first_response = kpi_first_response_time_business(march())
    resolution = kpi_resolution_time_business(march())

    assert (first_response["median_s"], first_response["n"]) == (600.0, 1)
    assert (resolution["median_s"], resolution["n"]) == (1200.0, 1)
    assert kpi_first_response_time(march())["n"] == kpi_resolution_time(march())["n"] == 2


def test_business_resolution_time_measures_a_reopened_ticket_to_its_last_resolution(
    office_hours,
):
    support_agent = agent()
    with time_machine.travel(local(3, 9), tick=False):  # Monday 9:00
        ticket = ticket_create(customer=CustomerFactory(), subject="Login fails", body="Hi")
    with time_machine.travel(local(3, 11), tick=False):
        ticket_solve(ticket=ticket, actor=support_agent)
    with time_machine.travel(local(4, 10), tick=False):
        ticket_reopen(ticket=ticket, actor=support_agent)

    assert kpi_resolution_time_business(march()) == NO_TIMES  # open again: not resolved

    with time_machine.travel(local(5, 10), tick=False):  # Wednesday 10:00
        ticket_solve(ticket=ticket, actor=support_agent)

    figures = kpi_resolution_time_business(march(5, 5))
    assert (figures["median_s"], figures["n"]) == (19 * 3600.0, 1)  # 9 h + 9 h + 1 h
    assert kpi_resolution_time_business(march(3, 3))["n"] == 0


# --- Resolution rate --------------------------------------------------------------------


def test_resolution_rate_is_resolved_over_received_in_the_period():
    make_ticket(local(2), after={"solved_at": timedelta(hours=1)})
    make_ticket(local(3), after={"solved_at": timedelta(days=1)})
    make_ticket(local(4))
    make_ticket(local(5))
    make_ticket(local(20, month=2), solved_at=local(6))  # received before, resolved now

    assert kpi_resolution_rate(march()) == {
        "value": 75.0,
        "n": 4,
        "resolved": 3,
        "small_sample": True,
    }


def test_resolution_rate_passes_100_when_a_backlog_is_cleared():
    make_ticket(local(10), after={"solved_at": timedelta(hours=1)})
    make_ticket(local(1, month=2), solved_at=local(11))

    assert kpi_resolution_rate(march())["value"] == 200.0


def test_resolution_rate_is_none_when_nothing_was_received():
    make_ticket(local(1, month=2), solved_at=local(11))

    assert kpi_resolution_rate(march()) == {
        "value": None,
        "n": 0,
        "resolved": 1,
        "small_sample": True,
    }


def test_a_ticket_created_at_2330_utc_on_new_years_eve_is_received_on_january_first_in_madrid():
    make_ticket(datetime(2024, 12, 31, 23, 30, tzinfo=UTC))

    new_years_day = KpiFilter(date(2025, 1, 1), date(2025, 1, 1))
    new_years_eve = KpiFilter(date(2024, 12, 31), date(2024, 12, 31))

    assert kpi_resolution_rate(new_years_day)["n"] == 1
    assert kpi_resolution_rate(new_years_eve)["n"] == 0


def test_a_ticket_created_at_local_midnight_belongs_to_the_new_day_only():
    make_ticket(local(11, 0, 0), solved_at=local(11, 0, 0))

    assert kpi_resolution_rate(march(10, 10))["n"] == 0
    assert kpi_resolution_time(march(10, 10))["n"] == 0
    assert kpi_resolution_rate(march(11, 11)) == {
        "value": 100.0,
        "n": 1,
        "resolved": 1,
        "small_sample": True,
    }


def test_a_ticket_solved_just_before_local_midnight_counts_on_that_day():
    # 23:59 in Madrid is 22:59 UTC: still the 10th, whatever the UTC date says.
    make_ticket(local(9), solved_at=local(10, 23, 59))

    assert kpi_resolution_time(march(10, 10))["n"] == 1
    assert kpi_resolution_time(march(11, 11))["n"] == 0


# --- First contact resolution -----------------------------------------------------------


def test_fcr_counts_resolved_tickets_with_one_public_reply_and_no_reopening():
    support_agent = agent()
    with time_machine.travel(local(10, 9), tick=False):
        tickets = [
            ticket_create(customer=CustomerFactory(), subject=f"Issue {i}", body="Help")
            for i in range(5)
        ]
    with time_machine.travel(local(10, 10), tick=False):
        one_reply, two_replies, reopened, with_note, _no_reply = tickets
        for ticket in (one_reply, reopened, with_note):
            ticket_reply(ticket=ticket, author=support_agent, body="Done")
        ticket_reply(ticket=two_replies, author=support_agent, body="Looking")
        ticket_reply(ticket=two_replies, author=support_agent, body="Done")
        ticket_add_note(ticket=with_note, author=support_agent, body="Internal")
        for ticket in tickets:
            ticket_solve(ticket=ticket, actor=support_agent)
    with time_machine.travel(local(10, 11), tick=False):
        ticket_customer_reply(ticket=reopened, body="Still broken")  # reopens it
        ticket_solve(ticket=reopened, actor=support_agent)

    # one_reply and with_note (notes and the customer's messages are not replies).
    assert kpi_fcr_rate(march()) == {
        "value": 40.0,
        "n": 5,
        "first_contact": 2,
        "small_sample": True,
    }


def test_fcr_counts_an_imported_answered_ticket_without_its_conversation_as_one_reply():
    customer = CustomerFactory()
    common = {
        "customer": customer,
        "subject": "Imported",
        "channel": "email",
        "priority": "normal",
        "category": "",
        "team": None,
        "assignee": None,
        "created_at": local(3),
        "first_response_at": local(3, 13),
        "solved_at": local(4),
        "closed_at": None,
    }
    ticket_import_upsert(external_id="Z-1", reopen_count=0, **common)
    ticket_import_upsert(external_id="Z-2", reopen_count=2, **common)

    figures = kpi_fcr_rate(march())

    assert (figures["value"], figures["n"]) == (50.0, 2)


def test_fcr_is_none_when_nothing_was_resolved():
    make_ticket()

    assert kpi_fcr_rate(march())["value"] is None


# --- Reopen rate ------------------------------------------------------------------------


def test_reopen_rate_is_the_share_of_resolved_tickets_reopened_at_least_once():
    make_ticket(after={"solved_at": timedelta(hours=1)}, reopen_count=2)
    for _ in range(3):
        make_ticket(after={"solved_at": timedelta(hours=1)})
    make_ticket(reopen_count=1)  # reopened and still open: not resolved

    assert kpi_reopen_rate(march()) == {
        "value": 25.0,
        "n": 4,
        "reopened": 1,
        "small_sample": True,
    }


def test_reopen_rate_is_zero_not_none_when_no_resolved_ticket_was_reopened():
    make_ticket(after={"solved_at": timedelta(hours=1)})

    assert kpi_reopen_rate(march())["value"] == 0.0


# --- SLA compliance ---------------------------------------------------------------------


def _with_targets(first_response: timedelta, resolution: timedelta, **after) -> Ticket:
    created = local(10, 9)
    return make_ticket(
        created,
        after=after,
        first_response_due_at=created + first_response,
        resolution_due_at=created + resolution,
    )


def test_sla_compliance_counts_tickets_meeting_both_targets():
    hour, day = timedelta(hours=1), timedelta(days=1)
    _with_targets(hour, day, first_response_at=hour / 2, solved_at=hour * 5)  # met
    _with_targets(hour, day, first_response_at=hour, solved_at=day)  # met, on the dot
    _with_targets(hour, day, first_response_at=hour * 2, solved_at=hour * 5)  # late reply
    _with_targets(hour, day, first_response_at=hour / 2, solved_at=day * 2)  # late fix
    _with_targets(hour, day, solved_at=hour * 3)  # solved with no reply past its due
    make_ticket(after={"first_response_at": day, "solved_at": day * 9})  # no target

    assert kpi_sla_compliance(march()) == {
        "value": 40.0,
        "n": 5,
        "met": 2,
        "small_sample": True,
    }


def test_sla_compliance_trusts_the_breach_flag_of_the_sla_clock():
    hour = timedelta(hours=1)
    ticket = _with_targets(hour, hour * 8, first_response_at=hour / 2, solved_at=hour)
    Ticket.objects.filter(pk=ticket.pk).update(resolution_breached=True)

    assert kpi_sla_compliance(march())["value"] == 0.0


def test_sla_compliance_reads_the_targets_a_policy_gave_through_the_services():
    SLAPolicy.objects.create(
        name="Normal", priority="normal", first_response_minutes=60, resolution_minutes=240
    )
    support_agent = agent()
    with time_machine.travel(local(10, 9), tick=False):
        fast = ticket_create(customer=CustomerFactory(), subject="Fast", body="Hi")
        slow = ticket_create(customer=CustomerFactory(), subject="Slow", body="Hi")
    with time_machine.travel(local(10, 9, 30), tick=False):
        ticket_reply(ticket=fast, author=support_agent, body="Fixed")
        ticket_solve(ticket=fast, actor=support_agent)
    with time_machine.travel(local(10, 11), tick=False):
        ticket_reply(ticket=slow, author=support_agent, body="Sorry for the wait")
        ticket_solve(ticket=slow, actor=support_agent)

    assert kpi_sla_compliance(march()) == {
        "value": 50.0,
        "n": 2,
        "met": 1,
        "small_sample": True,
    }


# --- Dimensions -------------------------------------------------------------------------


@pytest.fixture
def two_different_tickets():
    """Two tickets resolved on March 10 that differ in every dimension: the first one
    answered in 5 minutes with one reply, solved in an hour, within its targets; the
    second answered late, reopened once, solved in 9 hours (20 minutes and 4 hours of
    business time)."""
    first, second = agent(), agent()
    quick = make_ticket(
        after={
            "first_response_at": timedelta(minutes=5),
            "solved_at": timedelta(hours=1),
            "first_response_due_at": timedelta(minutes=10),
            "resolution_due_at": timedelta(hours=2),
        },
        first_response_business_s=300.0,
        resolution_business_s=3600.0,
        team=TeamFactory(name="Billing"),
        channel="email",
        category="refunds",
        customer=CustomerFactory(segment="enterprise"),
        assignee=first,
        solved_by=first,
    )
    reply(quick)
    slow = make_ticket(
        after={
            "first_response_at": timedelta(minutes=50),
            "solved_at": timedelta(hours=9),
            "first_response_due_at": timedelta(minutes=10),
            "resolution_due_at": timedelta(hours=2),
        },
        first_response_business_s=1200.0,
        resolution_business_s=4 * 3600.0,
        team=TeamFactory(name="Shipping"),
        channel="phone",
        category="delivery",
        customer=CustomerFactory(segment="smb"),
        assignee=second,
        solved_by=second,
        reopen_count=1,
    )
    return [quick, slow]


# The quick ticket's own figures, and both tickets' together.
QUICK_ALONE = {
    "first_response_time": ("median_s", 300.0, 1),
    "first_response_time_business": ("median_s", 300.0, 1),
    "resolution_time": ("median_s", 3600.0, 1),
    "resolution_time_business": ("median_s", 3600.0, 1),
    "resolution_rate": ("value", 100.0, 1),
    "fcr_rate": ("value", 100.0, 1),
    "reopen_rate": ("value", 0.0, 1),
    "sla_compliance": ("value", 100.0, 1),
}
BOTH = {
    "first_response_time": ("median_s", 1650.0, 2),
    "first_response_time_business": ("median_s", 750.0, 2),
    "resolution_time": ("median_s", 5 * 3600.0, 2),
    "resolution_time_business": ("median_s", 2.5 * 3600.0, 2),
    "resolution_rate": ("value", 100.0, 2),
    "fcr_rate": ("value", 50.0, 2),
    "reopen_rate": ("value", 50.0, 2),
    "sla_compliance": ("value", 50.0, 2),
}


@pytest.mark.parametrize("name", KPIS.keys())
@pytest.mark.parametrize("dimension", ["team", "agent", "channel", "category", "segment"])
def test_each_dimension_narrows_every_ticket_kpi_to_its_tickets(
    name, dimension, two_different_tickets
):
    quick = two_different_tickets[0]
    value = {
        "team": quick.team_id,
        "agent": quick.solved_by_id,
        "channel": "email",
        "category": "refunds",
        "segment": "enterprise",
    }[dimension]
    kpi = KPIS[name]

    everything, narrowed = kpi(march()), kpi(march(**{dimension: value}))

    key, figure, n = BOTH[name]
    assert (everything[key], everything["n"]) == (figure, n)
    key, figure, n = QUICK_ALONE[name]
    assert (narrowed[key], narrowed["n"]) == (figure, n)


def test_a_filter_that_excludes_every_ticket_gives_no_data(two_different_tickets):
    nobody = march(team=two_different_tickets[0].team_id, channel="phone")

    assert kpi_resolution_time(nobody) == NO_TIMES
    assert kpi_reopen_rate(nobody)["value"] is None


def test_the_survey_filter_does_not_apply_to_tickets(two_different_tickets):
    for kpi in KPIS.values():
        assert kpi(march(survey=12345)) == kpi(march())


def test_an_agent_is_credited_with_tickets_they_solved_even_if_reassigned_since():
    solver, newcomer = agent(), agent()
    make_ticket(
        after={"first_response_at": timedelta(minutes=5), "solved_at": timedelta(hours=1)},
        assignee=newcomer,
        solved_by=solver,
    )

    assert kpi_resolution_time(march(agent=solver.pk))["n"] == 1
    assert kpi_resolution_time(march(agent=newcomer.pk))["n"] == 0
    assert kpi_first_response_time(march(agent=solver.pk))["n"] == 1
    assert kpi_first_response_time(march(agent=newcomer.pk))["n"] == 0


def test_an_unsolved_ticket_is_credited_to_its_assignee_for_received_ticket_kpis():
    assignee = agent()
    make_ticket(after={"first_response_at": timedelta(minutes=5)}, assignee=assignee)

    assert kpi_first_response_time(march(agent=assignee.pk))["n"] == 1
    assert kpi_resolution_rate(march(agent=assignee.pk)) == {
        "value": 0.0,
        "n": 1,
        "resolved": 0,
        "small_sample": True,
    }


def test_thirty_tickets_are_no_longer_a_small_sample():
    for _ in range(30):
        make_ticket(after={"solved_at": timedelta(hours=1)})

    assert kpi_resolution_time(march())["small_sample"] is False
    assert kpi_reopen_rate(march())["small_sample"] is False


# --- Property: the database equals a plain computation over the same rows ---------------

PERIOD = march(10, 12)
HOUR = 3600


def _oracle_percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lo, hi = math.floor(position), math.ceil(position)
    return ordered[lo] + (position - lo) * (ordered[hi] - ordered[lo])


def _oracle_times(values: list[float]) -> dict:
    if not values:
        return NO_TIMES
    return {
        "median_s": _oracle_percentile(values, 0.5),
        "mean_s": pytest.approx(sum(values) / len(values), rel=1e-12),
        "p90_s": _oracle_percentile(values, 0.9),
        "n": len(values),
        "small_sample": len(values) < 30,
    }


def _oracle_rate(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _in_period(moment: datetime | None) -> bool:
    return (
        moment is not None
        and PERIOD.date_from <= moment.astimezone(MADRID).date() <= PERIOD.date_to
    )


ticket_rows = st.fixed_dictionaries(
    {
        # Mostly inside the period, some half a day either side of it.
        "created": st.integers(min_value=-12 * HOUR, max_value=(3 * 24 + 12) * HOUR),
        "first_response": st.one_of(st.none(), st.integers(0, 30 * HOUR)),
        "solved": st.one_of(st.none(), st.integers(0, 60 * HOUR)),
        "replies": st.integers(0, 3),
        "reopen_count": st.integers(0, 2),
        "team": st.sampled_from(["A", "B"]),
        "first_response_due": st.one_of(st.none(), st.integers(0, 10 * HOUR)),
        "resolution_due": st.integers(0, 40 * HOUR),
        "breached": st.booleans(),
        # Business seconds as the services record them: none without a business
        # calendar, else at most the calendar time (fractions included).
        "business_calendar": st.booleans(),
        "business_share": st.floats(min_value=0, max_value=1),
    }
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(ticket_rows, min_size=1, max_size=15), team_filter=st.sampled_from([None, "A"])
)
def test_ticket_kpis_equal_a_plain_computation_over_the_same_rows(rows, team_filter):
    start = datetime.combine(PERIOD.date_from, datetime.min.time(), tzinfo=MADRID)
    with transaction.atomic():
        teams = {name: TeamFactory(name=f"Team {name}") for name in ("A", "B")}
        customer = CustomerFactory()
        tickets = []
        for row in rows:
            created = start + timedelta(seconds=row["created"])
            solved = None if row["solved"] is None else created + timedelta(seconds=row["solved"])
            first_response = (
                None
                if row["first_response"] is None
                else created + timedelta(seconds=row["first_response"])
            )
            has_target = row["first_response_due"] is not None

            def business(moment: datetime | None, row=row, created=created) -> float | None:
                if moment is None or not row["business_calendar"]:
                    return None
                return (moment - created).total_seconds() * row["business_share"]

            ticket = make_ticket(
                created,
                customer=customer,
                team=teams[row["team"]],
                first_response_at=first_response,
                solved_at=solved,
                reopen_count=row["reopen_count"],
                first_response_due_at=(
                    created + timedelta(seconds=row["first_response_due"]) if has_target else None
                ),
                resolution_due_at=(
                    created + timedelta(seconds=row["resolution_due"]) if has_target else None
                ),
                resolution_breached=has_target and row["breached"],
                first_response_business_s=business(first_response),
                resolution_business_s=business(solved),
            )
            reply(ticket, count=row["replies"])
            tickets.append(ticket)
        period = PERIOD if team_filter is None else march(10, 12, team=teams[team_filter].pk)
        answers = {name: kpi(period) for name, kpi in KPIS.items()}
        transaction.set_rollback(True)

    chosen = [
        (t, row) for t, row in zip(tickets, rows, strict=True) if team_filter in (None, row["team"])
    ]
    received = [t for t, _row in chosen if _in_period(t.created_at)]
    resolved = [(t, row) for t, row in chosen if _in_period(t.solved_at)]

    def first_contact(ticket: Ticket, row: dict) -> bool:
        replies = row["replies"] or (1 if ticket.first_response_at else 0)
        return ticket.reopen_count == 0 and replies == 1

    def met(ticket: Ticket) -> bool:
        first_ok = (
            ticket.first_response_at <= ticket.first_response_due_at
            if ticket.first_response_at
            else ticket.solved_at <= ticket.first_response_due_at
        )
        return (
            first_ok
            and ticket.solved_at <= ticket.resolution_due_at
            and not ticket.resolution_breached
        )

    targeted = [t for t, _row in resolved if t.first_response_due_at is not None]
    assert answers["first_response_time"] == _oracle_times(
        [
            (t.first_response_at - t.created_at).total_seconds()
            for t in received
            if t.first_response_at
        ]
    )
    assert answers["resolution_time"] == _oracle_times(
        [(t.solved_at - t.created_at).total_seconds() for t, _row in resolved]
    )
    assert answers["first_response_time_business"] == _oracle_times(
        [
            t.first_response_business_s
            for t in received
            if t.first_response_at and t.first_response_business_s is not None
        ]
    )
    assert answers["resolution_time_business"] == _oracle_times(
        [t.resolution_business_s for t, _row in resolved if t.resolution_business_s is not None]
    )
    assert answers["resolution_rate"]["value"] == _oracle_rate(len(resolved), len(received))
    assert answers["fcr_rate"]["value"] == _oracle_rate(
        sum(first_contact(t, row) for t, row in resolved), len(resolved)
    )
    assert answers["reopen_rate"]["value"] == _oracle_rate(
        sum(t.reopen_count > 0 for t, _row in resolved), len(resolved)
    )
    assert answers["sla_compliance"]["value"] == _oracle_rate(
        sum(met(t) for t in targeted), len(targeted)
    )
