"""Content-Security-Policy on every response: scripts and styles only from our own
files, so text that slipped past escaping still could not run.

Django 5.2 has no CSP of its own (6.0 will) and one fixed header needs no package.
Pages carry no inline <script> and no on* attribute (tests/security/test_csp.py),
data for charts travels in <script type="application/json"> blocks, which a browser
never runs, and behaviour lives in static files. tests/e2e/test_csp.py checks in
Chromium that no page we serve meets a violation.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}

# The two <style> elements plotly.min.js adds, allowed by their hashes (never by
# 'unsafe-inline'): its own, created empty and filled through the CSSOM, which a policy
# does not govern, and MapLibre's stylesheet, bundled with it. A plotly upgrade that
# changes the latter makes Chromium report a violation (tests/e2e/test_csp.py) whose
# message gives the new hash to put here.
PLOTLY_STYLES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the empty string
    "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",  # MapLibre's CSS (plotly.js 4.1)
)
# Style attributes cannot run or load anything under the directives above; allowed
# only where a page needs them.
STYLE_ATTRIBUTES = {"style-src-attr": "'unsafe-inline'"}

# What some paths need beyond POLICY, by path prefix.
EXCEPTIONS: dict[str, dict[str, str]] = {
    # The KPI pages draw their charts with Plotly; a template sizes each chart.
    "/analytics/": {"style-src": " ".join(("'self'", *PLOTLY_STYLES)), **STYLE_ATTRIBUTES},
    # Emails are styled inline, as every email must be, and these pages show them in an
    # iframe's srcdoc, which takes its page's policy: the outbox and the builder's preview.
    "/desk/outbox/": STYLE_ATTRIBUTES,
    "/surveys/builder/": STYLE_ATTRIBUTES,
    # Swagger UI's page (drf-spectacular's template, not ours) opens with a <style> block.
    "/api/docs/": {"style-src": "'self' 'unsafe-inline'"},
}


def policy_for(path: str) -> str:
    directives = dict(POLICY)
    for prefix, extra in EXCEPTIONS.items():
        if path.startswith(prefix):
            directives.update(extra)
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A view that knows better (none yet) may set its own.
        if HEADER not in response:
            response[HEADER] = policy_for(request.path_info)
        return response
