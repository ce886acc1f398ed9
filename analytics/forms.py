"""The period and filters of the analytics pages, read from the query string (GET)."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import User
from customers.models import Channel, Customer
from surveys.models import Survey
from tickets.models import Team, Ticket

from .filters import KpiFilter

MAX_DAYS = 3 * 366
"""A custom period may span at most about three years (the pages stay fast)."""


def company_today() -> date:
    """Today in the company's time zone (settings.TIME_ZONE), whatever the request's."""
    return timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE))


def _quarter_start(day: date) -> date:
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def preset_period(preset: str, today: date) -> tuple[date, date]:
    """The inclusive (first day, last day) a preset names, relative to `today`. "Last N
    days" ends today and includes it; this quarter and this year run from their first
    day to today."""
    if preset.startswith("last_"):
        days = int(preset.removeprefix("last_"))
        return today - timedelta(days=days - 1), today
    if preset == "quarter":
        return _quarter_start(today), today
    if preset == "year":
        return today.replace(month=1, day=1), today
    raise ValueError(f"unknown preset {preset!r}")


PRESETS = [
    ("last_7", _("Last 7 days")),
    ("last_30", _("Last 30 days")),
    ("last_90", _("Last 90 days")),
    ("quarter", _("This quarter")),
    ("year", _("This year")),
    ("custom", _("Custom")),
]
DEFAULT_PRESET = "last_30"


def default_filter() -> KpiFilter:
    """The last 30 days, no dimension filter: what the pages show without valid input."""
    return KpiFilter(*preset_period(DEFAULT_PRESET, company_today()))


CHOICES_TTL = 60
"""Seconds the category and segment lists are kept (cache): reading them scans every
ticket and customer, which cost more than the rest of a page at a million tickets."""


def _values_in_use(field: str, rows, asked: str | None) -> list[str]:
    """The distinct non-blank values of `field` (kept CHOICES_TTL seconds), plus the one
    asked for when it is in use but newer than the kept list, so a link to a category
    created a moment ago still filters rather than being refused."""
    values = cache.get_or_set(
        f"analytics:choices:{field}",
        lambda: list(
            rows.exclude(**{field: ""}).order_by(field).values_list(field, flat=True).distinct()
        ),
        CHOICES_TTL,
    )
    # A NUL byte cannot be in use (PostgreSQL refuses it in a query): the field refuses it.
    if (
        asked
        and "\x00" not in asked
        and asked not in values
        and rows.filter(**{field: asked}).exists()
    ):
        values = sorted([*values, asked])
    return values


def _distinct(values) -> list[tuple[str, str]]:
    return [("", _("All"))] + [(value, value) for value in values]


class PeriodFilterForm(forms.Form):
    """Period (a preset, or custom from/to dates) plus the KPI dimension filters."""

    period = forms.ChoiceField(
        label=_("Period"), choices=PRESETS, required=False, initial=DEFAULT_PRESET
    )
    date_from = forms.DateField(
        label=pgettext_lazy("first day of a period", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=pgettext_lazy("last day of a period", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label=_("All"),
    )
    agent = forms.ModelChoiceField(
        label=_("Agent"),
        queryset=User.objects.filter(is_active=True).order_by(
            "first_name", "last_name", "username"
        ),
        required=False,
        empty_label=_("All"),
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("All")), *Channel.choices], required=False
    )
    category = forms.ChoiceField(label=_("Category"), required=False)
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    survey = forms.ModelChoiceField(
        label=_("Survey"),
        queryset=Survey.objects.order_by("name"),
        required=False,
        empty_label=_("All"),
    )

    def __init__(self, data=None, *args, **kwargs) -> None:
        if data is not None and not data.get("period"):
            # A link with only filters (say ?team=3) means the default period, and the
            # period select must say so rather than show its first option.
            data = data.copy()
            data["period"] = DEFAULT_PRESET
        super().__init__(data, *args, **kwargs)
        for field in self.fields.values():
            select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = (
                "form-select form-select-sm" if select else "form-control form-control-sm"
            )
        self.fields["agent"].label_from_instance = lambda user: (
            user.get_full_name() or user.username
        )
        self.fields["category"].choices = _distinct(
            _values_in_use("category", Ticket.objects, self.data.get("category"))
        )
        self.fields["segment"].choices = _distinct(
            _values_in_use("segment", Customer.objects, self.data.get("segment"))
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        preset = cleaned.get("period") or DEFAULT_PRESET
        if preset != "custom":
            cleaned["date_from"], cleaned["date_to"] = preset_period(preset, company_today())
            return cleaned
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if "date_from" in self.errors or "date_to" in self.errors:
            return cleaned
        if date_from is None or date_to is None:
            raise forms.ValidationError(
                _("A custom period needs both a first and a last day."), code="incomplete"
            )
        if date_from > date_to:
            self.add_error("date_to", _("The last day must not be before the first day."))
        elif (date_to - date_from).days + 1 > MAX_DAYS:
            self.add_error(
                "date_to", _("A custom period may span at most %(days)s days.") % {"days": MAX_DAYS}
            )
        return cleaned

    def kpi_filter(self) -> KpiFilter:
        """The KpiFilter of a valid form."""
        data = self.cleaned_data
        return KpiFilter(
            date_from=data["date_from"],
            date_to=data["date_to"],
            team=data["team"].pk if data["team"] else None,
            agent=data["agent"].pk if data["agent"] else None,
            channel=data["channel"] or None,
            category=data["category"] or None,
            segment=data["segment"] or None,
            survey=data["survey"].pk if data["survey"] else None,
        )
