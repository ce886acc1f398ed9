"""The span of time the product accepts from outside: the API and the CSV imports.

Nothing a help desk records happened before 1970 or will happen after 2099, and outside
that span dates go wrong in ways nobody means: before 1901 Madrid's offset was local
mean time, -00:14:44, which RFC 3339 (the API's date-time format) cannot write, and
near the years 1 and 9999 a change of time zone or a period before or after leaves the
calendar altogether.
"""

from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _refuse() -> ValidationError:
    return ValidationError(
        _("Use a date from %(first)d to %(last)d.")
        % {"first": EARLIEST.year, "last": LATEST.year - 1},
        code="out_of_span",
    )


def validate_timestamp(value: datetime) -> None:
    """A validator for aware datetimes: refuse those outside the span."""
    if not EARLIEST <= value < LATEST:
        raise _refuse()


def validate_day(value: date) -> None:
    """A validator for calendar days: refuse those outside the span."""
    if not EARLIEST.date() <= value < LATEST.date():
        raise _refuse()
