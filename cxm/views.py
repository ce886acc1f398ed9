from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

# A health check that waits on a dead dependency is itself a failure: the load balancer
# (or Docker) gives up long before the OS TCP timeouts, so every broker wait is bounded.
BROKER_TIMEOUT_SECONDS = 2


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        # A dead connection must not stay cached for the next request.
        connection.close_if_unusable_or_obsolete()
        return False


def _broker_ok() -> bool:
    from kombu import Connection

    transport_options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        # The Redis transport ignores connect_timeout and would otherwise block forever
        # on a server that accepts the connection but never answers PING.
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
    }
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=transport_options,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
        ) as broker:
            # No retries: kombu sleeps two seconds before the first one.
            broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
        return True
    except Exception:
        return False


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database (and the broker, when one is configured) answer; 503 if not."""
    checks = {"database": "ok" if _database_ok() else "down"}
    if settings.CELERY_BROKER_CONFIGURED:
        checks["broker"] = "ok" if _broker_ok() else "down"
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "down", "checks": checks}, status=200 if healthy else 503
    )


def home(request: HttpRequest) -> HttpResponse:
    """Staff land on their queue."""
    return redirect("desk:queue")
