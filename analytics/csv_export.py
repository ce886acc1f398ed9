"""The CSV exports of the analytics pages: one writer for every table, so each export
neutralises formula-like text the same way and says "no data" with an empty cell.

Small tables (a breakdown, a trend, a drivers table) are answered in one piece; row
sets that grow with the data (the drill-down, the at-risk list) are streamed, so a year
of tickets never sits in memory."""

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse

# Spreadsheets run a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CONTENT_TYPE = "text/csv; charset=utf-8"


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading quote, so a name like
    '=HYPERLINK(…)' stays text; numbers stay numbers (a negative NPS is not a formula)
    and None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """csv.writer writes into this and gets the line back, to yield it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def csv_response(
    filename: str,
    header: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    streaming: bool = False,
) -> HttpResponse | StreamingHttpResponse:
    """An attachment named `filename` holding the header and the rows; `streaming`
    writes the rows as the client reads them (pass a lazy iterable: a queryset's
    .iterator(), a generator)."""
    response_class = StreamingHttpResponse if streaming else HttpResponse
    response = response_class(csv_lines(header, rows), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
