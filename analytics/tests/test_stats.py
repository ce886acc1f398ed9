"""Percentiles and durations computed by the database: the same figures on SQLite and
PostgreSQL, equal to percentile_cont's definition."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.kpis._stats import SecondsBetween, distribution, percentiles
from customers.tests.factories import CustomerFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

CREATED = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _tickets_solved_after(durations: list[timedelta | None]) -> None:
    """One ticket per duration, solved that long after it was created (None: unsolved)."""
    customer = CustomerFactory()
    Ticket.objects.bulk_create(
        Ticket(
            customer=customer,
            subject=f"Ticket {index}",
            created_at=CREATED,
            status=Ticket.Status.OPEN if duration is None else Ticket.Status.SOLVED,
            solved_at=None if duration is None else CREATED + duration,
        )
        for index, duration in enumerate(durations)
    )


def _solved_after_seconds(*seconds: float | None) -> None:
    _tickets_solved_after([None if s is None else timedelta(seconds=s) for s in seconds])


RESOLUTION = SecondsBetween("solved_at", "created_at")


def _oracle(values: list[float], fraction: float) -> float:
    """percentile_cont as PostgreSQL documents it, on a Python list (the test's oracle)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lo, hi = math.floor(position), math.ceil(position)
    return ordered[lo] + (position - lo) * (ordered[hi] - ordered[lo])


def test_seconds_between_is_exact_to_the_microsecond():
    _tickets_solved_after([timedelta(days=2, hours=3, seconds=1, microseconds=500_001)])

    value = Ticket.objects.annotate(seconds=RESOLUTION).values_list("seconds", flat=True).get()

    assert value == 2 * 86400 + 3 * 3600 + 1.500001


def test_seconds_between_is_none_when_the_end_is_missing():
    _solved_after_seconds(None)

    assert (
        Ticket.objects.annotate(seconds=RESOLUTION).values_list("seconds", flat=True).get() is None
    )


def test_the_median_of_an_odd_count_is_the_middle_value():
    _solved_after_seconds(300, 10, 20)

    assert percentiles(Ticket.objects.all(), RESOLUTION, [0.5]) == {0.5: 20.0}


def test_the_median_of_an_even_count_is_halfway_between_the_middle_values():
    _solved_after_seconds(10, 20, 30, 1000)

    assert percentiles(Ticket.objects.all(), RESOLUTION, [0.5]) == {0.5: 25.0}


def test_percentiles_match_microsofts_published_percentile_inc_example():
    # Microsoft's PERCENTILE.INC documentation: for the data 1, 3, 2, 4 the 30th
    # percentile is 1.9. PERCENTILE.INC and PostgreSQL's percentile_cont share one
    # definition (linear interpolation between the closest ranks, "type 7").
    _solved_after_seconds(1, 3, 2, 4)

    figures = percentiles(Ticket.objects.all(), RESOLUTION, [0.3, 0.0, 1.0])

    assert figures[0.3] == pytest.approx(1.9)
    assert figures[0.0] == 1.0
    assert figures[1.0] == 4.0


def test_the_90th_percentile_interpolates_between_neighbours():
    # 1..10: position 0.9 * 9 = 8.1, so 9 + 0.1 * (10 - 9).
    _solved_after_seconds(*range(10, 0, -1))

    assert percentiles(Ticket.objects.all(), RESOLUTION)[0.9] == pytest.approx(9.1)


def test_percentiles_leave_out_rows_without_a_value():
    _solved_after_seconds(None, 5, None, 7, None)

    assert percentiles(Ticket.objects.all(), RESOLUTION, [0.5]) == {0.5: 6.0}


def test_percentiles_of_no_rows_are_none_not_zero():
    _solved_after_seconds(None)

    assert percentiles(Ticket.objects.all(), RESOLUTION, [0.5, 0.9]) == {0.5: None, 0.9: None}
    assert percentiles(Ticket.objects.none(), "reopen_count", [0.5]) == {0.5: None}


def test_every_percentile_of_one_value_is_that_value():
    _solved_after_seconds(42)

    assert percentiles(Ticket.objects.all(), RESOLUTION, [0.0, 0.5, 0.9, 1.0]) == {
        0.0: 42.0,
        0.5: 42.0,
        0.9: 42.0,
        1.0: 42.0,
    }


def test_percentiles_take_a_field_name_and_respect_the_querysets_filter():
    customer = CustomerFactory()
    Ticket.objects.bulk_create(
        Ticket(customer=customer, subject="x", reopen_count=count, category=category)
        for count, category in [(0, "a"), (1, "a"), (5, "a"), (100, "b")]
    )

    assert percentiles(Ticket.objects.filter(category="a"), "reopen_count", [0.5]) == {0.5: 1.0}


def test_a_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError):
        percentiles(Ticket.objects.all(), "reopen_count", [90])


def test_distribution_gives_median_mean_p90_and_n():
    _solved_after_seconds(60, 120, 180, 240, 3600, None)

    assert distribution(Ticket.objects.all(), RESOLUTION) == {
        "median": 180.0,
        "mean": pytest.approx(840.0),
        "p90": pytest.approx(2256.0),  # position 3.6: 240 + 0.6 * (3600 - 240)
        "n": 5,
    }


def test_distribution_of_nothing_is_none_with_n_zero():
    assert distribution(Ticket.objects.all(), RESOLUTION) == {
        "median": None,
        "mean": None,
        "p90": None,
        "n": 0,
    }


def test_percentiles_run_in_at_most_two_queries_whatever_the_row_count(
    django_assert_max_num_queries,
):
    _solved_after_seconds(*range(500))

    with django_assert_max_num_queries(2):
        figures = percentiles(Ticket.objects.all(), RESOLUTION, [0.25, 0.5, 0.9])

    assert figures == {0.25: 124.75, 0.5: 249.5, 0.9: pytest.approx(449.1)}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    microseconds=st.lists(
        st.one_of(st.none(), st.integers(min_value=0, max_value=90 * 86400 * 10**6)),
        max_size=25,
    ),
    fractions=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=4),
)
def test_database_percentiles_equal_percentile_cont_over_the_same_rows(microseconds, fractions):
    with transaction.atomic():
        _tickets_solved_after(
            [None if us is None else timedelta(microseconds=us) for us in microseconds]
        )
        values = [
            timedelta(microseconds=us).total_seconds() for us in microseconds if us is not None
        ]

        figures = percentiles(Ticket.objects.all(), RESOLUTION, fractions)
        summary = distribution(Ticket.objects.all(), RESOLUTION)
        transaction.set_rollback(True)

    if not values:
        assert figures == dict.fromkeys(fractions)
        assert summary == {"median": None, "mean": None, "p90": None, "n": 0}
        return
    assert figures == {p: _oracle(values, p) for p in fractions}
    assert summary["n"] == len(values)
    assert summary["median"] == _oracle(values, 0.5)
    assert summary["p90"] == _oracle(values, 0.9)
    assert summary["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12)
