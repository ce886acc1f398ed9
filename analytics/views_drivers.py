"""The drivers page (/analytics/drivers/), for managers and admins: what pulls NPS and
CSAT down, the comments of unhappy customers, and views joining answers with tickets
and customers."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from .csv_export import csv_response
from .drivers import (
    DIMENSIONS,
    METRICS,
    NPS,
    NPS_GROUPS,
    POOR_KINDS,
    csat_by_first_response,
    customers_by_latest_nps,
    driver_table,
    driver_tables,
    poor_comments,
)
from .filters import KpiFilter
from .forms import PeriodFilterForm, default_filter
from .kpis import REGISTRY, SMALL_SAMPLE
from .views import format_duration

PAGE_SIZE = 25
FRT_TABLE = "frt"
NPS_GROUP_TABLE = "nps_groups"
CSV_TABLES = (*DIMENSIONS, FRT_TABLE, NPS_GROUP_TABLE)
"""The tables of the page that export CSV (?format=csv&table=…): a drivers table per
dimension, CSAT by first response time, churn and CLV by latest NPS answer."""


def _page(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _link(request: HttpRequest, **changes: object) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        query[key] = str(value)
    return f"?{query.urlencode()}"


def _csv(table: str, metric: str, f: KpiFilter) -> HttpResponse:
    """One table as CSV, numbers at full precision, "no data" an empty cell."""
    period = f"{f.date_from.isoformat()}-{f.date_to.isoformat()}"
    if table in DIMENSIONS:
        drivers = driver_table(dimension=table, metric=metric, f=f)
        poor = gettext("Detractors (%)") if metric == NPS else gettext("CSAT 1-2 (%)")
        score = gettext("NPS") if metric == NPS else gettext("CSAT (%)")
        return csv_response(
            f"drivers-{metric}-{table}-{period}.csv",
            [str(drivers.label), "n", score, poor, gettext("Impact")],
            ([row.label, row.n, row.score, row.poor_share, row.impact] for row in drivers.rows),
        )
    if table == FRT_TABLE:
        return csv_response(
            f"csat-by-first-response-{period}.csv",
            [gettext("First response"), "n", gettext("CSAT (%)"), gettext("Mean")],
            ([str(row.label), row.n, row.csat, row.mean] for row in csat_by_first_response(f)),
        )
    return csv_response(
        f"churn-and-clv-by-latest-nps-{period}.csv",
        [
            gettext("Latest NPS answer"),
            gettext("Churn rate (%)"),
            gettext("Customers at the start"),
            gettext("CLV (historical)"),
            gettext("Customers who bought"),
        ],
        (
            [str(row.label), row.churn_rate, row.churn_base, row.clv, row.buyers]
            for row in customers_by_latest_nps(f)
        ),
    )


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def drivers(request: HttpRequest) -> HttpResponse:
    form = PeriodFilterForm(request.GET or None)
    f = form.kpi_filter() if form.is_bound and form.is_valid() else default_filter()
    metric = request.GET.get("metric")
    metric = metric if metric in METRICS else NPS
    if request.GET.get("format") == "csv":
        table = request.GET.get("table", "")
        if table not in CSV_TABLES:
            raise Http404
        return _csv(table, metric, f)
    kind = request.GET.get("poor", "")
    kind = kind if kind in POOR_KINDS else ""
    page = _page(request)
    comments = poor_comments(f=f, kind=kind, page=page, page_size=PAGE_SIZE)
    closed_loop = REGISTRY["closed_loop_rate"](f)
    loop_median = closed_loop["median_s"]
    return render(
        request,
        "analytics/drivers.html",
        {
            "form": form,
            "filter": f,
            "metric": metric,
            "metrics": [(key, label, _link(request, metric=key)) for key, label in METRICS.items()],
            "tables": driver_tables(metric=metric, f=f),
            "poor_kind": kind,
            "poor_kinds": [
                (key, label, _link(request, poor=key, page=1)) for key, label in POOR_KINDS.items()
            ],
            "comments": comments["comments"],
            "page": page,
            "previous_url": _link(request, page=page - 1) if page > 1 else None,
            "next_url": _link(request, page=page + 1) if comments["has_next"] else None,
            "frt_buckets": csat_by_first_response(f),
            "nps_groups": customers_by_latest_nps(f),
            "nps_group_count": len(NPS_GROUPS),
            "closed_loop": closed_loop,
            "closed_loop_median": None if loop_median is None else format_duration(loop_median),
            "small_sample": SMALL_SAMPLE,
        },
    )
