"""The drill-down page (/analytics/drill/<metric>/) and its CSV export, for managers and
admins: the answers, tickets, invitations, customers or purchases behind a figure
(analytics.drill), a page at a time, each linked to its ticket or customer.

The page reads the same query string as the other analytics pages (period, team, agent,
channel, category, segment, survey) plus `part` (the subset behind one figure) and
`score`, and the NARROWERS of the drivers page's joined tables (`latest_nps`, `frt`).
Its query count does not depend on the data: the session, the form's choices,
the KPI itself, one COUNT and one page of rows (joined, never a query per row). The CSV
streams every row of the set."""

from dataclasses import replace

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import User
from tickets.selectors import page_of

from .csv_export import csv_response
from .drill import (
    DRILLS,
    NARROWERS,
    NO_VALUE,
    Drill,
    drill_rows,
    drill_url,
)
from .drill.columns import COLUMNS, NONE_LABEL, channel_label, count_text, describe, person_name
from .filters import KpiFilter
from .forms import PeriodFilterForm, default_filter
from .glossary import GLOSSARY
from .kpis import REGISTRY
from .views import KPI_KINDS, PERCENT, format_figure, headline

PAGE_SIZE = 50
MAX_TEXT_VALUE = 60  # the longest category or segment a row can have
MAX_PAGE = 100_000
"""Deeper than this (five million rows), read the CSV; a bigger number is this page."""
SMALLINT = 32767


class DrillForm(PeriodFilterForm):
    """The period and filters of the analytics pages, "(none)" as a value of the text
    dimensions (rows of answers without a category…), the part and the score."""

    part = forms.CharField(required=False, widget=forms.HiddenInput)
    score = forms.IntegerField(
        required=False, min_value=-SMALLINT, max_value=SMALLINT, widget=forms.HiddenInput
    )

    def __init__(self, data=None, *args, drill: Drill, **kwargs) -> None:
        super().__init__(data, *args, **kwargs)
        self.drill = drill
        # Tables credit agents who have left too (their old tickets): any user may be asked.
        self.fields["agent"].queryset = User.objects.order_by("first_name", "last_name", "username")
        for name in ("channel", "category", "segment"):
            field = self.fields[name]
            field.choices = [*field.choices, (NO_VALUE, NONE_LABEL)]
        for name in ("category", "segment"):
            # An answer keeps the category and segment it was given under; the ticket or
            # customer may have another one now, so a link may name a value no ticket
            # or customer has any more. It still names the answers' rows.
            value = self.data.get(name) if self.is_bound else None
            field = self.fields[name]
            plausible = value and len(value) <= MAX_TEXT_VALUE and "\x00" not in value
            if plausible and value not in dict(field.choices):
                field.choices = [*field.choices, (value, value)]

    def clean_part(self) -> str:
        part = self.cleaned_data["part"]
        if part and part not in self.drill.parts:
            raise forms.ValidationError(_("This figure has no such group of rows."))
        return part

    def clean_score(self) -> int | None:
        score = self.cleaned_data["score"]
        if score is not None and not self.drill.scored:
            raise forms.ValidationError(_("Only answers have a score."))
        return score

    def clean(self) -> dict:
        cleaned = super().clean()
        cleaned["narrow"] = {}
        for name, narrower in NARROWERS.items():
            value = self.data.get(name)
            if not value:
                continue
            if name not in self.drill.narrowers or value not in narrower.choices:
                self.add_error(None, _("These rows cannot be cut by that group."))
            else:
                cleaned["narrow"][name] = value
        return cleaned

    def kpi_filter(self) -> KpiFilter:
        f = super().kpi_filter()
        empty = {
            name: "" for name in ("channel", "category", "segment") if getattr(f, name) == NO_VALUE
        }
        return replace(f, **empty)


# --- Words ---------------------------------------------------------------------------


def _filter_words(
    form: DrillForm, f: KpiFilter, drill: Drill, narrow: dict[str, str]
) -> tuple[list, list]:
    """(label, value) of each dimension filter the rows follow, and the labels of those
    the figure ignores (the team does not describe a customer…)."""
    applied, ignored = [], []
    followed = drill.dimensions.union(*(NARROWERS[name].dimensions for name in narrow))
    for dimension, value in f.dimensions().items():
        field = form.fields[dimension]
        if dimension not in followed:
            ignored.append(str(field.label))
            continue
        if value == "":
            shown = str(NONE_LABEL)
        elif dimension in ("team", "survey"):
            shown = str(form.cleaned_data[dimension])
        elif dimension == "agent":
            shown = person_name(form.cleaned_data[dimension])
        elif dimension == "channel":
            shown = channel_label(value)
        else:
            shown = str(value)
        applied.append((field.label, shown))
    return applied, ignored


def _figure(metric: str, f: KpiFilter) -> dict:
    kpi = REGISTRY[metric](f)
    return {
        "name": GLOSSARY[metric].name if metric in GLOSSARY else metric,
        "value": format_figure(headline(kpi), KPI_KINDS.get(metric, PERCENT)),
        "n": kpi["n"],
    }


# --- The page -------------------------------------------------------------------------


def _page_number(request: HttpRequest) -> int:
    try:
        return min(max(1, int(request.GET.get("page", "1"))), MAX_PAGE)
    except ValueError:
        return 1


def _with(request: HttpRequest, **changes: object) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return f"?{query.urlencode()}"


def _csv(metric: str, drill: Drill, rows, f: KpiFilter, part: str | None) -> HttpResponse:
    columns = COLUMNS[drill.kind]
    filename = f"{metric}-{part or 'all'}-{f.date_from.isoformat()}-{f.date_to.isoformat()}.csv"
    return csv_response(
        filename,
        [str(column.header) for column in columns],
        ([column.value(row) for column in columns] for row in rows.iterator(chunk_size=2000)),
        streaming=True,
    )


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def drill(request: HttpRequest, metric: str) -> HttpResponse:
    definition = DRILLS.get(metric)
    if definition is None:
        raise Http404
    form = DrillForm(request.GET or None, drill=definition)
    wants_csv = request.GET.get("format") == "csv"
    if form.is_bound and not form.is_valid():
        if wants_csv:
            return HttpResponse(
                gettext("Invalid filters: open the page to see what to change."),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return render(request, "analytics/drill.html", {"form": form, "metric": metric}, status=400)
    f = form.kpi_filter() if form.is_bound else default_filter()
    part = (form.cleaned_data["part"] or None) if form.is_bound else None
    score = form.cleaned_data["score"] if form.is_bound else None
    narrow = form.cleaned_data["narrow"] if form.is_bound else {}
    rows = drill_rows(definition, f, part=part, score=score, narrow=narrow)
    if wants_csv:
        return _csv(metric, definition, rows, f, part)

    page = _page_number(request)
    shown, has_next = page_of(rows, page=page, page_size=PAGE_SIZE)
    columns = [column for column in COLUMNS[definition.kind] if column.on_page]
    applied, ignored = _filter_words(form, f, definition, narrow) if form.is_bound else ([], [])
    parts = [(None, _("All"))] + [(key, p.label) for key, p in definition.parts.items()]
    return render(
        request,
        "analytics/drill.html",
        {
            "form": form,
            "metric": metric,
            "filter": f,
            "figure": _figure(metric, f),
            "description": describe(definition, f, part=part, score=score, narrow=narrow),
            "count": count_text(definition.kind, rows.count()),
            "applied": applied,
            "ignored": ignored,
            "parts": [
                (
                    label,
                    drill_url(metric, f, part=key, narrow=narrow),
                    key == part and score is None,
                )
                for key, label in parts
            ],
            "headers": [column.header for column in columns],
            "rows": [[column.cell(row) for column in columns] for row in shown],
            "page": page,
            "previous_url": _with(request, page=page - 1, format=None) if page > 1 else None,
            "next_url": _with(request, page=page + 1, format=None) if has_next else None,
            "export_url": _with(request, format="csv", page=None),
        },
    )
