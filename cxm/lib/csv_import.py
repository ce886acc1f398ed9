"""Shared machinery of the CSV import commands (import_customers, import_purchases,
import_tickets), for teams moving here from another help desk.

An import reads the whole file, checks every row, and only then writes, through the
apps' own import services. Whole-file problems (missing file, not UTF-8, missing
columns, duplicate ids…) stop everything with one message. Row problems are reported
as `file:line: column: message`, the line being the physical line where the row starts
(header = line 1, multi-line quoted values counted). By default one bad row means
nothing is imported; with skip_invalid the good rows are imported and the bad ones
reported. Errors raised while writing (a constraint, a service's ValidationError) are
reported the same way: each row is written in its own savepoint, and the file's
transaction is rolled back at the end unless skip_invalid.

Each kind of row is an `Importer` subclass (columns, clean, write); a management command
is a `CsvImportCommand` subclass naming its importer.
"""

import csv
import io
import re
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TextIO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import DatabaseError, models, transaction
from django.utils import dateparse, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cxm.lib.exceptions import ApplicationError
from cxm.lib.progress import Progress, format_count, format_seconds
from cxm.lib.timestamps import validate_timestamp

# A list longer than this helps nobody read a terminal; the rest is counted.
MAX_REPORTED_ERRORS = 50
# Keeps `IN (…)` lookups under SQLite's and PostgreSQL's parameter limits.
LOOKUP_CHUNK_SIZE = 500
# Spreadsheets in Spanish locales save CSV with semicolons.
DELIMITERS = (",", ";", "\t")
ZIP_MAGIC = b"PK\x03\x04"


class CsvImportError(Exception):
    """The import stopped and wrote nothing; the message says why, for a person."""


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def format(self, name: str) -> str:
        if self.column:
            return f"{name}:{self.line}: {self.column}: {self.message}"
        return f"{name}:{self.line}: {self.message}"


class RowErrors:
    """The problems of one row, collected column by column so that a row with three
    mistakes reports all three."""

    def __init__(self) -> None:
        self.items: list[tuple[str | None, str]] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, column: str | None, message: str) -> None:
        self.items.append((column, str(message)))

    def add_validation_error(self, error: ValidationError, column: str | None = None) -> None:
        if hasattr(error, "error_dict"):
            for name, messages in error.message_dict.items():
                for message in messages:
                    self.add(None if name == NON_FIELD_ERRORS else name, message)
        else:
            for message in error.messages:
                self.add(column, message)

    @contextmanager
    def column(self, name: str) -> Iterator[None]:
        """Record a ValidationError raised inside the block against column `name`."""
        try:
            yield
        except ValidationError as error:
            self.add_validation_error(error, name)


# -- value parsers: text from a cell → Python value, or ValidationError ------------------


def required(text: str) -> str:
    if not text:
        raise ValidationError(_("This value is required."))
    return text


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 date or date and time; blank → None. A value without a zone is read in
    settings.TIME_ZONE (a date means its midnight there); 'Z' and offsets are kept.
    Only the span cxm.lib.timestamps allows is accepted."""
    if not text:
        return None
    try:
        value = dateparse.parse_datetime(text)
        if value is None and (day := dateparse.parse_date(text)) is not None:
            value = datetime(day.year, day.month, day.day)
    except ValueError:  # well formed but impossible, such as 2024-02-30
        value = None
    if value is None:
        raise ValidationError(
            _(
                "“%(value)s” is not a date in ISO 8601 format, such as 2024-03-31, "
                "2024-03-31 14:05 or 2024-03-31T14:05:00+02:00."
            )
            % {"value": text}
        )
    if timezone.is_naive(value):
        value = timezone.make_aware(value, ZoneInfo(settings.TIME_ZONE))
    validate_timestamp(value)
    return value


def parse_choice(
    text: str, choices: type[models.Choices], *, default: str | None = None
) -> str | None:
    """A choice's value, case-insensitive ('In person' → 'in_person'); blank → default."""
    if not text:
        return default
    value = re.sub(r"[\s-]+", "_", text.strip().lower())
    if value in choices.values:
        return value
    raise ValidationError(
        _("“%(value)s” is not allowed; use one of: %(allowed)s.")
        % {"value": text, "allowed": ", ".join(choices.values)}
    )


def clean_model_field(model: type[models.Model], name: str, text: str) -> Any:
    """Convert and validate a cell exactly as the model field would (length, email,
    decimal places, minimum…), so the messages are Django's own, translated."""
    return model._meta.get_field(name).clean(text, None)


def fetch_by(queryset: models.QuerySet, field_name: str, values: Iterable[str]) -> dict[str, Any]:
    """{value: object} for the objects whose `field_name` is one of `values`."""
    wanted = sorted({value for value in values if value})
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK_SIZE):
        chunk = wanted[start : start + LOOKUP_CHUNK_SIZE]
        for obj in queryset.filter(**{f"{field_name}__in": chunk}):
            found[getattr(obj, field_name)] = obj
    return found


# -- importers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One data row: where it starts in the file and its known columns' values."""

    line: int
    values: dict[str, str]


class Importer:
    """One kind of row: its columns, how to check one, how to write one.

    `columns` are the known columns the file has: optional columns may be absent, and
    an absent column means "leave this value alone" when the row updates something.
    """

    required_columns: ClassVar[tuple[str, ...]] = ()
    optional_columns: ClassVar[tuple[str, ...]] = ()
    # A column whose values must not repeat within one file (the external id).
    unique_column: ClassVar[str | None] = None
    # The columns natural_key() is made of, named in the duplicate-row message.
    natural_key_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, columns: Iterable[str]) -> None:
        self.columns = frozenset(columns)

    @classmethod
    def known_columns(cls) -> tuple[str, ...]:
        return cls.required_columns + cls.optional_columns

    def has(self, column: str) -> bool:
        return column in self.columns

    def prepare(self, records: Sequence[Record]) -> None:
        """Load in bulk what clean() looks up (customers, teams, users)."""

    def clean(self, values: dict[str, str], errors: RowErrors) -> dict[str, Any]:
        """Turn a row's text into values for write(); report problems in `errors`."""
        raise NotImplementedError

    def natural_key(self, cleaned: dict[str, Any]) -> Hashable | None:
        """What identifies the row's object when it has no external id (or None)."""
        return None

    def write(self, cleaned: dict[str, Any]) -> bool:
        """Create or update the row's object; True when it was created."""
        raise NotImplementedError


# -- reading the file ------------------------------------------------------------------


def _normalise_column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _guess_delimiter(text: str, known: Sequence[str]) -> str:
    """The delimiter under which the header names the most known columns."""
    first_line = io.StringIO(text.lstrip("\r\n"), newline="").readline()
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        try:
            header = next(csv.reader([first_line], delimiter=delimiter), [])
        except csv.Error:
            continue
        score = sum(_normalise_column(name) in known for name in header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _decode(name: str, path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise CsvImportError(_("%(name)s: no such file.") % {"name": name}) from error
    except OSError as error:
        raise CsvImportError(
            _("%(name)s: cannot be read (%(reason)s).") % {"name": name, "reason": error.strerror}
        ) from error
    if data.startswith(ZIP_MAGIC):
        raise CsvImportError(
            _("%(name)s is a spreadsheet or zip file, not CSV: save it as “CSV UTF-8”.")
            % {"name": name}
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvImportError(
            _(
                "%(name)s:%(line)d: the file is not UTF-8 text (byte 0x%(byte)02x); "
                "save it as “CSV UTF-8” and import it again. Nothing was imported."
            )
            % {
                "name": name,
                "line": data.count(b"\n", 0, error.start) + 1,
                "byte": data[error.start],
            }
        ) from error
    if "\x00" in text:
        raise CsvImportError(
            _("%(name)s is not a CSV text file (it contains NUL characters).") % {"name": name}
        )
    if not text.strip():
        raise CsvImportError(_("%(name)s is empty: there is nothing to import.") % {"name": name})
    return text


def read_csv(
    name: str, path: Path, known: Sequence[str]
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line, values)…]) with normalised column names; blank lines skipped."""
    text = _decode(name, path)
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_guess_delimiter(text, known), strict=True
    )
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    next_line = 1
    try:
        for values in reader:
            line, next_line = next_line, reader.line_num + 1
            if not any(value.strip() for value in values):
                continue
            if header is None:
                header = [_normalise_column(value) for value in values]
            else:
                rows.append((line, values))
    except csv.Error as error:
        # The csv module tells its errors apart only by their (English) message.
        if "field larger than field limit" in str(error):
            message = _(
                "%(name)s:%(line)d: a value is longer than %(limit)s characters; "
                "is a closing quote missing?"
            ) % {"name": name, "line": next_line, "limit": format_count(csv.field_size_limit())}
        else:
            message = _("%(name)s:%(line)d: this is not valid CSV (%(reason)s).") % {
                "name": name,
                "line": next_line,
                "reason": error,
            }
        raise CsvImportError(message) from error
    if header is None:
        raise CsvImportError(_("%(name)s is empty: there is nothing to import.") % {"name": name})
    return header, rows


def _check_header(name: str, header: list[str], importer_class: type[Importer]) -> list[str]:
    """Raise on missing or repeated columns; return the unknown ones."""
    repeated = sorted({column for column in header if column and header.count(column) > 1})
    if repeated:
        raise CsvImportError(
            _("%(name)s: these columns appear more than once in the header: %(columns)s.")
            % {"name": name, "columns": ", ".join(repeated)}
        )
    missing = [column for column in importer_class.required_columns if column not in header]
    if missing:
        raise CsvImportError(
            ngettext(
                "%(name)s: the required column %(columns)s is missing (found: %(found)s).",
                "%(name)s: the required columns %(columns)s are missing (found: %(found)s).",
                len(missing),
            )
            % {
                "name": name,
                "columns": ", ".join(missing),
                "found": ", ".join(column for column in header if column) or "-",
            }
        )
    known = importer_class.known_columns()
    return [column for column in header if column and column not in known]


def _check_unique(name: str, records: Sequence[Record], column: str) -> None:
    first_seen: dict[str, int] = {}
    duplicates: list[str] = []
    for record in records:
        value = record.values.get(column, "")
        if not value:
            continue
        if value in first_seen:
            duplicates.append(
                _("%(name)s:%(line)d: %(column)s: “%(value)s” is already on line %(first)d.")
                % {
                    "name": name,
                    "line": record.line,
                    "column": column,
                    "value": value,
                    "first": first_seen[value],
                }
            )
        else:
            first_seen[value] = record.line
    if duplicates:
        heading = ngettext(
            "%(name)s: %(count)s %(column)s appears twice; each must be unique in the file. "
            "Nothing was imported.",
            "%(name)s: %(count)s %(column)s values appear twice; each must be unique in the "
            "file. Nothing was imported.",
            len(duplicates),
        ) % {"name": name, "count": format_count(len(duplicates)), "column": column}
        raise CsvImportError("\n".join([heading, *_capped(duplicates)]))


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_REPORTED_ERRORS:
        return lines
    rest = len(lines) - MAX_REPORTED_ERRORS
    return [
        *lines[:MAX_REPORTED_ERRORS],
        ngettext("… and %(count)s more.", "… and %(count)s more.", rest)
        % {"count": format_count(rest)},
    ]


# -- running an import -----------------------------------------------------------------


@dataclass
class ImportResult:
    name: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return len({error.line for error in self.errors})

    def error_lines(self) -> list[str]:
        # sorted() is stable: a row's problems keep their column order.
        ordered = sorted(self.errors, key=lambda error: error.line)
        return _capped([error.format(self.name) for error in ordered])

    def summary(self) -> str:
        """`customers.csv: 1,200 rows — 1,150 created, 50 updated, 0 skipped in 3.2 s`"""
        return ngettext(
            "%(name)s: %(rows)s row — %(created)s created, %(updated)s updated, "
            "%(skipped)s skipped in %(time)s",
            "%(name)s: %(rows)s rows — %(created)s created, %(updated)s updated, "
            "%(skipped)s skipped in %(time)s",
            self.rows,
        ) % {
            "name": self.name,
            "rows": format_count(self.rows),
            "created": format_count(self.created),
            "updated": format_count(self.updated),
            "skipped": format_count(self.skipped),
            "time": format_seconds(self.seconds),
        }


def _write_error(error: Exception) -> list[tuple[str | None, str]]:
    collected = RowErrors()
    if isinstance(error, ValidationError):
        collected.add_validation_error(error)
    elif isinstance(error, ApplicationError):
        collected.add(error.field, error.message)
    else:
        collected.add(None, _("The database refused the row: %(reason)s") % {"reason": error})
    return collected.items


def _refusal(result: ImportResult) -> CsvImportError:
    heading = ngettext(
        "%(name)s: %(count)s row has errors, so nothing was imported "
        "(--skip-invalid imports the other rows).",
        "%(name)s: %(count)s rows have errors, so nothing was imported "
        "(--skip-invalid imports the other rows).",
        result.skipped,
    ) % {"name": result.name, "count": format_count(result.skipped)}
    return CsvImportError("\n".join([heading, *result.error_lines()]))


def run_import(
    importer_class: type[Importer],
    path: Path,
    *,
    skip_invalid: bool = False,
    warn: Callable[[str], None],
    progress_stream: TextIO | OutputWrapper,
) -> ImportResult:
    """Import one CSV file. Raises CsvImportError when nothing was imported; otherwise
    returns the counts, with the skipped rows' errors when skip_invalid."""
    started = time.monotonic()
    name = str(path)
    header, rows = read_csv(name, path, importer_class.known_columns())
    unknown = _check_header(name, header, importer_class)
    if unknown:
        warn(
            _("%(name)s: ignoring unknown columns: %(columns)s.")
            % {"name": name, "columns": ", ".join(unknown)}
        )
    if not rows:
        raise CsvImportError(
            _("%(name)s has a header but no rows: there is nothing to import.") % {"name": name}
        )

    result = ImportResult(name=name, rows=len(rows))
    known = set(importer_class.known_columns())
    records: list[Record] = []
    for line, values in rows:
        extra = values[len(header) :]
        if len(values) < len(header) or any(value.strip() for value in extra):
            result.errors.append(
                RowError(
                    line,
                    None,
                    _("The row has %(found)d values but the header has %(expected)d columns.")
                    % {"found": len(values), "expected": len(header)},
                )
            )
            continue
        records.append(
            Record(
                line,
                {
                    column: value.strip()
                    for column, value in zip(header, values, strict=False)
                    if column in known
                },
            )
        )
    if importer_class.unique_column:
        _check_unique(name, records, importer_class.unique_column)

    importer = importer_class(column for column in header if column in known)
    importer.prepare(records)
    cleaned_rows: list[tuple[int, dict[str, Any]]] = []
    first_line_of_key: dict[Hashable, int] = {}
    with Progress(
        len(records), _("checking %(name)s") % {"name": name}, progress_stream, summary=False
    ) as progress:
        for record in records:
            errors = RowErrors()
            cleaned = importer.clean(record.values, errors)
            if not errors and (key := importer.natural_key(cleaned)) is not None:
                if key in first_line_of_key:
                    errors.add(
                        None,
                        _("Same %(columns)s as line %(line)d.")
                        % {
                            "columns": ", ".join(importer.natural_key_columns),
                            "line": first_line_of_key[key],
                        },
                    )
                else:
                    first_line_of_key[key] = record.line
            if errors:
                result.errors.extend(RowError(record.line, *item) for item in errors.items)
            else:
                cleaned_rows.append((record.line, cleaned))
            progress.advance()
    if result.errors and not skip_invalid:
        raise _refusal(result)

    with transaction.atomic():
        with Progress(
            len(cleaned_rows),
            _("importing %(name)s") % {"name": name},
            progress_stream,
            summary=False,
        ) as progress:
            for line, cleaned in cleaned_rows:
                try:
                    with transaction.atomic():
                        created = importer.write(cleaned)
                except (ValidationError, ApplicationError, DatabaseError) as error:
                    result.errors.extend(RowError(line, *item) for item in _write_error(error))
                else:
                    if created:
                        result.created += 1
                    else:
                        result.updated += 1
                progress.advance()
        if result.errors and not skip_invalid:
            # Raising inside atomic() rolls the whole file back.
            result.created = result.updated = 0
            raise _refusal(result)
    result.seconds = time.monotonic() - started
    return result


class CsvImportCommand(BaseCommand):
    """`manage.py import_<things> FILE.csv [--skip-invalid]` for one Importer."""

    importer_class: type[Importer]

    def add_arguments(self, parser: CommandParser) -> None:
        columns = ", ".join(self.importer_class.required_columns)
        parser.add_argument(
            "file",
            type=Path,
            help=_("A UTF-8 CSV file with a header row. Required columns: %(columns)s.")
            % {"columns": columns},
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help=_(
                "Import the valid rows and report the others, instead of importing nothing "
                "when a row is invalid."
            ),
        )

    def handle(self, *args: Any, file: Path, skip_invalid: bool, **options: Any) -> None:
        try:
            result = run_import(
                self.importer_class,
                file,
                skip_invalid=skip_invalid,
                warn=lambda message: self.stderr.write(self.style.WARNING(message)),
                progress_stream=self.stderr,
            )
        except CsvImportError as error:
            raise CommandError(str(error)) from error
        for line in result.error_lines():
            self.stderr.write(line)
        self.stdout.write(result.summary())
