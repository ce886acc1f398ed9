"""Business-hours arithmetic: the clock counts only working time."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from tickets.sla import Schedule, add_business_time, business_seconds_between

MADRID = ZoneInfo("Europe/Madrid")
HOUR = 3600


def office(holidays=()) -> Schedule:
    """Monday to Friday, 9:00-14:00 and 15:00-18:00 in Madrid."""
    day = ((time(9), time(14)), (time(15), time(18)))
    return Schedule(MADRID, dict.fromkeys(range(5), day), frozenset(holidays))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=MADRID)


def test_a_ticket_opened_friday_evening_is_due_monday():
    friday_evening = at(2026, 11, 27, 19, 30)
    assert add_business_time(friday_evening, 4 * HOUR, office()) == at(2026, 11, 30, 13, 0)


def test_the_lunch_break_does_not_count():
    assert add_business_time(at(2026, 11, 30, 13, 0), 2 * HOUR, office()) == at(2026, 11, 30, 16, 0)


def test_a_holiday_is_skipped():
    monday = at(2026, 12, 7, 17, 0)
    due = add_business_time(monday, 2 * HOUR, office(holidays=[date(2026, 12, 8)]))
    assert due == at(2026, 12, 9, 10, 0)


def test_without_a_calendar_every_hour_counts():
    friday_evening = at(2026, 11, 27, 19, 30)
    assert add_business_time(friday_evening, 4 * HOUR, None) == at(2026, 11, 27, 23, 30)


def test_working_seconds_between_two_moments_skip_nights_and_weekends():
    schedule = office()
    assert business_seconds_between(at(2026, 11, 27, 17, 0), at(2026, 11, 30, 10, 0), schedule) == (
        2 * HOUR
    )
    assert business_seconds_between(at(2026, 11, 28, 10, 0), at(2026, 11, 29, 10, 0), schedule) == 0


def test_adding_then_measuring_gives_back_the_same_time():
    schedule = office(holidays=[date(2026, 12, 8)])
    start = at(2026, 12, 4, 16, 45)
    for hours in (0.5, 3, 8, 17, 40):
        due = add_business_time(start, hours * HOUR, schedule)
        assert business_seconds_between(start, due, schedule) == pytest.approx(hours * HOUR)


def test_the_clock_is_right_across_the_daylight_saving_change():
    schedule = Schedule(MADRID, {d: ((time(0), time(0)),) for d in range(7)})
    before_change = at(2026, 10, 24, 12, 0)
    assert business_seconds_between(before_change, at(2026, 10, 25, 12, 0), schedule) == 25 * HOUR


def test_a_calendar_without_working_hours_is_refused():
    with pytest.raises(ValueError, match="working hours"):
        Schedule(MADRID, {})


def test_a_span_inside_one_night_of_a_round_the_clock_calendar_is_measured_in_real_time():
    schedule = Schedule(MADRID, {d: ((time(0), time(0)),) for d in range(7)})
    # 01:30 to 03:30 on the night the clocks go back is three real hours.
    assert business_seconds_between(at(2026, 10, 25, 1, 30), at(2026, 10, 25, 3, 30), schedule) == (
        3 * HOUR
    )
