"""SLA clocks on tickets, driven through the services with the clock frozen.

The office works Monday to Friday, 9:00-18:00 in Madrid. Default targets: normal
4 h / 16 h and high 1 h / 8 h in business hours, urgent 30 min / 4 h in calendar
hours; the VIP team has its own, stricter, normal-priority policy."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from tickets import services
from tickets.models import BusinessCalendar, Holiday, SLAPolicy, Team, Ticket, WorkingHours
from tickets.sla import business_seconds_between, schedule_for
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
HOUR = 3600
Priority = Ticket.Priority


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


@pytest.fixture
def office() -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name="Madrid office", time_zone="Europe/Madrid")
    for weekday in range(5):
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, opens=time(9), closes=time(18)
        )
    return calendar


@pytest.fixture
def vip_team() -> Team:
    return TeamFactory(name="VIP")


@pytest.fixture
def policies(office, vip_team) -> dict[str, SLAPolicy]:
    def policy(name, priority, first, resolution, calendar=office, team=None):
        return SLAPolicy.objects.create(
            name=name,
            priority=priority,
            calendar=calendar,
            team=team,
            first_response_minutes=first * 60,
            resolution_minutes=resolution * 60,
        )

    return {
        "normal": policy("Normal", Priority.NORMAL, 4, 16),
        "high": policy("High", Priority.HIGH, 1, 8),
        "urgent": policy("Urgent", Priority.URGENT, 0.5, 4, calendar=None),
        "vip": policy("VIP normal", Priority.NORMAL, 1, 4, team=vip_team),
    }


@pytest.fixture
def support(policies) -> Team:
    return TeamFactory(name="Support", members=[agent(username="ana")])


@pytest.fixture
def ana(support):
    return support.members.get()


def _open(priority: str = Priority.NORMAL, team: Team | None = None) -> Ticket:
    return services.ticket_create(
        customer=CustomerFactory(), subject="The invoice is wrong", priority=priority, team=team
    )


def test_a_ticket_opened_friday_evening_is_due_monday_morning(time_machine, policies):
    time_machine.move_to(at(2026, 11, 27, 19, 30), tick=False)

    ticket = _open()

    assert ticket.sla_policy == policies["normal"]
    assert ticket.first_response_due_at == at(2026, 11, 30, 13, 0)
    # 9 working hours on Monday, the other 7 on Tuesday.
    assert ticket.resolution_due_at == at(2026, 12, 1, 16, 0)


def test_a_pending_pause_extends_the_resolution_target_by_the_paused_working_time(
    time_machine, policies, office, support, ana
):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    ticket = _open(team=support)
    original_due = ticket.resolution_due_at
    assert original_due == at(2026, 12, 1, 17, 0)

    time_machine.move_to(at(2026, 11, 30, 12, 0), tick=False)
    services.ticket_reply(ticket=ticket, author=ana, body="Could you send us the invoice?")
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.PENDING, actor=ana)
    assert ticket.resolution_due_at is None
    assert ticket.sla_paused_at == at(2026, 11, 30, 12, 0)

    # 6 working hours on Monday afternoon and 2 on Tuesday morning pass on hold.
    time_machine.move_to(at(2026, 12, 1, 11, 0), tick=False)
    services.ticket_customer_reply(ticket=ticket, body="Here it is.")

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.sla_paused_at is None
    assert ticket.sla_paused_seconds == 8 * HOUR
    assert ticket.resolution_due_at == at(2026, 12, 2, 16, 0)
    schedule = schedule_for(office)
    assert business_seconds_between(original_due, ticket.resolution_due_at, schedule) == 8 * HOUR
    # The first-response clock is not paused: the reply was on time.
    assert ticket.first_response_due_at == at(2026, 11, 30, 14, 0)
    assert ticket.first_response_breached is False


def test_two_pending_pauses_add_up(time_machine, policies, support, ana):
    time_machine.move_to(at(2026, 11, 30, 9, 0), tick=False)
    ticket = _open(team=support)
    for pause_at, answer_at in (((30, 10), (30, 11)), ((30, 15), (30, 17))):
        time_machine.move_to(at(2026, 11, *pause_at, 0), tick=False)
        services.ticket_set_status(ticket=ticket, status=Ticket.Status.PENDING, actor=ana)
        time_machine.move_to(at(2026, 11, *answer_at, 0), tick=False)
        services.ticket_customer_reply(ticket=ticket, body="Any news?")

    ticket.refresh_from_db()
    assert ticket.sla_paused_seconds == 3 * HOUR
    # 16 working hours from Monday 9:00 end Tuesday 16:00; three more on hold: Wednesday 10:00.
    assert ticket.resolution_due_at == at(2026, 12, 2, 10, 0)


def test_solving_a_pending_ticket_leaves_the_paused_time_out(time_machine, policies, support, ana):
    time_machine.move_to(at(2026, 11, 30, 9, 0), tick=False)
    ticket = _open(priority=Priority.HIGH, team=support)  # resolution due Monday 17:00
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.PENDING, actor=ana)

    time_machine.move_to(at(2026, 12, 1, 9, 30), tick=False)
    services.ticket_solve(ticket=ticket, actor=ana)

    ticket.refresh_from_db()
    assert ticket.sla_paused_seconds == 8.5 * HOUR
    assert ticket.resolution_due_at == at(2026, 12, 1, 16, 30)
    assert ticket.resolution_breached is False


def test_a_holiday_is_skipped(time_machine, policies, office):
    Holiday.objects.create(calendar=office, date=date(2026, 12, 8), name="Inmaculada Concepción")
    time_machine.move_to(at(2026, 12, 7, 17, 0), tick=False)

    ticket = _open()

    # One hour on Monday, none on the holiday Tuesday, three on Wednesday.
    assert ticket.first_response_due_at == at(2026, 12, 9, 12, 0)


def test_a_calendar_hours_policy_counts_nights_and_weekends(time_machine, policies):
    time_machine.move_to(at(2026, 11, 27, 19, 30), tick=False)

    ticket = _open(priority=Priority.URGENT)

    assert ticket.sla_policy == policies["urgent"]
    assert ticket.first_response_due_at == at(2026, 11, 27, 20, 0)
    assert ticket.resolution_due_at == at(2026, 11, 27, 23, 30)


@pytest.mark.parametrize(
    ("reply_at", "breached"),
    [((10, 45), False), ((11, 0), False), ((11, 30), True)],
)
def test_the_first_reply_after_the_target_marks_the_first_response_breached(
    time_machine, policies, ana, reply_at, breached
):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    ticket = _open(priority=Priority.HIGH)  # first response due 11:00

    time_machine.move_to(at(2026, 11, 30, *reply_at), tick=False)
    services.ticket_reply(ticket=ticket, author=ana, body="We are on it.")

    ticket.refresh_from_db()
    assert ticket.first_response_breached is breached


def test_a_late_second_reply_does_not_undo_an_on_time_first_response(time_machine, policies, ana):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    ticket = _open(priority=Priority.HIGH)
    time_machine.move_to(at(2026, 11, 30, 10, 30), tick=False)
    services.ticket_reply(ticket=ticket, author=ana, body="We are on it.")

    time_machine.move_to(at(2026, 12, 2, 10, 0), tick=False)
    services.ticket_reply(ticket=ticket, author=ana, body="Still on it.")

    ticket.refresh_from_db()
    assert ticket.first_response_breached is False


@pytest.mark.parametrize(
    ("solved_at", "breached"),
    [(at(2026, 11, 30, 17, 59), False), (at(2026, 12, 1, 9, 30), True)],
)
def test_solving_after_the_target_marks_the_resolution_breached(
    time_machine, policies, ana, solved_at, breached
):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    ticket = _open(priority=Priority.HIGH)  # resolution due Monday 18:00

    time_machine.move_to(solved_at, tick=False)
    services.ticket_solve(ticket=ticket, actor=ana)

    ticket.refresh_from_db()
    assert ticket.resolution_due_at == at(2026, 11, 30, 18, 0)
    assert ticket.resolution_breached is breached


def test_changing_the_priority_retargets_the_clocks(time_machine, policies, ana):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    ticket = _open()
    assert ticket.first_response_due_at == at(2026, 11, 30, 14, 0)

    time_machine.move_to(at(2026, 11, 30, 10, 15), tick=False)
    services.ticket_set_priority(ticket=ticket, priority=Priority.HIGH, actor=ana)

    ticket.refresh_from_db()
    assert ticket.sla_policy == policies["high"]
    # Counted from when the ticket was opened, not from the change.
    assert ticket.first_response_due_at == at(2026, 11, 30, 11, 0)
    assert ticket.resolution_due_at == at(2026, 11, 30, 18, 0)


def test_moving_to_a_team_with_its_own_policy_retargets_the_clocks(
    time_machine, policies, vip_team, ana
):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    ticket = _open()
    assert ticket.sla_policy == policies["normal"]

    services.ticket_assign(ticket=ticket, assignee=None, team=vip_team, actor=ana)

    ticket.refresh_from_db()
    assert ticket.sla_policy == policies["vip"]
    assert ticket.first_response_due_at == at(2026, 11, 30, 11, 0)
    assert ticket.resolution_due_at == at(2026, 11, 30, 14, 0)


def test_a_team_without_its_own_policy_uses_the_default(time_machine, policies, support):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)

    assert _open(team=support).sla_policy == policies["normal"]


def test_a_priority_without_a_policy_has_no_due_times(time_machine, policies, ana):
    time_machine.move_to(at(2026, 11, 30, 10, 0), tick=False)
    low = _open(priority=Priority.LOW)
    assert (low.sla_policy, low.first_response_due_at, low.resolution_due_at) == (None, None, None)

    high = _open(priority=Priority.HIGH)
    services.ticket_set_priority(ticket=high, priority=Priority.LOW, actor=ana)

    high.refresh_from_db()
    assert (high.sla_policy, high.first_response_due_at, high.resolution_due_at) == (
        None,
        None,
        None,
    )
