"""The local outbox: the emails the product sent, as customers receive them.

Staff only (is_staff or the Admin role): the messages carry customers' addresses and
conversations. The HTML part is shown inside a sandboxed iframe, so whatever an
email contains runs nothing in our origin."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from cxm import roles
from cxm.lib.mail import OutboxBackend, outbox_message, outbox_messages

OUTBOX_BACKEND = f"{OutboxBackend.__module__}.{OutboxBackend.__qualname__}"
SHOWN = 200


def _require_staff(request: HttpRequest) -> None:
    if not (request.user.is_staff or roles.has_role(request.user, roles.ADMIN)):
        raise PermissionDenied


@require_GET
def outbox_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    context = {
        "outbox": outbox_messages(limit=SHOWN),
        "shown": SHOWN,
        "keeps_mail": settings.EMAIL_BACKEND == OUTBOX_BACKEND,
    }
    return render(request, "tickets/outbox_list.html", context)


@require_GET
def outbox_detail(request: HttpRequest, key: str) -> HttpResponse:
    _require_staff(request)
    message = outbox_message(key)
    if message is None:
        raise Http404
    return render(request, "tickets/outbox_detail.html", {"message": message})


urlpatterns = [
    path("outbox/", outbox_list, name="outbox"),
    path("outbox/<str:key>/", outbox_detail, name="outbox_detail"),
]
