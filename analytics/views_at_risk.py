"""The at-risk customers page (/analytics/at-risk/) and its CSV export, for managers and
admins: current customers ranked by risk score (analytics.at_risk), with the reasons."""

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from customers.models import Customer
from tickets.selectors import page_of

from . import at_risk
from .csv_export import csv_response

PAGE_SIZE = 50


class AtRiskForm(forms.Form):
    """?segment=&page=. An unknown segment is a form error; a bad page is page 1."""

    segment = forms.ChoiceField(label=_("Segment"), required=False)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        segments = (
            Customer.objects.exclude(segment="")
            .order_by("segment")
            .values_list("segment", flat=True)
            .distinct()
        )
        self.fields["segment"].choices = [("", _("All")), *((s, s) for s in segments)]
        self.fields["segment"].widget.attrs["class"] = "form-select form-select-sm"


def _csv_rows(customers):
    for rank, customer in enumerate(customers.iterator(chunk_size=2000), start=1):
        reasons = "; ".join(
            f"{reason.text} (+{reason.points})" for reason in at_risk.risk_reasons(customer)
        )
        yield [
            rank,
            customer.pk,
            customer.name,
            customer.email,
            customer.segment,
            customer.risk_score,
            reasons,
        ]


def _csv(customers, segment: str) -> HttpResponse:
    filename = f"at-risk-{segment or 'all'}-{timezone.localdate().isoformat()}.csv"
    header = [
        gettext("Rank"),
        gettext("Customer number"),
        gettext("Name"),
        gettext("Email"),
        gettext("Segment"),
        gettext("Risk score"),
        gettext("Reasons"),
    ]
    return csv_response(filename, header, _csv_rows(customers))


@require_GET
@permission_required("accounts.view_analytics", raise_exception=True)
def at_risk_list(request: HttpRequest) -> HttpResponse:
    form = AtRiskForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "window_days": at_risk.WINDOW_DAYS, "weights": at_risk}
        return render(request, "analytics/at_risk.html", context, status=400)
    segment = form.cleaned_data["segment"]
    customers = at_risk.at_risk_customers(segment=segment or None)
    if request.GET.get("format") == "csv":
        return _csv(customers, segment)
    page = form.cleaned_data["page"] or 1
    rows, has_next = page_of(customers, page=page, page_size=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    export = query.copy()
    export["format"] = "csv"
    return render(
        request,
        "analytics/at_risk.html",
        {
            "form": form,
            "rows": [(customer, at_risk.risk_reasons(customer)) for customer in rows],
            "first_rank": (page - 1) * PAGE_SIZE + 1,
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if has_next else None,
            "query": query.urlencode(),
            "export_url": f"?{export.urlencode()}",
            "window_days": at_risk.WINDOW_DAYS,
            "weights": at_risk,
        },
    )
