"""The public survey pages' rate limits on the cache production shares between its web
processes (Redis), where every request's counters are created and bumped in one round
trip. The same limits on the per-process cache are tested through HTTP in test_views."""

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.test import RequestFactory

from surveys import throttle

WINDOW = 600


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    """A redis-server of this test's own, empty, with nothing kept on disk."""
    port = _free_port()
    command = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (tmp_path / "redis.log").open("wb") as log:
        # The machine's own redis-server binary, with arguments of ours only.
        server = subprocess.Popen(  # noqa: S603
            command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"redis-server did not start: {(tmp_path / 'redis.log').read_text()}")
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.kill()
        server.wait(timeout=10)


@pytest.fixture
def shared_cache(redis_url, settings) -> redis.Redis:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "cxm",
        }
    }
    settings.CXM_TRUSTED_PROXIES = 0
    return redis.Redis.from_url(redis_url)


def post_from(address: str):
    return RequestFactory().post("/s/token/", REMOTE_ADDR=address)


def in_another_process(call):
    """Run `call` as another web process would: Django's caches are per thread, so a
    thread gets its own cache backend and Redis client."""
    result = []
    worker = threading.Thread(target=lambda: result.append(call()))
    worker.start()
    worker.join()
    return result[0]


def test_every_process_counts_into_the_same_window_per_invitation(shared_cache, settings):
    settings.CXM_SURVEY_RATE_LIMITS = {"token": (3, WINDOW)}
    mine = [throttle.survey_post_allowed(post_from(f"10.0.0.{n}"), token="T" * 43) for n in (1, 2)]
    theirs = in_another_process(
        lambda: throttle.survey_post_allowed(post_from("10.0.0.3"), token="T" * 43)
    )

    refused = throttle.survey_post_allowed(post_from("10.0.0.4"), token="T" * 43)
    other_invitation = throttle.survey_post_allowed(post_from("10.0.0.4"), token="U" * 43)

    assert all(verdict.allowed for verdict in [*mine, theirs])
    assert not refused.allowed
    assert 0 < refused.retry_after <= WINDOW
    assert other_invitation.allowed


def test_the_address_limit_counts_every_invitation_posted_from_it(shared_cache, settings):
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (2, WINDOW)}
    address = post_from("203.0.113.7")

    verdicts = [throttle.survey_post_allowed(address, token=f"{n}" * 43) for n in range(3)]
    unsubscribes = throttle.survey_post_allowed(address, token="9" * 43, per_ip=False)

    assert [verdict.allowed for verdict in verdicts] == [True, True, False]
    assert unsubscribes.allowed  # one-click unsubscribes are counted per invitation only


def test_the_counters_expire_with_their_window_and_the_next_one_starts_afresh(
    shared_cache, settings, time_machine
):
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (1, WINDOW), "token": (1, WINDOW)}
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    first = throttle.survey_post_allowed(post_from("198.51.100.9"), token="T" * 43)
    again = throttle.survey_post_allowed(post_from("198.51.100.9"), token="T" * 43)
    counters = shared_cache.keys("cxm:*throttle*")

    time_machine.shift(timedelta(seconds=WINDOW))
    next_window = throttle.survey_post_allowed(post_from("198.51.100.9"), token="T" * 43)

    assert (first.allowed, again.allowed, next_window.allowed) == (True, False, True)
    assert len(counters) == 2  # one per address and one per invitation, the token hashed
    assert not any(b"T" * 43 in key for key in counters)
    assert all(0 < shared_cache.ttl(key) <= WINDOW for key in counters)
