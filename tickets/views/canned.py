"""Canned replies: the shared ones and the agent's own, with their placeholders.
Who may change which is the service's rule (canned_reply_save / canned_reply_delete);
an agent never even sees another agent's personal replies."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cxm import roles
from cxm.lib.exceptions import ApplicationError

from .. import selectors, services
from ..canned import PLACEHOLDERS
from ..forms.canned import CannedReplyForm
from ..forms.ticket import add_service_error
from ..models import CannedReply


def _canned_or_404(request: HttpRequest, pk: int) -> CannedReply:
    canned = selectors.canned_reply_get(pk, user=request.user)
    if canned is None:
        raise Http404
    return canned


@require_GET
@permission_required("tickets.view_cannedreply", raise_exception=True)
def canned_list(request: HttpRequest) -> HttpResponse:
    context = {
        "canned_replies": selectors.canned_reply_list(user=request.user),
        "placeholders": PLACEHOLDERS,
        "may_share": roles.is_manager(request.user),
    }
    return render(request, "tickets/canned_list.html", context)


def _edit(request: HttpRequest, canned: CannedReply | None) -> HttpResponse:
    form = CannedReplyForm(request.POST or None, user=request.user, canned=canned)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.canned_reply_save(
                actor=request.user, canned=canned, **form.service_arguments()
            )
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Canned reply “%(title)s” saved.") % {"title": saved})
            return redirect("desk:canned_list")
    context = {"form": form, "canned": canned, "placeholders": PLACEHOLDERS}
    return render(request, "tickets/canned_form.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("tickets.add_cannedreply", raise_exception=True)
def canned_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@require_http_methods(["GET", "POST"])
@permission_required("tickets.change_cannedreply", raise_exception=True)
def canned_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, _canned_or_404(request, pk))


@require_POST
@permission_required("tickets.delete_cannedreply", raise_exception=True)
def canned_delete(request: HttpRequest, pk: int) -> HttpResponse:
    canned = _canned_or_404(request, pk)
    try:
        services.canned_reply_delete(canned=canned, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Canned reply “%(title)s” deleted.") % {"title": canned})
    return redirect("desk:canned_list")


urlpatterns = [
    path("canned/", canned_list, name="canned_list"),
    path("canned/new/", canned_new, name="canned_new"),
    path("canned/<int:pk>/edit/", canned_edit, name="canned_edit"),
    path("canned/<int:pk>/delete/", canned_delete, name="canned_delete"),
]
