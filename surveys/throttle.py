"""Fixed-window rate limits kept in Django's cache, for the public survey pages.

A window's counter is created with `add` and bumped with `incr`, both atomic on Redis
and memcached (and under LocMemCache's lock), so two processes never lose a count. On
Redis every counter of a request is created and bumped in one MULTI/EXEC round trip
(add and incr there take three per counter: most of what a submission waited for).
Keys are hashed: a survey token never sits in the cache in clear.
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

# (requests, seconds) per client IP and per invitation token; override with the
# CXM_SURVEY_RATE_LIMITS setting, e.g. {"ip": (30, 600), "token": (10, 600)}, which the
# environment variable of that name sets (CXM_SURVEY_RATE_LIMITS=ip=30/600,token=10/600).
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {"ip": (30, 600), "token": (10, 600)}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window that refused resets


@dataclass(frozen=True)
class _Window:
    """One request counted for `key` in the current fixed window of `window` seconds."""

    scope: str
    key: str
    limit: int
    window: int
    now: float

    @property
    def bucket(self) -> int:
        return int(self.now // self.window)

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        return f"throttle:{self.scope}:{digest}:{self.bucket}"

    def verdict(self, count: int) -> Verdict:
        retry_after = max(1, int((self.bucket + 1) * self.window - self.now))
        return Verdict(allowed=count <= self.limit, retry_after=retry_after)


def _limits() -> dict[str, tuple[int, int]]:
    return {**DEFAULT_LIMITS, **getattr(settings, "CXM_SURVEY_RATE_LIMITS", {})}


def _count_one(cache, window: _Window) -> int:
    if cache.add(window.cache_key, 1, timeout=window.window):
        return 1
    try:
        return cache.incr(window.cache_key)
    except ValueError:  # the window ended between add and incr
        cache.set(window.cache_key, 1, timeout=window.window)
        return 1


def _redis_client(cache: RedisCache):
    """The backend's Redis client, made once: Django makes one per call, and redis-py
    fills a table of some 170 reply handlers for each (a third of a throttled request's
    time). It shares the backend's connection pool; the backend is per thread."""
    client = getattr(cache, "_throttle_client", None)
    if client is None:
        client = cache._throttle_client = cache._cache.get_client(write=True)
    return client


def _count_on_redis(cache: RedisCache, windows: list[_Window]) -> list[int]:
    keys = [cache.make_and_validate_key(window.cache_key) for window in windows]
    # Django's Redis cache stores integers as plain numbers, so INCR and cache.get()
    # agree on these counters.
    with _redis_client(cache).pipeline(transaction=True) as pipeline:
        for key, window in zip(keys, windows, strict=True):
            pipeline.set(key, 0, ex=window.window, nx=True)
            pipeline.incr(key)
        replies = pipeline.execute()
    return [int(count) for count in replies[1::2]]


def _count(windows: list[_Window]) -> list[int]:
    """Count one request in each window; the counts after it, in order."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        return _count_on_redis(cache, windows)
    return [_count_one(cache, window) for window in windows]


def hit(*, scope: str, key: str, limit: int, window: int, now: float | None = None) -> Verdict:
    """Count one request for `key` in the current window; allowed while the count is
    at most `limit`."""
    counted = _Window(scope, key, limit, window, time.time() if now is None else now)
    return counted.verdict(_count([counted])[0])


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
    now = time.time()
    windows = []
    if per_ip:
        ip_limit, ip_window = limits["ip"]
        windows.append(_Window("survey-ip", client_ip(request), ip_limit, ip_window, now))
    token_limit, token_window = limits["token"]
    windows.append(_Window("survey-token", token, token_limit, token_window, now))
    verdicts = [
        window.verdict(count) for window, count in zip(windows, _count(windows), strict=True)
    ]
    refused = [verdict for verdict in verdicts if not verdict.allowed]
    if refused:
        return Verdict(allowed=False, retry_after=max(v.retry_after for v in refused))
    return Verdict(allowed=True, retry_after=0)
