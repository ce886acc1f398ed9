"""The analytics pages (/analytics/…), for managers and admins."""

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .glossary import glossary_entries
from .kpis import SMALL_SAMPLE


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
