"""The drivers page (/analytics/drivers/), for managers and admins: what pulls NPS and
CSAT down, the comments of unhappy customers, and views joining answers with tickets
and customers."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .drivers import (
    METRICS,
    NPS,
    NPS_GROUPS,
    POOR_KINDS,
    csat_by_first_response,
    customers_by_latest_nps,
    driver_tables,
    poor_comments,
)
from .forms import PeriodFilterForm, default_filter
from .kpis import REGISTRY, SMALL_SAMPLE
from .views import format_duration

PAGE_SIZE = 25


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


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def drivers(request: HttpRequest) -> HttpResponse:
    form = PeriodFilterForm(request.GET or None)
    f = form.kpi_filter() if form.is_bound and form.is_valid() else default_filter()
    metric = request.GET.get("metric")
    metric = metric if metric in METRICS else NPS
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
