"""Every URL pattern of the project, requested as each kind of visitor, against the
expected outcomes in tests/security/matrix.py.

The patterns come from walking the URLconf (admin and API included), so a new URL
without an entry in the matrix fails here, named. Path parameters are filled with real
objects, the same for every role, so an outcome reflects the role and nothing else.
Any request whose expected outcome is not "ok" must also write nothing to the
database, and neither may any GET.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.http import HttpResponseBase
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User
from accounts.tests.factories import admin as admin_factory
from accounts.tests.factories import agent as agent_factory
from accounts.tests.factories import manager as manager_factory
from customers.models import Customer, CustomerEvent, LifecycleChange, Purchase
from customers.tests.factories import CustomerEventFactory, PayingCustomerFactory, PurchaseFactory
from cxm.lib.mail import OutboxBackend, outbox_messages
from surveys import services as survey_services
from surveys.models import Invitation, Question, Survey
from surveys.services.responses import AnswerInput
from tickets import services as ticket_services
from tickets.models import (
    BusinessCalendar,
    CannedReply,
    Message,
    Notification,
    SLAPolicy,
    Ticket,
    WorkingHours,
)
from tickets.tests.factories import TeamFactory

from .matrix import MATRIX, OUTCOMES, ROLES

# A well-formed survey token that belongs to no invitation: what a visitor who holds
# no token can try.
UNKNOWN_TOKEN = "x" * 43
# What signing in or out writes: the session and django-axes' log of it.
IGNORED_TABLES = {"django_session", "axes_accesslog"}


# --- The URLconf ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the route itself for an unnamed pattern
    name: str | None
    route: str


def _walk(resolver: URLResolver, prefix: str, namespace: str) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry, route, inner)
        elif isinstance(entry, URLPattern):
            name = None
            if entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield Route(key=name or route, name=name, route=route)


def url_routes() -> list[Route]:
    """Every URL pattern the project answers, in URLconf order."""
    return list(_walk(get_resolver(), "", ""))


_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def route_params(route: str) -> list[str]:
    return [match.group(1) or match.group(2) for match in _ROUTE_PARAM.finditer(route)]


# --- The objects the URLs point at ----------------------------------------------------


@dataclass
class World:
    users: dict[str, User]
    ticket: Ticket
    message: Message
    customer: Customer
    purchase: Purchase
    event: CustomerEvent
    canned: CannedReply
    survey: Survey
    question: Question
    invitation: Invitation
    outbox_key: str


def _admin_object(model):
    """One saved row of each model the admin registers: its pages need an object_id."""
    found = model._default_manager.order_by("pk").first()
    if found is None:
        pytest.fail(f"the permission matrix creates no {model._meta.label}: add one to build_world")
    return found


def _login_attempts() -> None:
    """django-axes' records of logins, which its admin pages list."""
    if not apps.is_installed("axes"):
        return
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {
        "user_agent": "matrix",
        "ip_address": "192.0.2.1",
        "username": "nobody",
        "http_accept": "*/*",
        "path_info": "/login/",
    }
    AccessAttempt.objects.create(get_data="", post_data="", failures_since_start=1, **seen)
    AccessFailureLog.objects.create(**seen)
    AccessLog.objects.create(**seen)


def build_world(outbox_dir) -> World:
    users = {
        "agent": agent_factory(username="matrix-agent"),
        "manager": manager_factory(username="matrix-manager"),
        "admin": admin_factory(username="matrix-admin"),
    }
    agent = users["agent"]
    team = TeamFactory(name="Matrix team", members=[agent])
    customer = PayingCustomerFactory(name="Matrix Customer")
    ticket = ticket_services.ticket_create(
        customer=customer, subject="Matrix ticket", body="It broke.", team=team, assignee=agent
    )
    message = ticket_services.ticket_reply(ticket=ticket, author=agent, body="We are on it.")
    ticket_services.ticket_set_tags(ticket=ticket, tags=["matrix"], actor=agent)
    Notification.objects.create(user=agent, ticket=ticket, kind="assigned", text="Assigned")
    calendar = BusinessCalendar.objects.create(name="Matrix hours")
    WorkingHours.objects.create(calendar=calendar, weekday=0, opens=time(9), closes=time(17))
    SLAPolicy.objects.create(
        name="Matrix SLA",
        priority="normal",
        calendar=calendar,
        first_response_minutes=60,
        resolution_minutes=480,
    )
    LifecycleChange.objects.create(customer=customer, from_stage="lead", to_stage="customer")
    purchase = PurchaseFactory(customer=customer, amount=Decimal("50.00"))
    event = CustomerEventFactory(customer=customer)
    # The agent's own reply: private to them, so the others get "not found".
    canned = CannedReply.objects.create(title="Matrix canned", body="Hello", owner=agent)
    Token.objects.create(user=agent)

    survey = survey_services.survey_save(name="Matrix survey")
    question = survey_services.question_save(
        survey=survey,
        type=Question.Type.NPS,
        text_en="Recommend us?",
        text_es="¿Nos recomendarías?",
    )
    survey = survey_services.survey_save(survey=survey, is_active=True)
    now = timezone.now()
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        status=Invitation.Status.SENT,
        language="en",
        send_after=now - timedelta(hours=2),
        sent_at=now - timedelta(hours=1),
        expires_at=now + timedelta(days=14),
    )
    # A second invitation, answered, gives the admin a response to show.
    answered = Invitation.objects.create(
        survey=survey,
        customer=PayingCustomerFactory(),
        status=Invitation.Status.SENT,
        language="en",
        sent_at=now - timedelta(hours=1),
        expires_at=now + timedelta(days=14),
    )
    survey_services.response_record(
        invitation=answered, answers={question.pk: AnswerInput(score=9)}, language="en"
    )
    LogEntry.objects.log_actions(
        user_id=users["admin"].pk, queryset=[customer], action_flag=1, single_object=True
    )

    OutboxBackend().send_messages(
        [EmailMessage("Matrix email", "Hello", "cxm@example.com", ["customer@example.com"])]
    )
    outbox_key = outbox_messages()[0].key
    assert outbox_dir.is_dir()

    _login_attempts()
    if apps.is_installed("privacy"):
        erasure_record = apps.get_model("privacy", "ErasureRecord")
        erasure_record.objects.create(kind="retention", cutoff=now - timedelta(days=365))
    for model in admin.site._registry:
        _admin_object(model)
    return World(
        users=users,
        ticket=ticket,
        message=message,
        customer=customer,
        purchase=purchase,
        event=event,
        canned=canned,
        survey=survey,
        question=question,
        invitation=invitation,
        outbox_key=outbox_key,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module inside a transaction rolled back at its end; each test
    runs in a savepoint of its own (pytest-django's `db`), so a POST changes nothing
    the next test sees."""
    outbox_dir = tmp_path_factory.mktemp("outbox")
    with (
        override_settings(EMAIL_FILE_PATH=str(outbox_dir)),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield build_world(outbox_dir)
        transaction.set_rollback(True)


def _admin_model(key: str, route: str):
    """The model behind an admin page: from its route (admin/<app>/<model>/…)."""
    parts = route.split("/")
    if len(parts) > 3 and parts[0] == "admin":
        try:
            return apps.get_model(parts[1], parts[2])
        except (LookupError, ValueError):
            pass
    pytest.fail(f"{key}: no model found for its object_id")


def path_values(route: Route, role: str, world: World) -> dict[str, object]:
    values: dict[str, object] = {}
    key = route.key
    for param in route_params(route.route):
        if param == "pk":
            if key.startswith("desk:canned"):
                value = world.canned.pk
            elif key.startswith("desk:"):
                value = world.ticket.pk
            elif key.startswith("customers:"):
                value = world.customer.pk
            elif key.startswith("survey_builder:"):
                value = world.survey.pk
            else:
                pytest.fail(f"{key}: which object is its pk?")
        elif param == "token":
            # Every role but "anonymous" is given the real token: the page answers
            # whoever holds it.
            value = UNKNOWN_TOKEN if role == "anonymous" else world.invitation.token
        elif key == "admin:view_on_site":
            ticket_type = ContentType.objects.get_for_model(world.ticket)
            value = {"content_type_id": ticket_type.pk, "object_id": world.ticket.pk}[param]
        elif param == "object_id":
            value = _admin_object(_admin_model(key, route.route)).pk
        else:
            known = {
                "message_pk": world.message.pk,
                "key": world.outbox_key,
                "question_id": world.question.pk,
                "language": "en",
                "metric": "nps",  # analytics: a KPI's drill-down
                "ticket_id": world.ticket.pk,
                "customer_id": world.customer.pk,
                "purchase_id": world.purchase.pk,
                "event_id": world.event.pk,
                "survey_id": world.survey.pk,
                "id": world.users["agent"].pk,  # admin: a user's password page
                "app_label": "customers",
                "url": "no-such-page/",
            }
            if param not in known:
                pytest.fail(f"{key}: no value for the path parameter {param!r}")
            value = known[param]
        values[param] = value
    return values


def concrete_url(route: Route, values: dict[str, object]) -> str:
    if route.name:
        return reverse(route.name, kwargs=values)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), route.route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), path)
    return "/" + path.lstrip("^").rstrip("$")


# --- Requests and what came back ------------------------------------------------------


def outcome(response: HttpResponseBase) -> str:
    status = response.status_code
    if status == 401:
        return "login"
    if 300 <= status < 400:
        target = urlsplit(response["Location"]).path
        return "login" if target in (reverse("login"), reverse("admin:login")) else "ok"
    if 200 <= status < 300:
        return "ok"
    named = {
        400: "invalid",
        403: "forbidden",
        404: "not_found",
        405: "not_allowed",
        410: "gone",
        429: "rate_limited",
    }
    return named.get(status, f"status {status}")


_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+"?(\w+)"?', re.I)


def written_tables(queries: list[dict]) -> list[str]:
    """The tables that the statements wrote to (or tried to), but the ignored ones."""
    tables = []
    for query in queries:
        match = _WRITE.match(query["sql"])
        if match and match.group(1) not in IGNORED_TABLES:
            tables.append(match.group(1))
    return sorted(set(tables))


def send(client: Client, method: str, url: str) -> HttpResponseBase:
    if method == "GET":
        response = client.get(url)
    elif method == "POST":
        response = client.post(url)
    else:
        response = client.generic(method, url, "{}", content_type="application/json")
    if response.streaming:
        # Read to the end: the test client then closes it as a server would.
        b"".join(response.streaming_content)
    return response


ROUTES = url_routes()


def test_every_url_pattern_has_an_entry_in_the_matrix():
    missing = [route.key for route in ROUTES if route.key not in MATRIX]
    assert not missing, "URL patterns with no entry in tests/security/matrix.py: " + ", ".join(
        missing
    )


def test_the_matrix_names_only_url_patterns_that_exist():
    keys = {route.key for route in ROUTES}
    assert len(keys) == len(ROUTES), "two URL patterns share a key"
    assert sorted(set(MATRIX) - keys) == []


def test_every_matrix_entry_gives_each_role_a_known_outcome():
    for key, methods in MATRIX.items():
        assert "GET" in methods, key
        for method, row in methods.items():
            assert method in ("GET", "POST", "PATCH"), (key, method)
            assert set(row) == set(ROLES), (key, method)
            assert set(row.values()) <= set(OUTCOMES), (key, method)


@pytest.mark.parametrize(("key", "role"), [(route.key, role) for route in ROUTES for role in ROLES])
def test_url_answers_each_role_as_the_matrix_says(key, role, world, db):
    route = next(route for route in ROUTES if route.key == key)
    if key not in MATRIX:
        pytest.fail(f"URL pattern {key!r} has no entry in tests/security/matrix.py")
    url = concrete_url(route, path_values(route, role, world))
    client = Client()
    if role in world.users:
        client.force_login(world.users[role])
    elif role == "token_holder":
        # A customer who opened their survey (and got its cookies) tries elsewhere.
        survey_page = client.get(reverse("surveys:answer", args=[world.invitation.token]))
        assert survey_page.status_code == 200
    for method, row in MATRIX[key].items():
        with CaptureQueriesContext(connection) as queries:
            response = send(client, method, url)
        got = outcome(response)
        assert got == row[role], (
            f"{method} {url} as {role}: expected {row[role]}, got {got} "
            f"({response.status_code} {response.get('Location', '')})"
        )
        if method == "GET" or got != "ok":
            written = written_tables(queries.captured_queries)
            assert not written, f"{method} {url} as {role} ({got}) wrote to {written}"
