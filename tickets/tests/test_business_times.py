"""The business-hours response and resolution times recorded on tickets: by the
services when the first reply and the resolution happen, by imports, and by the
backfill command for tickets that predate them.

The office works Monday to Friday, 9:00-18:00 in Madrid; normal-priority tickets
count in it, urgent ones count calendar hours."""

from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from tickets import services
from tickets.models import BusinessCalendar, Holiday, SLAPolicy, Ticket, WorkingHours
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
HOUR = 3600.0
Priority = Ticket.Priority

# Friday 27 November 2026, and the week after it.
FRIDAY = date(2026, 11, 27)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=MADRID)


def days_after_friday(days: int) -> date:
    return FRIDAY + timedelta(days=days)


MONDAY, TUESDAY = days_after_friday(3), days_after_friday(4)


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"  # CSV timestamps without an offset


@pytest.fixture
def office() -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name="Madrid office", time_zone="Europe/Madrid")
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=day, opens=time(9), closes=time(18))
        for day in range(5)
    )
    return calendar


@pytest.fixture
def policies(office) -> dict[str, SLAPolicy]:
    return {
        "normal": SLAPolicy.objects.create(
            name="Normal",
            priority=Priority.NORMAL,
            calendar=office,
            first_response_minutes=240,
            resolution_minutes=960,
        ),
        "urgent": SLAPolicy.objects.create(
            name="Urgent",
            priority=Priority.URGENT,
            calendar=None,
            first_response_minutes=30,
            resolution_minutes=240,
        ),
    }


@pytest.fixture
def ana():
    return agent(username="ana")


def _open(priority: str = Priority.NORMAL) -> Ticket:
    return services.ticket_create(
        customer=CustomerFactory(), subject="The invoice is wrong", priority=priority
    )


def _reloaded(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


# --- The services record them when things happen -----------------------------------------


def test_a_ticket_sent_on_friday_at_five_and_answered_on_monday_at_ten_waited_two_business_hours(
    time_machine, policies, ana
):
    time_machine.move_to(at(FRIDAY, 17), tick=False)
    ticket = _open()
    time_machine.move_to(at(MONDAY, 10), tick=False)

    services.ticket_reply(ticket=ticket, author=ana, body="Looking into it.")

    assert _reloaded(ticket).first_response_business_s == 2 * HOUR


def test_later_replies_keep_the_first_response_business_time(time_machine, policies, ana):
    time_machine.move_to(at(FRIDAY, 17), tick=False)
    ticket = _open()
    time_machine.move_to(at(MONDAY, 10), tick=False)
    services.ticket_reply(ticket=ticket, author=ana, body="Looking into it.")
    time_machine.move_to(at(TUESDAY, 10), tick=False)

    services.ticket_reply(ticket=ticket, author=ana, body="Here is the fix.")

    assert _reloaded(ticket).first_response_business_s == 2 * HOUR


def test_solving_records_the_business_time_to_the_resolution(time_machine, policies, ana):
    time_machine.move_to(at(FRIDAY, 17), tick=False)
    ticket = _open()
    time_machine.move_to(at(TUESDAY, 12), tick=False)

    services.ticket_solve(ticket=ticket, actor=ana)

    # Friday 17-18, all of Monday, Tuesday 9-12.
    assert _reloaded(ticket).resolution_business_s == (1 + 9 + 3) * HOUR


def test_closing_an_unresolved_ticket_records_its_resolution_too(time_machine, policies, ana):
    time_machine.move_to(at(MONDAY, 9), tick=False)
    ticket = _open()
    time_machine.move_to(at(MONDAY, 9, 30), tick=False)

    services.ticket_close(ticket=ticket, actor=ana)

    assert _reloaded(ticket).resolution_business_s == 0.5 * HOUR


def test_reopening_clears_the_resolution_time_and_the_next_solve_measures_it_again(
    time_machine, policies, ana
):
    time_machine.move_to(at(MONDAY, 9), tick=False)
    ticket = _open()
    time_machine.move_to(at(MONDAY, 11), tick=False)
    services.ticket_solve(ticket=ticket, actor=ana)
    assert _reloaded(ticket).resolution_business_s == 2 * HOUR
    time_machine.move_to(at(MONDAY, 20), tick=False)

    services.ticket_customer_reply(ticket=ticket, body="It is still wrong.")

    reopened = _reloaded(ticket)
    assert (reopened.status, reopened.resolution_business_s) == (Ticket.Status.OPEN, None)

    time_machine.move_to(at(TUESDAY, 10), tick=False)
    services.ticket_solve(ticket=ticket, actor=ana)

    assert _reloaded(ticket).resolution_business_s == (9 + 1) * HOUR


def test_time_pending_on_the_customer_in_business_hours_is_included(time_machine, policies, ana):
    time_machine.move_to(at(MONDAY, 9), tick=False)
    ticket = _open()
    time_machine.move_to(at(MONDAY, 10), tick=False)
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.PENDING, actor=ana)
    time_machine.move_to(at(MONDAY, 15), tick=False)
    services.ticket_customer_reply(ticket=ticket, body="Here is the invoice number.")
    time_machine.move_to(at(MONDAY, 16), tick=False)

    services.ticket_solve(ticket=ticket, actor=ana)

    solved = _reloaded(ticket)
    assert solved.resolution_business_s == 7 * HOUR
    assert solved.sla_paused_seconds == 5 * HOUR  # what the SLA target was extended by


def test_holidays_do_not_count(time_machine, policies, office, ana):
    Holiday.objects.create(calendar=office, date=MONDAY, name="Local holiday")
    time_machine.move_to(at(FRIDAY, 17), tick=False)
    ticket = _open()
    time_machine.move_to(at(TUESDAY, 10), tick=False)

    services.ticket_reply(ticket=ticket, author=ana, body="Sorry for the wait.")

    assert _reloaded(ticket).first_response_business_s == 2 * HOUR


def test_a_policy_counting_calendar_hours_leaves_the_business_times_empty(
    time_machine, policies, ana
):
    time_machine.move_to(at(FRIDAY, 17), tick=False)
    ticket = _open(Priority.URGENT)
    time_machine.move_to(at(FRIDAY, 18), tick=False)

    services.ticket_reply(ticket=ticket, author=ana, body="On it.")
    services.ticket_solve(ticket=ticket, actor=ana)

    solved = _reloaded(ticket)
    assert solved.first_response_at is not None and solved.solved_at is not None
    assert (solved.first_response_business_s, solved.resolution_business_s) == (None, None)


def test_a_ticket_without_any_policy_has_no_business_times(time_machine, ana):
    time_machine.move_to(at(MONDAY, 9), tick=False)
    ticket = _open()
    time_machine.move_to(at(MONDAY, 10), tick=False)

    services.ticket_reply(ticket=ticket, author=ana, body="On it.")
    services.ticket_solve(ticket=ticket, actor=ana)

    solved = _reloaded(ticket)
    assert (solved.first_response_business_s, solved.resolution_business_s) == (None, None)


# --- Imports ------------------------------------------------------------------------------


def _import(**overrides) -> Ticket:
    fields = {
        "external_id": "Z-1",
        "customer": CustomerFactory(),
        "subject": "Imported",
        "channel": "email",
        "priority": Priority.NORMAL,
        "category": "",
        "team": None,
        "assignee": None,
        "created_at": at(FRIDAY, 17),
        "first_response_at": at(MONDAY, 10),
        "solved_at": at(TUESDAY, 12),
        "closed_at": None,
        "reopen_count": 0,
        **overrides,
    }
    return _reloaded(services.ticket_import_upsert(**fields)[0])


def test_an_imported_ticket_is_measured_in_the_calendar_of_the_policy_matching_it(policies):
    ticket = _import()

    assert ticket.sla_policy is None  # imports run no SLA clock
    assert ticket.first_response_business_s == 2 * HOUR
    assert ticket.resolution_business_s == 13 * HOUR


def test_re_importing_a_ticket_without_its_resolution_clears_its_business_resolution_time(
    policies,
):
    _import()

    ticket = _import(solved_at=None)

    assert (ticket.first_response_business_s, ticket.resolution_business_s) == (2 * HOUR, None)


def test_an_imported_urgent_ticket_counting_calendar_hours_has_no_business_times(policies):
    ticket = _import(priority=Priority.URGENT)

    assert (ticket.first_response_business_s, ticket.resolution_business_s) == (None, None)


def test_a_team_policy_decides_the_calendar_of_an_imported_team_ticket(policies):
    vip = TeamFactory(name="VIP")
    SLAPolicy.objects.create(
        name="VIP normal",
        priority=Priority.NORMAL,
        team=vip,
        calendar=None,
        first_response_minutes=60,
        resolution_minutes=240,
    )

    assert _import(team=vip).first_response_business_s is None
    assert _import(external_id="Z-2", team=None).first_response_business_s == 2 * HOUR


def test_the_import_command_measures_every_row_reading_the_calendar_once(policies, tmp_path):
    CustomerFactory(external_id="C-1")
    rows = [
        f"T-{i},C-1,Invoice,2026-11-27 17:00,2026-11-30 {10 + i}:00,2026-12-01 12:00"
        for i in range(5)
    ]
    path = tmp_path / "tickets.csv"
    path.write_text(
        "external_id,customer_external_id,subject,created_at,first_response_at,solved_at\n"
        + "\n".join(rows)
        + "\n",
        encoding="utf-8",
    )
    with CaptureQueriesContext(connection) as queries:
        call_command("import_tickets", str(path), stdout=StringIO(), stderr=StringIO())

    calendar_reads = [q for q in queries.captured_queries if "tickets_workinghours" in q["sql"]]
    assert len(calendar_reads) == 1
    measured = Ticket.objects.order_by("external_id")
    assert [t.first_response_business_s for t in measured] == [(2 + i) * HOUR for i in range(5)]
    assert {t.resolution_business_s for t in measured} == {13 * HOUR}


# --- The backfill ---------------------------------------------------------------------------


def _historical(created_at: datetime, policy: SLAPolicy | None, **fields) -> Ticket:
    """A ticket answered and solved before CXM recorded business-hours times."""
    return Ticket.objects.create(
        customer=CustomerFactory(),
        subject="From last year",
        created_at=created_at,
        sla_policy=policy,
        **fields,
    )


def backfill(*args: str) -> str:
    out = StringIO()
    call_command("backfill_business_times", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_backfill_measures_old_tickets_as_the_services_would(policies):
    answered = _historical(
        at(FRIDAY, 17),
        policies["normal"],
        first_response_at=at(MONDAY, 10),
        solved_at=at(TUESDAY, 12),
        status=Ticket.Status.SOLVED,
    )
    waiting = _historical(at(FRIDAY, 17), policies["normal"])
    urgent = _historical(
        at(FRIDAY, 17),
        policies["urgent"],
        first_response_at=at(FRIDAY, 18),
        solved_at=at(FRIDAY, 19),
        status=Ticket.Status.SOLVED,
    )
    imported = _historical(
        at(FRIDAY, 17), None, external_id="Z-9", first_response_at=at(MONDAY, 9, 30)
    )
    updated_at = _reloaded(answered).updated_at

    output = backfill()

    answered = _reloaded(answered)
    assert (answered.first_response_business_s, answered.resolution_business_s) == (
        2 * HOUR,
        13 * HOUR,
    )
    assert answered.updated_at == updated_at  # the queue's order does not move
    assert _reloaded(imported).first_response_business_s == 1.5 * HOUR
    for ticket in (waiting, urgent):
        ticket = _reloaded(ticket)
        assert (ticket.first_response_business_s, ticket.resolution_business_s) == (None, None)
    assert "written for 2 of 2 tickets examined" in output


def test_running_the_backfill_again_changes_nothing(policies):
    _historical(at(FRIDAY, 17), policies["normal"], first_response_at=at(MONDAY, 10))
    backfill()

    assert "written for 0 of 0 tickets examined" in backfill()


def test_recompute_measures_again_after_a_holiday_is_added(policies, office):
    ticket = _historical(at(FRIDAY, 17), policies["normal"], first_response_at=at(TUESDAY, 10))
    backfill()
    assert _reloaded(ticket).first_response_business_s == (1 + 9 + 1) * HOUR
    Holiday.objects.create(calendar=office, date=MONDAY, name="Forgotten holiday")

    assert "written for 0 of 0 tickets" in backfill()
    assert "written for 1 of 1 ticket examined" in backfill("--recompute")
    assert _reloaded(ticket).first_response_business_s == 2 * HOUR


def test_the_backfill_walks_the_tickets_in_batches(policies):
    tickets = [
        _historical(at(FRIDAY, 17), policies["normal"], first_response_at=at(MONDAY, 9 + i))
        for i in range(5)
    ]

    assert "written for 5 of 5 tickets examined" in backfill("--batch-size", "2")
    assert [_reloaded(t).first_response_business_s for t in tickets] == [
        (1 + i) * HOUR for i in range(5)
    ]


def test_without_any_business_calendar_the_backfill_has_nothing_to_do():
    _historical(at(FRIDAY, 17), None, first_response_at=at(MONDAY, 10))

    assert "written for 0 of 0 tickets examined" in backfill()


def test_a_calendar_without_working_hours_is_reported_and_its_tickets_left_empty(policies):
    closed_office = BusinessCalendar.objects.create(name="Closed office")
    policies["normal"].calendar = closed_office
    policies["normal"].save()
    ticket = _historical(at(FRIDAY, 17), policies["normal"], first_response_at=at(MONDAY, 10))
    errors = StringIO()

    call_command("backfill_business_times", stdout=StringIO(), stderr=errors)

    assert "Closed office" in errors.getvalue()
    assert _reloaded(ticket).first_response_business_s is None
