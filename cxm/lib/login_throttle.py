"""What a locked-out login gets (django-axes, settings AXES_*): a 429 that says, in the
user's language, why and for how long. Browsers get a page, API clients JSON."""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

STATUS = 429


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    minutes = max(1, -(-seconds // 60))
    if request.path_info.startswith("/api/"):
        message = ngettext(
            "Too many failed logins. Try again in %(minutes)d minute.",
            "Too many failed logins. Try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
        response: HttpResponse = JsonResponse({"detail": message}, status=STATUS)
    else:
        response = render(
            request, "registration/locked_out.html", {"minutes": minutes}, status=STATUS
        )
    if seconds:
        # At most this long: the lockout started with the last failed try.
        response["Retry-After"] = str(seconds)
    return response


class AxesLockoutMixin:
    """For DRF views that log in (the API token endpoint). django-axes marks a lockout
    on the request it was handed, which there is DRF's wrapper; AxesMiddleware reads
    Django's own request, so pass the mark on and the client gets the same 429."""

    def finalize_response(self, request, response, *args, **kwargs):
        if getattr(request, "axes_locked_out", False):
            request._request.axes_locked_out = True
        return super().finalize_response(request, response, *args, **kwargs)


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' gate, for logins that come with a request: the login pages and the
    API token endpoint (each passes it). A call without one is code the project runs
    itself (a shell, a command, a test client's login), with no address to count."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
