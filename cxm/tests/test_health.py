import socket
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from django.db import OperationalError, connections
from django.urls import reverse

from cxm.views import BROKER_TIMEOUT_SECONDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_broker(settings):
    settings.CELERY_BROKER_CONFIGURED = False


@pytest.fixture
def filesystem_broker(settings, tmp_path):
    """A configured broker that is up without any server: kombu's filesystem transport."""
    queue = tmp_path / "queue"
    queue.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
    }
    settings.CELERY_BROKER_CONFIGURED = True


@pytest.fixture
def silent_redis_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes the handshake from the
    listen backlog) but never answers a byte, like a hung Redis."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_healthz_answers_200_with_the_database_status_when_no_broker_is_configured(
    client, no_broker
):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_healthz_needs_no_login_and_is_never_cached(client, no_broker):
    response = client.get("/healthz/")

    assert response.status_code == 200
    cache_control = response["Cache-Control"]
    assert "no-cache" in cache_control
    assert "no-store" in cache_control
    assert "max-age=0" in cache_control


def test_healthz_answers_head_requests_from_load_balancers(client, no_broker):
    assert client.head("/healthz/").status_code == 200
    assert client.post("/healthz/").status_code == 405


def test_healthz_answers_200_when_the_configured_broker_is_up(client, filesystem_broker):
    response = client.get("/healthz/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_healthz_answers_503_at_once_when_the_configured_broker_refuses_connections(
    client, settings
):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_CONFIGURED = True

    started = time.monotonic()
    response = client.get("/healthz/")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {"status": "down", "checks": {"database": "ok", "broker": "down"}}
    # A refused connection is known at once; no retry with kombu's sleeps in between.
    assert elapsed < BROKER_TIMEOUT_SECONDS


def test_healthz_gives_up_on_a_broker_that_never_answers_within_its_timeout(
    client, settings, silent_redis_port
):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_redis_port}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_CONFIGURED = True

    started = time.monotonic()
    response = client.get("/healthz/")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "down"
    assert elapsed < 2 * BROKER_TIMEOUT_SECONDS + 1


def test_healthz_answers_503_when_the_database_is_down(client, no_broker):
    # Taking the real test database down mid-suite is not practical (the test runner
    # holds it open, and on SQLite it lives in this process's memory), so the default
    # connection fails the way a lost PostgreSQL server makes it fail.
    lost = OperationalError("server closed the connection unexpectedly")
    with mock.patch.object(connections["default"], "cursor", side_effect=lost):
        response = client.get("/healthz/")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "checks": {"database": "down"}}
