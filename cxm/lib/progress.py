"""A small progress reporter for long management commands (imports, demo data).

    with Progress(total=len(rows), label="customers.csv", stream=self.stderr) as progress:
        for row in rows:
            ...
            progress.advance()

On a terminal it redraws one line in place (count, percentage, rate, time left); in a log
(not a terminal) it writes a plain line now and then instead, so logs are not flooded
with carriage returns. Leaving the block normally ends with a one-line summary
(`customers.csv: 1,200 rows in 3.2 s (375 rows/s)`); leaving it on an exception only
ends the live line, because a summary would suggest the work was done.
"""

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO

from django.core.management.base import OutputWrapper
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def format_count(value: int) -> str:
    """1200 → '1,200' (grouped the way the active language groups thousands)."""
    return number_format(value, force_grouping=True)


def format_seconds(seconds: float) -> str:
    """A duration as people read it: '0.4 s', '42 s', '3 min 05 s', '1 h 02 min'."""
    if seconds < 10:
        return _("%(seconds)s s") % {"seconds": number_format(seconds, decimal_pos=1)}
    whole = round(seconds)
    if whole < 60:
        return _("%(seconds)d s") % {"seconds": whole}
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": secs}
    hours, minutes = divmod(minutes, 60)
    return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}


class Progress:
    """Count work done against an expected total and show it on `stream`.

    `stream` is a text stream or a management command's self.stdout / self.stderr.
    `total` may be None when the amount of work is not known in advance. `clock` and
    `is_terminal` exist so that tests can drive the reporter deterministically.
    """

    def __init__(
        self,
        total: int | None,
        label: str,
        stream: TextIO | OutputWrapper,
        *,
        summary: bool = True,
        refresh_every: float = 0.2,
        log_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        is_terminal: bool | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream
        self.summary = summary
        self.done = 0
        self._clock = clock
        self._started = clock()
        self._finished_at: float | None = None
        self._last_shown = self._started
        self._live_width = 0
        if is_terminal is None:
            is_terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.is_terminal = is_terminal
        self._interval = refresh_every if is_terminal else log_every

    # -- the numbers -------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        end = self._finished_at if self._finished_at is not None else self._clock()
        return max(end - self._started, 0.0)

    @property
    def rate(self) -> float | None:
        """Items per second so far; None until there is something to measure."""
        elapsed = self.elapsed
        if self.done == 0 or elapsed <= 0:
            return None
        return self.done / elapsed

    @property
    def remaining_seconds(self) -> float | None:
        rate = self.rate
        if self.total is None or rate is None:
            return None
        return max(self.total - self.done, 0) / rate

    # -- the text ----------------------------------------------------------------------
    def _rate_text(self) -> str:
        rate = self.rate
        if rate is None:
            return ""
        return _("%(rate)s rows/s") % {"rate": format_count(round(rate))}

    def status_line(self) -> str:
        """What the live line shows: label, count, percentage, rate and time left."""
        if self.total:
            parts = [
                _("%(done)s of %(total)s rows (%(percent)d%%)")
                % {
                    "done": format_count(self.done),
                    "total": format_count(self.total),
                    "percent": 100 * self.done // self.total,
                }
            ]
        else:
            parts = [
                ngettext("%(done)s row", "%(done)s rows", self.done)
                % {"done": format_count(self.done)}
            ]
        if rate_text := self._rate_text():
            parts.append(rate_text)
        remaining = self.remaining_seconds
        if remaining is not None and self.done < (self.total or 0):
            parts.append(_("%(time)s left") % {"time": format_seconds(remaining)})
        return f"{self.label}: {', '.join(parts)}"

    def summary_line(self) -> str:
        """The line written at the end: `label: 1,200 rows in 3.2 s (375 rows/s)`."""
        text = ngettext(
            "%(label)s: %(done)s row in %(time)s",
            "%(label)s: %(done)s rows in %(time)s",
            self.done,
        ) % {
            "label": self.label,
            "done": format_count(self.done),
            "time": format_seconds(self.elapsed),
        }
        if rate_text := self._rate_text():
            text += f" ({rate_text})"
        return text

    # -- the display -------------------------------------------------------------------
    def _write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            # Unstyled: a command's stderr would otherwise paint the progress red.
            self.stream.write(text, style_func=str, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()

    def _show(self) -> None:
        if self.is_terminal:
            line = self.status_line()
            padding = " " * max(self._live_width - len(line), 0)
            self._write(f"\r{line}{padding}")
            self._live_width = len(line)
        else:
            self._write(self.status_line() + "\n")

    def _end_live_line(self) -> None:
        if self.is_terminal and self._live_width:
            self._write("\r" + " " * self._live_width + "\r")
            self._live_width = 0

    def advance(self, count: int = 1) -> None:
        """Record `count` more items done; redraw when enough time has passed."""
        self.done += count
        now = self._clock()
        if now - self._last_shown >= self._interval:
            self._last_shown = now
            self._show()

    def finish(self) -> None:
        """Stop the clock, clear the live line and write the summary (if wanted)."""
        if self._finished_at is not None:
            return
        self._finished_at = self._clock()
        self._end_live_line()
        if self.summary:
            self._write(self.summary_line() + "\n")

    def __enter__(self) -> Self:
        if self.is_terminal:
            self._show()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self._finished_at = self._clock()
            self._end_live_line()
