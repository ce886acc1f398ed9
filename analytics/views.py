"""The analytics pages (/analytics/…), for managers and admins."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from .forms import PeriodFilterForm, default_filter
from .glossary import GLOSSARY, glossary_entries
from .kpis import REGISTRY, SMALL_SAMPLE
from .selectors import Interval, kpi_series, kpis_compute, series_reader

PERCENT = "percent"
SCORE = "score"
DECIMAL = "decimal"
MONEY = "money"
DURATION = "duration"

KPI_KINDS: dict[str, str] = {
    "nps": SCORE,
    "ces": DECIMAL,
    "churn_vs_acquisition": DECIMAL,
    "clv": MONEY,
    "average_order_value": MONEY,
    "first_response_time": DURATION,
    "first_response_time_business": DURATION,
    "resolution_time": DURATION,
    "resolution_time_business": DURATION,
}
"""How each KPI's headline figure reads; any KPI not listed is a 0-100 percentage."""

SPARKLINE_KPIS = ("nps", "csat", "ces", "first_response_time", "resolution_time")
"""The KPIs drawn as a sparkline: a handful, so the page stays fast."""


def headline(kpi: dict) -> float | None:
    """The figure a card shows: `value`, or the median for time KPIs."""
    return kpi["value"] if "value" in kpi else kpi.get("median_s")


def format_duration(seconds: float) -> str:
    """A duration for people: "42 s", "17 min", "3 h 05 min" (hours go past 24)."""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = _("%(hours)s h %(minutes)02d min") % {
            "hours": number_format(hours, force_grouping=True),
            "minutes": minutes,
        }
    elif minutes:
        text = _("%(minutes)s min") % {"minutes": minutes}
    else:
        text = _("%(seconds)s s") % {"seconds": secs}
    return text


def format_number(value: float | Decimal, places: int) -> str:
    """`value` rounded half up to `places` decimals, in the active language's format.
    (Django's number_format cuts a float's extra decimals off: 66.66… would read 66.6.)"""
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return number_format(rounded + 0, places, force_grouping=True)  # + 0: no "-0.0"


def format_figure(value: float | None, kind: str) -> str:
    """A KPI figure in the active language's number format; "No data" for None."""
    if value is None:
        return _("No data")
    if kind == DURATION:
        return format_duration(value)
    if kind == PERCENT:
        return _("%(number)s%%") % {"number": format_number(value, 1)}
    if kind == SCORE:
        return format_number(value, 1)
    return format_number(value, 2)


def format_change(delta: float, kind: str) -> str:
    """The size of a change, without its sign (the words say up or down)."""
    if kind == DURATION:
        return format_duration(abs(delta))
    if kind in (PERCENT, SCORE):
        return _("%(number)s points") % {"number": format_number(abs(delta), 1)}
    return format_number(abs(delta), 2)


@dataclass(frozen=True)
class Change:
    arrow: str  # ▲, ▼ or =
    text: str  # says the direction in words, for everyone (not colour alone)


def change_of(current: float | None, previous: float | None, kind: str) -> Change | None:
    """How the figure moved against the previous period; None when either is missing."""
    if current is None or previous is None:
        return None
    delta = current - previous
    was = format_figure(previous, kind)
    if abs(delta) < 1e-9:
        return Change("=", _("No change from %(previous)s") % {"previous": was})
    words = (
        _("Up %(change)s from %(previous)s")
        if delta > 0
        else _("Down %(change)s from %(previous)s")
    )
    return Change(
        "▲" if delta > 0 else "▼", words % {"change": format_change(delta, kind), "previous": was}
    )


@dataclass(frozen=True)
class Card:
    key: str
    name: Promise
    value: str
    has_data: bool
    n: int
    small_sample: bool
    change: Change | None
    previous_has_data: bool
    sparkline: dict | None


def sparkline_interval(f_days: int) -> Interval:
    """Days for up to two weeks, weeks up to about a quarter, months beyond."""
    if f_days <= 14:
        return Interval.DAY
    if f_days <= 92:
        return Interval.WEEK
    return Interval.MONTH


def _sparkline(key: str, kind: str, f, reader) -> dict:
    points = kpi_series(key, f, sparkline_interval(f.days), reader=reader)
    return {
        "id": f"sparkline-{key}",
        "name": str(GLOSSARY[key].name),
        "kind": kind,
        "x": [point["period_start"].isoformat() for point in points],
        "y": [headline(point) for point in points],
        "rows": [
            (point["period_start"], point["period_end"], format_figure(headline(point), kind))
            for point in points
        ],
    }


def overview_cards(f) -> list[Card]:
    """A card per registered KPI over the filter, with its previous period and, for the
    SPARKLINE_KPIS, the series over the period."""
    figures = kpis_compute(f)
    reader = series_reader(f)  # the sparklines share their reads
    cards = []
    for key in REGISTRY:
        kpi, kind = figures[key], KPI_KINDS.get(key, PERCENT)
        value, previous = headline(kpi), headline(kpi["previous"])
        cards.append(
            Card(
                key=key,
                name=GLOSSARY[key].name,
                value=format_figure(value, kind),
                has_data=value is not None,
                n=kpi["n"],
                small_sample=bool(kpi["small_sample"]) and kpi["n"] > 0,
                change=change_of(value, previous, kind),
                previous_has_data=previous is not None,
                sparkline=_sparkline(key, kind, f, reader) if key in SPARKLINE_KPIS else None,
            )
        )
    return cards


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def overview(request: HttpRequest) -> HttpResponse:
    form = PeriodFilterForm(request.GET or None)
    f = form.kpi_filter() if form.is_bound and form.is_valid() else default_filter()
    return render(
        request,
        "analytics/overview.html",
        {
            "form": form,
            "filter": f,
            "cards": overview_cards(f),
            "small_sample": SMALL_SAMPLE,
        },
    )


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def glossary(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analytics/glossary.html",
        {
            "entries": glossary_entries(),
            "small_sample": SMALL_SAMPLE,
            "time_zone": settings.TIME_ZONE,
        },
    )
