"""Fixed-window rate limits kept in Django's cache, for the public survey pages.

A window's counter is created with `add` and bumped with `incr`, both atomic on Redis
and memcached (and under LocMemCache's lock), so two processes never lose a count.
Keys are hashed: a survey token never sits in the cache in clear.
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

# (requests, seconds) per client IP and per invitation token; override with the
# CXM_SURVEY_RATE_LIMITS setting, e.g. {"ip": (30, 600), "token": (10, 600)}, which the
# environment variable of that name sets (CXM_SURVEY_RATE_LIMITS=ip=30/600,token=10/600).
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {"ip": (30, 600), "token": (10, 600)}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window that refused resets


def _limits() -> dict[str, tuple[int, int]]:
    return {**DEFAULT_LIMITS, **getattr(settings, "CXM_SURVEY_RATE_LIMITS", {})}


def hit(*, scope: str, key: str, limit: int, window: int, now: float | None = None) -> Verdict:
    """Count one request for `key` in the current window; allowed while the count is
    at most `limit`."""
    now = time.time() if now is None else now
    bucket = int(now // window)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"throttle:{scope}:{digest}:{bucket}"
    if cache.add(cache_key, 1, timeout=window):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # the window ended between add and incr
            cache.set(cache_key, 1, timeout=window)
            count = 1
    retry_after = max(1, int((bucket + 1) * window - now))
    return Verdict(allowed=count <= limit, retry_after=retry_after)


def client_ip(request: HttpRequest) -> str:
    """The caller's address: the connecting one, or, behind CXM_TRUSTED_PROXIES
    proxies, the address the outermost trusted proxy saw (clients can forge the rest of
    X-Forwarded-For, not that entry)."""
    proxies = getattr(settings, "CXM_TRUSTED_PROXIES", 0)
    remote = request.META.get("REMOTE_ADDR", "")
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return forwarded[0] if forwarded else remote
    return forwarded[-proxies]


def survey_post_allowed(request: HttpRequest, *, token: str, per_ip: bool = True) -> Verdict:
    """One POST to a public survey page: counted per invitation and, unless per_ip is
    False, per client IP. One-click unsubscribes come from mail providers' servers,
    thousands of customers behind a few addresses: those are counted per token only."""
    limits = _limits()
    verdicts = []
    if per_ip:
        ip_limit, ip_window = limits["ip"]
        verdicts.append(
            hit(scope="survey-ip", key=client_ip(request), limit=ip_limit, window=ip_window)
        )
    token_limit, token_window = limits["token"]
    verdicts.append(hit(scope="survey-token", key=token, limit=token_limit, window=token_window))
    refused = [verdict for verdict in verdicts if not verdict.allowed]
    if refused:
        return Verdict(allowed=False, retry_after=max(v.retry_after for v in refused))
    return Verdict(allowed=True, retry_after=0)
