"""Schemathesis against the OpenAPI description at /api/schema/, as each role.

Every operation of the published schema is called with generated requests, valid and
invalid, by an agent, a manager and an admin in turn. Whatever a client sends, the API
must never answer 500, every answer must match the schema's description of it, and its
status code must be one the schema lists. The run is bounded (a few dozen requests per
operation and role) and derandomized, so CI sees the same requests every time.

Generated ids are mostly pointed at a small set of real objects (see `point_at`), so
the detail pages and the verbs (reply, solve, close…) run for real, not only their 404.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.meta import TestPhase

from accounts.tests.factories import admin, agent, manager
from customers.tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    PayingCustomerFactory,
    PurchaseFactory,
)
from surveys import services as survey_services
from surveys.models import Invitation, Question
from tickets.tests.factories import TeamFactory, TicketFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
ROLES = {"agent": agent, "manager": manager, "admin": admin}
# Parameter and field names that hold the id of an object, and which kind of object.
ID_NAMES = {
    "customer_id": "customer",
    "customer": "customer",
    "purchase_id": "purchase",
    "event_id": "event",
    "ticket_id": "ticket",
    "ticket": "ticket",
    "survey_id": "survey",
    "survey": "survey",
    "team": "team",
    "assignee": "user",
    "agent": "user",
    "account_owner": "user",
}


@pytest.fixture(autouse=True)
def _requests_keep_the_test_database_connection():
    """Django's handler closes the database connection at each request's start and end,
    as a web process should; here that connection holds the test's transaction. Django's
    test client disconnects the same receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db) -> dict:
    """A small help desk: the three role users, a team, customers with a purchase and
    an event, tickets, and a survey with one answer. Ids by kind of object, and each
    role's API token."""
    users = {role: make(username=f"fuzz-{role}") for role, make in ROLES.items()}
    team = TeamFactory(name="Fuzz support", members=[users["agent"]])
    lead, paying = CustomerFactory(), PayingCustomerFactory()
    purchase = PurchaseFactory(customer=paying, amount=Decimal("80.00"), margin=Decimal("20.00"))
    event = CustomerEventFactory(customer=lead)
    open_ticket = TicketFactory(customer=lead, team=team, assignee=users["agent"])
    unassigned_ticket = TicketFactory(customer=paying)
    survey = survey_services.survey_save(name="Fuzz NPS")
    nps = survey_services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Recomendarías?"
    )
    survey_services.survey_save(survey=survey, is_active=True)
    invitation = Invitation.objects.create(
        survey=survey,
        customer=paying,
        ticket=unassigned_ticket,
        status=Invitation.Status.SENT,
        language="es",
        sent_at=datetime.now(UTC) - timedelta(hours=1),
    )
    survey_services.response_record(
        invitation=invitation, answers={nps.pk: survey_services.AnswerInput(score=3)}
    )
    return {
        "user": [user.pk for user in users.values()],
        "team": [team.pk],
        "customer": [lead.pk, paying.pk],
        "purchase": [purchase.pk],
        "event": [event.pk],
        "ticket": [open_ticket.pk, unassigned_ticket.pk],
        "survey": [survey.pk],
        "tokens": {role: Token.objects.create(user=user).key for role, user in users.items()},
    }


@pytest.fixture(params=list(ROLES))
def role(request) -> str:
    return request.param


def point_at(values: dict | None, world: dict) -> None:
    """Replace three generated ids in four by the id of a real object of that kind
    (chosen by the generated value, so the run stays repeatable); the fourth stays as
    generated and mostly names nothing."""
    if not isinstance(values, dict):
        return
    for name, value in values.items():
        kind = ID_NAMES.get(name)
        if kind and isinstance(value, int) and not isinstance(value, bool) and value % 4 != 3:
            ids = world[kind]
            values[name] = ids[value % len(ids)]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_fails_and_answers_as_its_schema_says(case, role, world):
    if case.meta.phase.name == TestPhase.COVERAGE and role != "admin":
        # The coverage phase's boundary values go through the admin, whose role reaches
        # every operation; the other roles get the fuzzed requests. This keeps the run to
        # about a third of the requests.
        return
    # The token endpoint is throttled; each request starts with its budget intact.
    cache.clear()
    for values in (case.path_parameters, case.query, case.body):
        point_at(values, world)
    token = world["tokens"][role]
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
