"""The progress reporter long commands show on a terminal and end with."""

from io import StringIO

import pytest
from django.core.management.base import OutputWrapper
from django.utils import translation

from cxm.lib.progress import Progress, format_seconds


class Clock:
    """A clock the test moves by hand, so rates and times left are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_the_summary_line_gives_count_time_and_rate(clock):
    stream = StringIO()

    with Progress(1200, "customers", stream, clock=clock) as progress:
        for _ in range(12):
            clock.now += 0.25
            progress.advance(100)
        clock.now += 0.2

    assert stream.getvalue() == "customers: 1,200 rows in 3.2 s (375 rows/s)\n"


def test_a_terminal_sees_count_percentage_rate_and_time_left_redrawn_in_place(clock):
    stream = StringIO()

    with Progress(1000, "tickets.csv", stream, clock=clock, is_terminal=True) as progress:
        clock.now += 2
        progress.advance(250)
        live = stream.getvalue()
        clock.now += 2
        progress.advance(250)

    assert "\rtickets.csv: 250 of 1,000 rows (25%), 125 rows/s, 6.0 s left" in live
    assert "\n" not in live
    output = stream.getvalue()
    assert "500 of 1,000 rows (50%), 125 rows/s, 4.0 s left" in output
    assert output.endswith("\rtickets.csv: 500 rows in 4.0 s (125 rows/s)\n")


def test_a_log_gets_plain_lines_now_and_then_and_no_carriage_returns(clock):
    stream = StringIO()

    with Progress(60, "seed", stream, clock=clock, log_every=10) as progress:
        for _ in range(60):
            clock.now += 0.5
            progress.advance()

    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "seed: 20 of 60 rows (33%), 2 rows/s, 20 s left"
    assert lines[-1] == "seed: 60 rows in 30 s (2 rows/s)"
    assert len(lines) == 4


def test_without_a_total_it_counts_and_gives_no_time_left(clock):
    stream = StringIO()

    with Progress(None, "events", stream, clock=clock, is_terminal=True) as progress:
        clock.now += 1
        progress.advance(42)

    assert "events: 42 rows, 42 rows/s" in stream.getvalue()
    assert "left" not in stream.getvalue()


def test_an_interrupted_run_ends_the_live_line_without_a_summary(clock):
    stream = StringIO()

    with (
        pytest.raises(KeyboardInterrupt),
        Progress(100, "big.csv", stream, clock=clock, is_terminal=True) as progress,
    ):
        clock.now += 1
        progress.advance(10)
        raise KeyboardInterrupt

    assert " in " not in stream.getvalue()
    assert stream.getvalue().endswith("\r")


def test_it_writes_to_a_commands_output_wrapper_without_extra_newlines(clock):
    out = StringIO()

    with Progress(2, "users", OutputWrapper(out), clock=clock) as progress:
        clock.now += 1
        progress.advance(2)

    assert out.getvalue() == "users: 2 rows in 1.0 s (2 rows/s)\n"


def test_numbers_and_times_follow_the_active_language(clock):
    stream = StringIO()

    with translation.override("es"), Progress(2500, "clientes", stream, clock=clock) as progress:
        clock.now += 2.5
        progress.advance(2500)

    # Spanish groups thousands with a no-break space and writes a decimal comma.
    assert stream.getvalue().startswith("clientes: 2\xa0500 ")
    assert " 2,5 s " in stream.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.42, "0.4 s"), (42, "42 s"), (185, "3 min 05 s"), (3725, "1 h 02 min")],
)
def test_durations_read_like_people_say_them(seconds, text):
    assert format_seconds(seconds) == text
