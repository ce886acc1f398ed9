"""The breakdowns page (/analytics/breakdowns/) and its CSV export, for managers and
admins: the main KPIs by team, agent, channel, category or segment over a period."""

from datetime import date, timedelta

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from .breakdowns import (
    COLUMNS,
    DEFAULT_DIMENSION,
    DIMENSIONS,
    SORT_BY_LABEL,
    TIME_KPIS,
    Breakdown,
    breakdown_sort_keys,
    breakdown_table,
)
from .csv_export import csv_response
from .filters import KpiFilter
from .kpis import SMALL_SAMPLE

DEFAULT_DAYS = 30


def _default_period() -> tuple[date, date]:
    today = timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


class BreakdownForm(forms.Form):
    """?from=&to=&by=&sort=. Missing dates default to the last 30 days; an unknown `by`
    or `sort` falls back to the default (they come from links, not from typing)."""

    by = forms.CharField(required=False)
    sort = forms.CharField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so these two fields cannot be class attributes.
        self.fields["from"] = forms.DateField(label=pgettext_lazy("period", "From"), required=False)
        self.fields["to"] = forms.DateField(label=pgettext_lazy("period", "To"), required=False)
        self.order_fields(["from", "to", "by", "sort"])

    def clean_by(self) -> str:
        by = self.data.get("by")
        return by if by in DIMENSIONS else DEFAULT_DIMENSION

    def clean(self) -> dict:
        cleaned = super().clean()
        default_from, default_to = _default_period()
        date_from = cleaned.get("from") or default_from
        date_to = cleaned.get("to") or default_to
        if "from" in self.errors or "to" in self.errors:
            return cleaned
        if date_from > date_to:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        if date_to >= date.max:
            raise forms.ValidationError(_("Choose an end date before the year 9999."))
        cleaned["from"], cleaned["to"] = date_from, date_to
        sort = cleaned.get("sort") or ""
        descending = sort.startswith("-")
        sort = sort.removeprefix("-")
        if sort not in breakdown_sort_keys(cleaned["by"]):
            sort, descending = SORT_BY_LABEL, False
        cleaned["sort"], cleaned["descending"] = sort, descending
        return cleaned


def _csv(breakdown: Breakdown, date_from: date, date_to: date) -> HttpResponse:
    filename = f"breakdown-{breakdown.by}-{date_from.isoformat()}-{date_to.isoformat()}.csv"
    header = [str(DIMENSIONS[breakdown.by])]
    for kpi in breakdown.columns:
        unit = gettext(" (s)") if kpi in TIME_KPIS else ""
        header += [f"{COLUMNS[kpi]}{unit}", gettext("%(kpi)s n") % {"kpi": COLUMNS[kpi]}]
    # No data is an empty cell, never 0; numbers keep full precision.
    rows = (
        [row.label, *(figure for cell in row.cells for figure in (cell.value, cell.n))]
        for row in breakdown.rows
    )
    return csv_response(filename, header, rows)


def _sort_links(request: HttpRequest, breakdown: Breakdown) -> list[dict]:
    """One heading per column: its label, the URL that sorts by it (toggling the
    direction when already sorted by it) and its aria-sort state."""
    links = []
    for key in (SORT_BY_LABEL, *breakdown.columns):
        current = breakdown.sort == key
        descending = not breakdown.descending if current else key != SORT_BY_LABEL
        query = request.GET.copy()
        query["sort"] = f"-{key}" if descending else key
        query.pop("format", None)
        state = ("descending" if breakdown.descending else "ascending") if current else "none"
        label = DIMENSIONS[breakdown.by] if key == SORT_BY_LABEL else COLUMNS[key]
        links.append({"key": key, "label": label, "url": f"?{query.urlencode()}", "aria": state})
    return links


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def breakdowns(request: HttpRequest) -> HttpResponse:
    form = BreakdownForm(request.GET)
    if not form.is_valid():
        if request.GET.get("format") == "csv":
            return HttpResponse(
                " ".join(form.errors.get("__all__", []) or [gettext("Invalid dates.")]),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        context = {"form": form, "dimensions": DIMENSIONS, "selected_by": form.clean_by()}
        return render(request, "analytics/breakdowns.html", context, status=400)
    data = form.cleaned_data
    period = KpiFilter(date_from=data["from"], date_to=data["to"])
    breakdown = breakdown_table(
        by=data["by"], f=period, sort=data["sort"], descending=data["descending"]
    )
    if request.GET.get("format") == "csv":
        return _csv(breakdown, period.date_from, period.date_to)
    export = request.GET.copy()
    export["format"] = "csv"
    return render(
        request,
        "analytics/breakdowns.html",
        {
            "form": form,
            "breakdown": breakdown,
            "period": period,
            "dimensions": DIMENSIONS,
            "selected_by": breakdown.by,
            "headings": _sort_links(request, breakdown),
            "export_url": f"?{export.urlencode()}",
            "small_sample": SMALL_SAMPLE,
        },
    )
