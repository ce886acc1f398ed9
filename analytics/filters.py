"""What a KPI is computed over: an inclusive period of local days plus dimension filters."""

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


@dataclass(frozen=True)
class KpiFilter:
    """Inclusive dates in the company's time zone (settings.TIME_ZONE) and optional
    dimensions. A dimension left as None does not filter."""

    date_from: date
    date_to: date
    team: int | None = None
    agent: int | None = None
    channel: str | None = None
    category: str | None = None
    segment: str | None = None
    survey: int | None = None

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(settings.TIME_ZONE)

    @property
    def start(self) -> datetime:
        """The first instant of date_from, local time (aware)."""
        return datetime.combine(self.date_from, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after date_to (exclusive bound), local time (aware)."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=self.zone)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> "KpiFilter":
        """The same filters over the period of equal length just before this one."""
        length = timedelta(days=self.days)
        return replace(self, date_from=self.date_from - length, date_to=self.date_to - length)

    def dimensions(self) -> dict[str, object]:
        return {
            name: value
            for name in ("team", "agent", "channel", "category", "segment", "survey")
            if (value := getattr(self, name)) is not None
        }
