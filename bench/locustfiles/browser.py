"""How a simulated browser talks to the production settings through loopback: as behind
the TLS-terminating proxy (X-Forwarded-Proto: https), so cookies are Secure and it sends
them itself (the client's cookie jar keeps Secure cookies off plain-HTTP URLs, as a
browser would), with an Origin header on every POST as browsers send."""

import re
from urllib.parse import urlencode

_FORM_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def headers(*, cookies: dict[str, str], origin: str = "", form: bool = False) -> dict:
    sent = {"X-Forwarded-Proto": "https"}
    if cookies:
        sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if origin:
        sent["Origin"] = origin
    if form:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    return sent


def form_body(fields: dict[str, str]) -> str:
    return urlencode(fields)


def form_token(html: str) -> str:
    """The CSRF token of the page's first form ("" when the page has none)."""
    found = _FORM_TOKEN.search(html)
    return found.group(1) if found else ""


def cookie(client, name: str) -> str:
    """A cookie the server set on this client (Secure ones included), or ""."""
    for stored in client.cookiejar:
        if stored.name == name:
            return stored.value
    return ""
