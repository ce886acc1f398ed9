"""Hypothesis fuzz of the four CSV imports (customers, purchases, tickets, responses).

Whatever file a user hands to `manage.py import_*` (arbitrary bytes, another encoding,
a megabyte in one cell, columns missing, repeated or extra, blank lines, a quote never
closed, one bad row among good ones), the command either imports the whole file or
stops with a report that says where (`file:line: column: message`) and has changed
nothing. It never ends in a traceback. With --skip-invalid the good rows go in and the
bad ones are listed.

The runs are bounded and derandomized, so CI tries the same files every time.
"""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import agent
from customers.management.commands.import_customers import CustomerImporter
from customers.management.commands.import_purchases import PurchaseImporter
from customers.models import Customer, CustomerEvent, LifecycleChange, Purchase
from customers.tests.factories import CustomerFactory
from cxm.lib.csv_import import Importer
from surveys.management.commands.import_responses import ResponseImporter
from surveys.models import Answer, Question, Response, Survey
from tickets.management.commands.import_tickets import TicketImporter
from tickets.models import Message, Ticket, TicketEvent
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Every table an import writes to, directly or through a service.
WRITTEN = (
    Customer,
    LifecycleChange,
    CustomerEvent,
    Purchase,
    Ticket,
    TicketEvent,
    Message,
    Survey,
    Question,
    Response,
    Answer,
)
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Text a person types in a free-text cell: any character but NUL and lone surrogates
# (neither can come out of a UTF-8 file), quotes, delimiters and line breaks included.
FREE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@dataclass(frozen=True)
class Kind:
    """One import: its command, its header, a valid row, and values that are surely
    invalid in some of its columns whatever the rest of the row says."""

    command: str
    importer: type[Importer]
    columns: tuple[str, ...]
    # Row number (unique within the file) and a free text → the row's values by column.
    good_row: Callable[[int, str], dict[str, str]]
    bad_values: dict[str, tuple[str, ...]]

    @property
    def required(self) -> tuple[str, ...]:
        return self.importer.required_columns


# Outside 1970-2099, and near the years 1 and 9999 a zone's offset leaves the calendar.
BAD_TIMESTAMPS = ("2024-02-30", "yesterday", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59-05:00")

KINDS = {
    "customers": Kind(
        command="import_customers",
        importer=CustomerImporter,
        columns=(
            "external_id",
            "name",
            "email",
            "phone",
            "language",
            "segment",
            "stage",
            "became_customer_at",
            "churned_at",
        ),
        good_row=lambda n, text: {
            "external_id": f"N-{n}",
            "name": text.strip() or "Ana",
            "email": f"n{n}@example.com",
            "phone": "",
            "language": "es",
            "segment": "smb",
            "stage": "customer",
            "became_customer_at": "2024-01-05 09:30",
            "churned_at": "",
        },
        bad_values={
            "external_id": ("", "x" * 101),
            "name": ("", "x" * 201),
            "email": ("not an email",),
            "language": ("klingon",),
            "stage": ("vip",),
            "became_customer_at": BAD_TIMESTAMPS,
            "churned_at": ("2020-01-01",),  # earlier than became_customer_at
        },
    ),
    "purchases": Kind(
        command="import_purchases",
        importer=PurchaseImporter,
        columns=("customer_external_id", "occurred_at", "amount", "margin", "currency", "kind"),
        good_row=lambda n, text: {
            "customer_external_id": "C-1",
            "occurred_at": f"2024-03-01T10:{n % 60:02d}:{n // 60:02d}Z",
            "amount": "120.50",
            "margin": "30",
            "currency": "eur",
            "kind": "cross-sell",
        },
        bad_values={
            "customer_external_id": ("", "NOPE"),
            "occurred_at": ("", *BAD_TIMESTAMPS),
            "amount": ("-1", "abc", "NaN", "1e999"),
            "margin": ("", "12.345"),
            "currency": ("EURO",),
            "kind": ("gift",),
        },
    ),
    "tickets": Kind(
        command="import_tickets",
        importer=TicketImporter,
        columns=(
            "external_id",
            "customer_external_id",
            "subject",
            "channel",
            "priority",
            "category",
            "team",
            "assignee_username",
            "created_at",
            "first_response_at",
            "solved_at",
            "closed_at",
            "reopen_count",
        ),
        good_row=lambda n, text: {
            "external_id": f"X-{n}",
            "customer_external_id": "C-1",
            "subject": text.strip() or "Printer on fire",
            "channel": "chat",
            "priority": "high",
            "category": "billing",
            "team": "support",
            "assignee_username": "agent",
            "created_at": "2024-05-01 09:00",
            "first_response_at": "2024-05-01 10:00",
            "solved_at": "",
            "closed_at": "",
            "reopen_count": "0",
        },
        bad_values={
            "external_id": ("", "x" * 101),
            "customer_external_id": ("NOPE",),
            "subject": ("", "x" * 251),
            "channel": ("pigeon",),
            "priority": ("whenever",),
            "team": ("No such team",),
            "assignee_username": ("nobody",),
            "created_at": ("", *BAD_TIMESTAMPS),
            "reopen_count": ("-1", "many", "99999999999999999999"),
        },
    ),
    "responses": Kind(
        command="import_responses",
        importer=ResponseImporter,
        columns=(
            "customer_external_id",
            "survey",
            "question_type",
            "score",
            "comment",
            "answered_at",
            "ticket_external_id",
        ),
        good_row=lambda n, text: {
            "customer_external_id": "C-1",
            "survey": "NPS 2023",
            "question_type": "nps",
            "score": str(n % 11),
            "comment": text,
            "answered_at": f"2023-11-05T10:{n % 60:02d}:{n // 60:02d}+01:00",
            "ticket_external_id": "T-9",
        },
        bad_values={
            "customer_external_id": ("", "NOPE"),
            "survey": ("", "x" * 201),
            "question_type": ("stars",),
            "score": ("", "11", "ten"),
            "answered_at": ("", "2999-01-01", *BAD_TIMESTAMPS),
            "ticket_external_id": ("T-404",),
        },
    ),
}


@pytest.fixture(autouse=True)
def help_desk(settings):
    """What the good rows refer to: customers C-1 and C-2, team Support with agent
    `agent`, and ticket T-9 of C-1."""
    settings.TIME_ZONE = "Europe/Madrid"
    ana = CustomerFactory(external_id="C-1")
    CustomerFactory(external_id="C-2")
    TeamFactory(name="Support", members=[agent(username="agent")])
    TicketFactory(customer=ana, external_id="T-9")


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table an import may touch."""
    return {model.__name__: list(model.objects.order_by("pk").values_list()) for model in WRITTEN}


def run(command: str, path: Path, *args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(command, str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def refusal(command: str, path: Path, *args: str) -> str:
    """The command's report when it refuses the file; the file must have changed nothing."""
    before = snapshot()
    with pytest.raises(CommandError) as raised:
        run(command, path, *args)
    assert snapshot() == before
    return str(raised.value)


@dataclass
class CsvFile:
    text: str
    # Physical line on which each data row starts (header = line 1).
    row_lines: list[int]


def csv_text(
    columns: list[str],
    rows: list[list[str]],
    *,
    delimiter: str = ",",
    terminator: str = "\n",
    blank_lines_before: list[int] | None = None,
) -> CsvFile:
    """A CSV file as a spreadsheet would save it, with `blank_lines_before[i]` blank lines
    before row i, and the line each row starts on."""

    def line_of(values: list[str]) -> str:
        out = io.StringIO(newline="")
        # Written with CRLF so that any value holding a CR or an LF is quoted.
        csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerow(values)
        return out.getvalue()[:-2] + terminator

    blank_lines_before = blank_lines_before or [0] * len(rows)
    text, line, row_lines = line_of(columns), 2, []
    for row, blanks in zip(rows, blank_lines_before, strict=True):
        text += terminator * blanks
        line += blanks
        row_lines.append(line)
        written = line_of(row)
        text += written
        line += len(LINE_BREAK.findall(written))
    return CsvFile(text, row_lines)


def write(tmp_path: Path, content: str | bytes, name: str = "import.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# -- strategies ----------------------------------------------------------------------


@st.composite
def good_files(draw, kind: Kind, *, max_rows: int = 4) -> tuple[list[list[str]], dict]:
    """Valid rows (values in header order) and how the file is laid out."""
    texts = draw(st.lists(FREE_TEXT, min_size=1, max_size=max_rows), label="free texts")
    rows = [
        [kind.good_row(n, text)[column] for column in kind.columns] for n, text in enumerate(texts)
    ]
    return rows, draw(layouts(len(rows)))


def layouts(rows: int) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "delimiter": st.sampled_from([",", ";", "\t"]),
            "terminator": st.sampled_from(["\n", "\r\n"]),
            "blank_lines_before": st.lists(st.integers(0, 2), min_size=rows, max_size=rows),
        }
    )


@st.composite
def files_with_one_bad_row(draw, kind: Kind) -> tuple[CsvFile, int]:
    """Good rows and one row that is surely invalid (a bad value, a missing or an extra
    cell), somewhere among them: the file and the index of the bad row."""
    rows, layout = draw(good_files(kind))
    bad = [kind.good_row(999, "x")[column] for column in kind.columns]
    flaw = draw(st.sampled_from(["value", "missing cell", "extra cell"]), label="flaw")
    if flaw == "value":
        column = draw(st.sampled_from(sorted(kind.bad_values)), label="column")
        bad[kind.columns.index(column)] = draw(st.sampled_from(kind.bad_values[column]))
    elif flaw == "missing cell":
        bad.pop()
    else:
        bad.append(draw(FREE_TEXT.filter(str.strip), label="extra cell"))
    index = draw(st.integers(0, len(rows)), label="bad row")
    rows.insert(index, bad)
    layout["blank_lines_before"].insert(index, draw(st.integers(0, 2), label="blank lines"))
    return csv_text(list(kind.columns), rows, **layout), index


kinds = st.sampled_from(sorted(KINDS))


# -- properties ----------------------------------------------------------------------


@FUZZ
@given(data=st.data(), name=kinds)
def test_a_good_file_imports_every_row_whatever_its_layout(tmp_path, data, name):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    path = write(tmp_path, csv_text(list(kind.columns), rows, **layout).text)

    stdout, _stderr = run(kind.command, path)

    assert f"{path}: {len(rows)} row" in stdout
    assert ", 0 skipped in " in stdout


@FUZZ
@given(data=st.data(), name=kinds)
def test_one_bad_row_imports_nothing_and_says_on_which_line(tmp_path, data, name):
    kind = KINDS[name]
    made, bad = data.draw(files_with_one_bad_row(kind))
    path = write(tmp_path, made.text)

    report = refusal(kind.command, path)

    assert "1 row has errors, so nothing was imported" in report
    assert f"\n{path}:{made.row_lines[bad]}: " in report


@FUZZ
@given(data=st.data(), name=kinds)
def test_with_skip_invalid_the_good_rows_go_in_and_the_bad_one_is_listed(tmp_path, data, name):
    kind = KINDS[name]
    made, bad = data.draw(files_with_one_bad_row(kind))
    path = write(tmp_path, made.text)
    good = len(made.row_lines) - 1

    stdout, stderr = run(kind.command, path, "--skip-invalid")

    assert f"{path}:{made.row_lines[bad]}: " in stderr
    # Earlier examples may have imported the same rows: then they are updated.
    counts = re.search(
        rf"{re.escape(str(path))}: (\d+) rows — (\d+) created, (\d+) updated, 1 skipped", stdout
    )
    assert counts
    assert int(counts[1]) == good + 1
    assert int(counts[2]) + int(counts[3]) == good


@FUZZ
@given(data=st.data(), name=kinds)
def test_any_text_in_any_cell_is_imported_or_refused_never_a_crash(tmp_path, data, name):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    for row in rows:
        for column in data.draw(st.sets(st.sampled_from(range(len(kind.columns)))), label="cells"):
            row[column] = data.draw(
                st.one_of(
                    FREE_TEXT, st.sampled_from(kind.bad_values.get(kind.columns[column], ("",)))
                ),
                label=kind.columns[column],
            )
    made = csv_text(list(kind.columns), rows, **layout)
    path = write(tmp_path, made.text)
    before = snapshot()

    try:
        run(kind.command, path)
    except CommandError as refused:
        assert str(refused).startswith(f"{path}")
        assert snapshot() == before


@FUZZ
@given(data=st.binary(max_size=300), name=kinds, header=st.booleans())
def test_arbitrary_bytes_are_imported_or_refused_never_a_crash(tmp_path, data, name, header):
    kind = KINDS[name]
    path = write(tmp_path, (",".join(kind.columns) + "\n").encode() * header + data)
    before = snapshot()

    try:
        run(kind.command, path)
    except CommandError as refused:
        # Whole-file problems name the file; row problems its line, and the column.
        assert str(refused).startswith(f"{path}")
        assert snapshot() == before


# -- every flaw, once each -------------------------------------------------------------


BAD_CELLS = [
    (name, column, value)
    for name, kind in sorted(KINDS.items())
    for column, values in sorted(kind.bad_values.items())
    for value in values
]


@pytest.mark.parametrize(("name", "column", "value"), BAD_CELLS)
def test_each_bad_value_is_reported_on_its_line_and_column(tmp_path, name, column, value):
    kind = KINDS[name]
    rows = [[kind.good_row(n, "Ana")[c] for c in kind.columns] for n in range(2)]
    rows[1][kind.columns.index(column)] = value
    path = write(tmp_path, csv_text(list(kind.columns), rows).text)

    report = refusal(kind.command, path)

    assert f"\n{path}:3: {column}: " in report


@FUZZ
@given(data=st.data(), name=kinds, encoding=st.sampled_from(["latin-1", "cp1252", "mac-roman"]))
def test_a_file_saved_in_another_encoding_is_refused_at_its_first_foreign_letter(
    tmp_path, data, name, encoding
):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    rows = [[value.encode("ascii", "replace").decode() for value in row] for row in rows]
    foreign = data.draw(st.integers(0, len(rows) - 1), label="row with a foreign letter")
    rows[foreign][0] = "García"
    made = csv_text(list(kind.columns), rows, **{**layout, "terminator": "\n"})
    path = write(tmp_path, made.text.encode(encoding))

    report = refusal(kind.command, path)

    assert report.startswith(f"{path}:{made.row_lines[foreign]}: the file is not UTF-8 text")
    assert "Nothing was imported." in report


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize(
    ("encoding", "says"),
    [
        # Excel's "Unicode text" starts with a byte order mark that UTF-8 never has.
        ("utf-16", ":1: the file is not UTF-8 text (byte 0xff); save it as “CSV UTF-8”"),
        ("utf-32", ":1: the file is not UTF-8 text (byte 0xff); save it as “CSV UTF-8”"),
        # Without the mark, every other byte of plain text is NUL.
        ("utf-16-be", " is not a CSV text file (it contains NUL characters)."),
    ],
)
def test_a_utf16_or_utf32_file_is_refused(tmp_path, name, encoding, says):
    kind = KINDS[name]
    rows = [[kind.good_row(0, "Ana")[c] for c in kind.columns]]
    path = write(tmp_path, csv_text(list(kind.columns), rows).text.encode(encoding))

    assert refusal(kind.command, path).startswith(f"{path}{says}")


@FUZZ
@given(
    data=st.data(), name=kinds, junk=st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x80"])
)
def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path, data, name, junk):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    rows = [[value.replace("\r", " ") for value in row] for row in rows]
    at = data.draw(st.integers(0, len(rows) - 1), label="row with the bad bytes")
    rows[at][0] = "JUNK" + rows[at][0]
    made = csv_text(list(kind.columns), rows, **layout)
    path = write(tmp_path, made.text.encode().replace(b"JUNK", junk))

    report = refusal(kind.command, path)

    assert report.startswith(f"{path}:{made.row_lines[at]}: the file is not UTF-8 text")


@FUZZ
@given(data=st.data(), name=kinds, size=st.sampled_from([2**17 + 1, 10**6]))
def test_a_megabyte_in_one_cell_is_refused_with_the_line_it_starts_on(tmp_path, data, name, size):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    at = data.draw(st.integers(0, len(rows) - 1), label="row with the huge cell")
    column = data.draw(st.integers(0, len(kind.columns) - 1), label="column")
    rows[at][column] = "x" * size
    made = csv_text(list(kind.columns), rows, **layout)
    path = write(tmp_path, made.text)

    report = refusal(kind.command, path)

    assert report == (
        f"{path}:{made.row_lines[at]}: a value is longer than 131,072 characters; "
        "is a closing quote missing?"
    )


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_long_cell_within_the_csv_limit_is_a_row_error_on_its_column(tmp_path, name):
    kind = KINDS[name]
    row = [kind.good_row(0, "Ana")[c] for c in kind.columns]
    column = kind.required[0]
    row[kind.columns.index(column)] = "x" * 100_000
    path = write(tmp_path, csv_text(list(kind.columns), [row]).text)

    report = refusal(kind.command, path)

    assert f"\n{path}:2: {column}: " in report


@FUZZ
@given(
    data=st.data(),
    name=kinds,
    flaw=st.sampled_from(['"never closed', '"closed"then more', 'a,"b']),
)
def test_an_unbalanced_quote_is_refused_with_the_line_of_its_row(tmp_path, data, name, flaw):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    at = data.draw(st.integers(0, len(rows) - 1), label="row with the quote")
    rows[at][0] = "FLAW"
    made = csv_text(list(kind.columns), rows, **layout)
    # The flaw replaces the row's first cell as written, without any quoting.
    flawed = made.text.replace("FLAW", flaw.replace(",", layout["delimiter"]), 1)
    path = write(tmp_path, flawed)

    report = refusal(kind.command, path)

    assert report.startswith(f"{path}:{made.row_lines[at]}: ")
    assert ("this is not valid CSV" in report) or ("row has errors" in report)


@pytest.mark.parametrize(
    ("name", "column"),
    [(name, column) for name, kind in sorted(KINDS.items()) for column in kind.required],
)
def test_a_missing_required_column_is_named(tmp_path, name, column):
    kind = KINDS[name]
    row = kind.good_row(0, "Ana")
    columns = [c for c in kind.columns if c != column]
    path = write(tmp_path, csv_text(columns, [[row[c] for c in columns]]).text)

    report = refusal(kind.command, path)

    assert report.startswith(f"{path}: the required column {column} is missing (found: ")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_repeated_column_is_refused(tmp_path, name):
    kind = KINDS[name]
    row = kind.good_row(0, "Ana")
    columns = [*kind.columns, kind.columns[-1]]
    path = write(tmp_path, csv_text(columns, [[row[c] for c in columns]]).text)

    report = refusal(kind.command, path)

    assert report == (
        f"{path}: these columns appear more than once in the header: {kind.columns[-1]}."
    )


@FUZZ
@given(data=st.data(), name=kinds, extra=st.lists(FREE_TEXT, min_size=1, max_size=3))
def test_unknown_columns_are_ignored_with_a_warning(tmp_path, data, name, extra):
    kind = KINDS[name]
    rows, layout = data.draw(good_files(kind))
    names = [f"zz_{n}" for n in range(len(extra))]
    made = csv_text([*kind.columns, *names], [[*row, *extra] for row in rows], **layout)
    path = write(tmp_path, made.text)

    stdout, stderr = run(kind.command, path)

    assert f"{path}: ignoring unknown columns: {', '.join(names)}." in stderr
    assert f"{path}: {len(rows)} row" in stdout


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "is empty: there is nothing to import."),
        ("\n\r\n  \n,,,\n", "is empty: there is nothing to import."),
        ("HEADER\n\n\n", "has a header but no rows: there is nothing to import."),
    ],
)
def test_a_file_without_rows_is_refused(tmp_path, name, content, says):
    kind = KINDS[name]
    path = write(tmp_path, content.replace("HEADER", ",".join(kind.columns)))

    assert refusal(kind.command, path) == f"{path} {says}"
