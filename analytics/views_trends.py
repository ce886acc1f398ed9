"""The trends page (/analytics/trends/), for managers and admins: NPS (with its 95% band),
CSAT and CES over the period; the score distributions; ticket volume and the first
response and resolution time medians over time. Each chart has a table with the same
numbers for screen readers.

The survey and time series come from analytics.selectors.kpi_series (a point per bucket
equals the KPI asked for that bucket alone); the distributions and the ticket volume are
one grouped query each, with the KPI functions' own filters. Every number of a table
links to the rows behind it (the drill-down of its bucket), and each table exports CSV
(?format=csv&table=<chart key>) with the figures at full precision."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from django import forms
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_GET

from surveys.models import Question

from .csv_export import csv_response
from .drill import drill_url
from .filters import KpiFilter
from .forms import PeriodFilterForm, default_filter
from .kpis import SMALL_SAMPLE
from .kpis.surveys import scored_answers
from .kpis.tickets import received_in_period, tickets_in_scope
from .selectors import (
    MAX_BUCKETS,
    Interval,
    SeriesReader,
    kpi_series,
    series_bucket_count,
    series_buckets,
    series_reader,
)
from .views import DECIMAL, DURATION, PERCENT, SCORE, format_figure

INTERVALS = [
    ("", gettext_lazy("Automatic")),
    (Interval.DAY.value, gettext_lazy("By day")),
    (Interval.WEEK.value, gettext_lazy("By week")),
    (Interval.MONTH.value, gettext_lazy("By month")),
]

NPS_SCORES = range(0, 11)
CSAT_SCORES = range(1, 6)

NPS_COLOURS = {"detractor": "#dc3545", "passive": "#adb5bd", "promoter": "#198754"}


def auto_interval(days: int) -> Interval:
    """Days for up to a month, weeks up to half a year, months beyond."""
    if days <= 31:
        return Interval.DAY
    if days <= 183:
        return Interval.WEEK
    return Interval.MONTH


class TrendsForm(PeriodFilterForm):
    """The period and filters of the overview, plus the bucket size of the series."""

    interval = forms.ChoiceField(label=gettext_lazy("Interval"), choices=INTERVALS, required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        days = (cleaned["date_to"] - cleaned["date_from"]).days + 1
        interval = Interval(cleaned.get("interval") or auto_interval(days))
        if series_bucket_count(cleaned["date_from"], cleaned["date_to"], interval) > MAX_BUCKETS:
            self.add_error(
                "interval",
                _("Too many points: choose a longer interval or a shorter period (at most %(n)s).")
                % {"n": MAX_BUCKETS},
            )
        cleaned["interval"] = interval
        return cleaned


# --- Grouped queries -----------------------------------------------------------------


def score_distribution(f: KpiFilter, question_type: str, scores: range) -> list[tuple[int, int]]:
    """(score, answers) for every score of the scale, answers given in the period that
    match the filter (the KPI's own answers), in one grouped query. A score no one gave
    counts 0; an out-of-scale score found in the data is listed too, not hidden."""
    counts = dict(
        scored_answers(f, question_type)
        .order_by()
        .values("score")
        .annotate(answers=Count("id"))
        .values_list("score", "answers")
    )
    return [(score, counts.get(score, 0)) for score in sorted(set(scores) | set(counts))]


TRUNCS = {Interval.DAY: TruncDay, Interval.WEEK: TruncWeek, Interval.MONTH: TruncMonth}


def ticket_volume(f: KpiFilter, interval: Interval) -> list[tuple[date, date, int]]:
    """(first day, last day, tickets received) per bucket of the period: tickets created
    in it (on their local day in the company's time zone) matching the filter as the
    KPIs count received tickets (the agent is whoever solved it, else the assignee).
    One grouped query; a bucket clipped by the period starts on the period's first day."""
    tickets: QuerySet = tickets_in_scope(f).filter(received_in_period(f))
    rows = (
        tickets.annotate(bucket=TRUNCS[interval]("created_at", tzinfo=f.zone))
        .values("bucket")
        .annotate(received=Count("pk"))
        .values_list("bucket", "received")
    )
    counts: dict[date, int] = {}
    for bucket, received in rows:  # one row per bucket, never per ticket
        day = max(bucket.astimezone(f.zone).date(), f.date_from)
        counts[day] = counts.get(day, 0) + received
    return [
        (start, end, counts.get(start, 0))
        for start, end in series_buckets(f.date_from, f.date_to, interval)
    ]


# --- Charts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TableCell:
    """A cell of a chart's table: `text` for people (linked to `url`, the rows behind
    the number, when there is one) and `value`, the figure itself, for the CSV."""

    text: str
    value: object = None
    url: str | None = None


@dataclass
class Chart:
    """One chart: `data` goes to trends.js as JSON; `headers` and `rows` form its table
    fallback and its CSV."""

    key: str
    title: str
    description: str
    data: dict
    headers: list[str]
    rows: list[list[TableCell]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"trend-{self.key}"


def _count(n: int, url: str | None = None) -> TableCell:
    return TableCell(number_format(n, force_grouping=True), n, url)


def _figure(value: float | None, kind: str, url: str | None = None) -> TableCell:
    """A KPI figure; "No data" is not a number, so it links nowhere."""
    return TableCell(format_figure(value, kind), value, url if value is not None else None)


def _bucket(f: KpiFilter, point: dict) -> KpiFilter:
    return replace(f, date_from=point["period_start"], date_to=point["period_end"])


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _period_headers() -> list[str]:
    return [pgettext("first day of a period", "From"), pgettext("last day of a period", "To")]


def _dates(start: date, end: date) -> list[TableCell]:
    return [
        TableCell(date_format(start, "SHORT_DATE_FORMAT"), start.isoformat()),
        TableCell(date_format(end, "SHORT_DATE_FORMAT"), end.isoformat()),
    ]


def _edge(point: dict, sign: int) -> float | None:
    """An edge of the 95% band: NPS ± its margin; None where there is no NPS."""
    if point["value"] is None:
        return None
    return point["value"] + sign * point["margin95"]


def nps_chart(f: KpiFilter, interval: Interval, reader: SeriesReader | None = None) -> Chart:
    points = kpi_series("nps", f, interval, reader=reader)
    values = [p["value"] for p in points]
    return Chart(
        key="nps",
        title=_("Net Promoter Score"),
        description=_("The shaded band is the 95% margin of error around each point."),
        data={
            "type": "line",
            "x": [p["period_start"].isoformat() for p in points],
            "traces": [{"name": _("NPS"), "y": values}],
            "band": {
                "name": _("95% margin"),
                "lower": [_edge(p, -1) for p in points],
                "upper": [_edge(p, 1) for p in points],
            },
            "y_title": _("NPS (-100 to 100)"),
            "y_range": [-100, 100],
        },
        headers=[*_period_headers(), _("NPS"), _("± 95% margin"), "n"],
        rows=[
            [
                *_dates(p["period_start"], p["period_end"]),
                _figure(p["value"], SCORE, url := drill_url("nps", _bucket(f, p))),
                _figure(p["margin95"], SCORE, url) if p["value"] is not None else TableCell(""),
                _count(p["n"], url),
            ]
            for p in points
        ],
    )


def csat_chart(f: KpiFilter, interval: Interval, reader: SeriesReader | None = None) -> Chart:
    points = kpi_series("csat", f, interval, reader=reader)
    return Chart(
        key="csat",
        title=_("Customer satisfaction (CSAT)"),
        description=_("Share of answers of 4 or 5 out of 5."),
        data={
            "type": "line",
            "x": [p["period_start"].isoformat() for p in points],
            "traces": [{"name": _("CSAT"), "y": [p["value"] for p in points]}],
            "y_title": _("Satisfied (percent)"),
            "y_range": [0, 100],
        },
        headers=[*_period_headers(), _("CSAT"), _("Mean score"), "n"],
        rows=[
            [
                *_dates(p["period_start"], p["period_end"]),
                _figure(p["value"], PERCENT, drill_url("csat", _bucket(f, p), of_value=True)),
                _figure(p["mean"], DECIMAL, url := drill_url("csat", _bucket(f, p))),
                _count(p["n"], url),
            ]
            for p in points
        ],
    )


def ces_chart(f: KpiFilter, interval: Interval, reader: SeriesReader | None = None) -> Chart:
    points = kpi_series("ces", f, interval, reader=reader)
    return Chart(
        key="ces",
        title=_("Customer effort (CES)"),
        description=_("Mean agreement that the issue was easy to handle, from 1 to 7."),
        data={
            "type": "line",
            "x": [p["period_start"].isoformat() for p in points],
            "traces": [{"name": _("CES"), "y": [p["value"] for p in points]}],
            "y_title": _("Mean (1 to 7)"),
            "y_range": [1, 7],
        },
        headers=[*_period_headers(), _("CES"), _("Agreeing (percent)"), "n"],
        rows=[
            [
                *_dates(p["period_start"], p["period_end"]),
                _figure(p["value"], DECIMAL, url := drill_url("ces", _bucket(f, p))),
                _figure(
                    p["agree_share"], PERCENT, drill_url("ces", _bucket(f, p), part="agreeing")
                ),
                _count(p["n"], url),
            ]
            for p in points
        ],
    )


def _nps_group(score: int) -> str:
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


def distribution_chart(
    key: str, title: str, f: KpiFilter, question_type: str, scores: range
) -> Chart:
    counts = score_distribution(f, question_type, scores)
    data: dict = {
        "type": "bar",
        "x": [str(score) for score, _n in counts],
        "traces": [{"name": _("Answers"), "y": [n for _score, n in counts]}],
        "x_title": _("Score"),
        "y_title": _("Answers"),
    }
    if question_type == Question.Type.NPS:
        data["colours"] = [NPS_COLOURS[_nps_group(score)] for score, _n in counts]
    return Chart(
        key=key,
        title=title,
        description=_("How many answers gave each score in the period."),
        data=data,
        headers=[_("Score"), _("Answers")],
        # The question types "nps" and "csat" are also their KPIs' names.
        rows=[
            [TableCell(str(score), score), _count(n, drill_url(question_type, f, score=score))]
            for score, n in counts
        ],
    )


def volume_chart(f: KpiFilter, interval: Interval, reader: SeriesReader | None = None) -> Chart:
    buckets = ticket_volume(f, interval)
    return Chart(
        key="volume",
        title=_("Tickets received"),
        description=_("Tickets created in each period, on their day in the company's time zone."),
        data={
            "type": "bar",
            "x": [start.isoformat() for start, _end, _n in buckets],
            "traces": [{"name": _("Tickets"), "y": [n for _start, _end, n in buckets]}],
            "y_title": _("Tickets"),
        },
        headers=[*_period_headers(), _("Tickets")],
        # The tickets received are the base of the resolution rate.
        rows=[
            [
                *_dates(start, end),
                _count(n, drill_url("resolution_rate", replace(f, date_from=start, date_to=end))),
            ]
            for start, end, n in buckets
        ],
    )


def times_chart(f: KpiFilter, interval: Interval, reader: SeriesReader | None = None) -> Chart:
    first = kpi_series("first_response_time", f, interval, reader=reader)
    resolution = kpi_series("resolution_time", f, interval, reader=reader)
    return Chart(
        key="times",
        title=_("First response and resolution time"),
        description=_(
            "Medians in hours: first response over the tickets created in each "
            "period, resolution over the tickets solved in it."
        ),
        data={
            "type": "line",
            "x": [p["period_start"].isoformat() for p in first],
            "traces": [
                {"name": _("First response (median)"), "y": [_hours(p["median_s"]) for p in first]},
                {
                    "name": _("Resolution (median)"),
                    "y": [_hours(p["median_s"]) for p in resolution],
                },
            ],
            "y_title": _("Hours"),
        },
        headers=[
            *_period_headers(),
            _("First response (median)"),
            "n",
            _("Resolution (median)"),
            "n",
        ],
        rows=[
            [
                *_dates(a["period_start"], a["period_end"]),
                _figure(
                    a["median_s"], DURATION, url := drill_url("first_response_time", _bucket(f, a))
                ),
                _count(a["n"], url),
                _figure(
                    b["median_s"], DURATION, url := drill_url("resolution_time", _bucket(f, b))
                ),
                _count(b["n"], url),
            ]
            for a, b in zip(first, resolution, strict=True)
        ],
    )


CHARTS: dict[str, Callable[[KpiFilter, Interval, SeriesReader | None], Chart]] = {
    "nps": nps_chart,
    "csat": csat_chart,
    "ces": ces_chart,
    "nps-distribution": lambda f, _interval, _reader=None: distribution_chart(
        "nps-distribution", _("NPS answers by score"), f, Question.Type.NPS, NPS_SCORES
    ),
    "csat-distribution": lambda f, _interval, _reader=None: distribution_chart(
        "csat-distribution", _("CSAT answers by score"), f, Question.Type.CSAT, CSAT_SCORES
    ),
    "volume": volume_chart,
    "times": times_chart,
}
"""The page's charts in order, by key (the key names a table to export as CSV)."""


def trend_charts(f: KpiFilter, interval: Interval) -> list[Chart]:
    reader = series_reader(f)  # the series share their reads (the answers once, not thrice)
    return [chart(f, interval, reader) for chart in CHARTS.values()]


def _csv(chart: Chart, f: KpiFilter) -> HttpResponse:
    period = f"{f.date_from.isoformat()}-{f.date_to.isoformat()}"
    return csv_response(
        f"trend-{chart.key}-{period}.csv",
        chart.headers,
        ([cell.value for cell in row] for row in chart.rows),
    )


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def trends(request: HttpRequest) -> HttpResponse:
    form = TrendsForm(request.GET or None)
    if form.is_bound and form.is_valid():
        f, interval = form.kpi_filter(), form.cleaned_data["interval"]
    else:
        f = default_filter()
        interval = auto_interval(f.days)
    if request.GET.get("format") == "csv":
        chart = CHARTS.get(request.GET.get("table", ""))
        if chart is None:
            raise Http404
        return _csv(chart(f, interval, None), f)
    return render(
        request,
        "analytics/trends.html",
        {
            "form": form,
            "filter": f,
            "interval": interval,
            "charts": trend_charts(f, interval),
            "small_sample": SMALL_SAMPLE,
        },
    )
