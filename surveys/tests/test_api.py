"""The surveys API as an integrator uses it: surveys with their questions, invitations
(listed, filtered, created by hand), responses with their answers, and the CSV export
that a spreadsheet opens safely."""

import csv
import io
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
import yaml
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.factories import admin, agent, manager
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys import services
from surveys.models import Invitation, Question, Response, Survey
from tickets.models import Team
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

SURVEYS = "/api/v1/surveys/"
INVITATIONS = "/api/v1/invitations/"
RESPONSES = "/api/v1/responses/"
EXPORT = "/api/v1/responses/export.csv"
MARCH = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def api(user) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def make_survey(name: str = "Support CSAT") -> tuple[Survey, Question, Question]:
    survey = services.survey_save(name=name)
    nps = services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Recomendarías?"
    )
    comment = services.question_save(
        survey=survey,
        type=Question.Type.TEXT,
        required=False,
        text_en="Anything to add?",
        text_es="¿Algo más?",
    )
    services.survey_save(survey=survey, is_active=True)
    return survey, nps, comment


def answer(
    survey: Survey,
    score: int,
    comment: str = "",
    *,
    customer: Customer | None = None,
    team: Team | None = None,
    assignee=None,
    at: datetime = MARCH,
) -> Response:
    """A customer answers an invitation about a ticket, at `at`."""
    customer = customer or CustomerFactory()
    ticket = TicketFactory(customer=customer, team=team, assignee=assignee)
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        status=Invitation.Status.SENT,
        language=customer.language,
        sent_at=at - timedelta(hours=1),
    )
    nps, text = survey.questions.order_by("position")
    given = {nps.pk: services.AnswerInput(score=score)}
    if comment:
        given[text.pk] = services.AnswerInput(text=comment)
    with time_machine.travel(at, tick=False):
        return services.response_record(invitation=invitation, answers=given)


# --- surveys


def test_managers_list_surveys_with_their_questions_in_order():
    survey, nps, comment = make_survey()
    services.question_move(question=comment, direction="up")

    response = api(manager()).get(SURVEYS)

    assert response.status_code == 200
    (listed,) = response.json()["results"]
    assert listed["name"] == "Support CSAT"
    assert listed["delay_seconds"] == 24 * 3600
    assert [q["id"] for q in listed["questions"]] == [comment.pk, nps.pk]
    assert listed["questions"][1]["scale"] == [0, 10]
    assert listed["questions"][0]["scale"] is None
    assert api(manager()).get(f"{SURVEYS}{survey.pk}/").json()["id"] == survey.pk


def test_agents_may_not_read_survey_configuration():
    make_survey()

    assert api(agent()).get(SURVEYS).status_code == 403


def test_surveys_can_be_filtered_by_kind_and_activity():
    make_survey()
    services.survey_save(name="Quarterly", kind=Survey.Kind.RELATIONSHIP)

    active = api(manager()).get(SURVEYS, {"is_active": "true"}).json()["results"]
    campaigns = api(manager()).get(SURVEYS, {"kind": "relationship"}).json()["results"]

    assert [s["name"] for s in active] == ["Support CSAT"]
    assert [s["name"] for s in campaigns] == ["Quarterly"]


def test_an_unknown_survey_is_404():
    assert api(manager()).get(f"{SURVEYS}999999/").status_code == 404


# --- invitations


def test_invitations_are_listed_with_filters_and_never_show_their_token():
    survey, *_questions = make_survey()
    lucia, pedro = CustomerFactory(), CustomerFactory()
    ticket = TicketFactory(customer=lucia)
    with time_machine.travel(MARCH, tick=False):
        sent = Invitation.objects.create(
            survey=survey, customer=lucia, ticket=ticket, status=Invitation.Status.SENT
        )
    with time_machine.travel(MARCH + timedelta(days=5), tick=False):
        skipped = Invitation.objects.create(
            survey=survey,
            customer=pedro,
            status=Invitation.Status.SKIPPED,
            skip_reason=Invitation.SkipReason.FATIGUE,
        )
    client = api(agent())

    def ids(**params) -> list[int]:
        response = client.get(INVITATIONS, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [skipped.pk, sent.pk]
    assert ids(status="skipped") == [skipped.pk]
    assert ids(customer=lucia.pk) == [sent.pk]
    assert ids(ticket=ticket.pk) == [sent.pk]
    assert ids(survey=survey.pk, created_from="2026-03-12") == [skipped.pk]
    assert ids(created_to="2026-03-10") == [sent.pk]
    row = client.get(INVITATIONS, {"status": "skipped"}).json()["results"][0]
    assert row["skip_reason"] == "fatigue"
    assert row["answered"] is False
    assert "token" not in row
    assert sent.token not in client.get(INVITATIONS).content.decode()


def test_an_unknown_status_filter_is_a_400_that_names_the_field():
    response = api(agent()).get(INVITATIONS, {"status": "lost"})

    assert response.status_code == 400
    assert "status" in response.json()


def test_an_admin_invites_a_customer_by_hand_and_the_email_goes_out(
    django_capture_on_commit_callbacks,
):
    survey, *_questions = make_survey()
    customer = CustomerFactory(email="lucia@example.com")
    person = admin()

    with django_capture_on_commit_callbacks(execute=True):
        response = api(person).post(
            INVITATIONS, {"survey": survey.pk, "customer": customer.pk}, format="json"
        )

    assert response.status_code == 201, response.content
    invitation = Invitation.objects.get(pk=response.json()["id"])
    assert (invitation.customer, invitation.created_by, invitation.ticket) == (
        customer,
        person,
        None,
    )
    assert invitation.status == Invitation.Status.SENT
    assert [m.to[0].endswith("<lucia@example.com>") for m in mail.outbox] == [True]


def test_an_invitation_can_wait_until_a_given_time():
    survey, *_questions = make_survey()
    later = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)

    response = api(admin()).post(
        INVITATIONS,
        {"survey": survey.pk, "customer": CustomerFactory().pk, "send_after": later.isoformat()},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["status"] == "scheduled"
    assert Invitation.objects.get().send_after == later


def test_no_invitation_by_hand_to_a_customer_who_unsubscribed():
    survey, *_questions = make_survey()
    customer = CustomerFactory(survey_opt_out=True)

    response = api(admin()).post(
        INVITATIONS, {"survey": survey.pk, "customer": customer.pk}, format="json"
    )

    assert response.status_code == 400
    assert "customer" in response.json()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("send_after", ["0767-11-23T14:34:23Z", "9999-12-31T23:59:59Z"])
def test_an_invitation_to_send_centuries_away_is_a_field_error(send_after):
    survey, *_questions = make_survey()

    response = api(admin()).post(
        INVITATIONS,
        {"survey": survey.pk, "customer": CustomerFactory().pk, "send_after": send_after},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["send_after"]
    assert not Invitation.objects.exists()


def test_inviting_with_an_unknown_survey_or_customer_is_a_field_error():
    response = api(admin()).post(INVITATIONS, {"survey": 987654, "customer": 2**70}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"survey", "customer"}


def test_agents_and_managers_read_invitations_but_cannot_send_them_by_hand():
    survey, *_questions = make_survey()
    payload = {"survey": survey.pk, "customer": CustomerFactory().pk}

    for user in (agent(), manager()):
        assert api(user).post(INVITATIONS, payload, format="json").status_code == 403
    assert not Invitation.objects.exists()


# --- responses


def test_responses_come_with_their_answers_and_filter_by_score_range_of_a_question_type():
    survey, nps, comment = make_survey()
    detractor = answer(survey, 3, "Too slow")
    promoter = answer(survey, 10)

    client = api(agent())
    detractors = client.get(RESPONSES, {"question_type": "nps", "score_max": 6}).json()
    promoters = client.get(RESPONSES, {"question_type": "nps", "score_min": 9}).json()
    texts = client.get(RESPONSES, {"question_type": "text"}).json()

    assert [r["id"] for r in detractors["results"]] == [detractor.pk]
    assert [r["id"] for r in promoters["results"]] == [promoter.pk]
    assert [r["id"] for r in texts["results"]] == [detractor.pk]
    answers = {a["question"]: a for a in detractors["results"][0]["answers"]}
    assert answers[nps.pk]["score"] == 3
    assert answers[comment.pk]["text"] == "Too slow"
    assert detractors["results"][0]["follow_up_ticket"] is not None


def test_responses_filter_by_survey_team_agent_customer_and_date():
    survey, *_questions = make_survey()
    other_survey, *_others = make_survey("Onboarding")
    solver = agent(username="solver")
    billing = TeamFactory(name="Billing", members=[solver])
    lucia = CustomerFactory()
    in_billing = answer(survey, 9, team=billing, assignee=solver, at=MARCH)
    by_lucia = answer(survey, 8, customer=lucia, at=MARCH + timedelta(days=10))
    elsewhere = answer(other_survey, 7, at=MARCH + timedelta(days=20))
    client = api(manager())

    def ids(**params) -> set[int]:
        response = client.get(RESPONSES, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(survey=survey.pk) == {in_billing.pk, by_lucia.pk}
    assert ids(team=billing.pk) == {in_billing.pk}
    assert ids(agent=solver.pk) == {in_billing.pk}
    assert ids(customer=lucia.pk) == {by_lucia.pk}
    assert ids(answered_from="2026-03-15") == {by_lucia.pk, elsewhere.pk}
    assert ids(answered_from="2026-03-15", answered_to="2026-03-25") == {by_lucia.pk}


def test_a_score_range_upside_down_is_a_400():
    response = api(agent()).get(RESPONSES, {"score_min": 9, "score_max": 6})

    assert response.status_code == 400
    assert "score_max" in response.json()


def test_listing_responses_takes_the_same_queries_for_one_or_many(django_assert_max_num_queries):
    survey, *_questions = make_survey()
    answer(survey, 9, "Great")
    client = api(agent())
    with CaptureQueriesContext(connection) as one:
        client.get(RESPONSES)
    for score in (1, 5, 7, 10):
        answer(survey, score, "More")

    with django_assert_max_num_queries(len(one)):
        response = client.get(RESPONSES)

    assert response.json()["count"] == 5


# --- CSV export


def exported(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_streams_one_row_per_answer_with_the_same_filters():
    survey, *_questions = make_survey()
    solver = agent(username="solver")
    billing = TeamFactory(name="Billing", members=[solver])
    answer(survey, 3, "Too slow", team=billing, assignee=solver)
    answer(survey, 10)

    response = api(manager()).get(EXPORT, {"question_type": "nps", "score_max": 6})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.streaming
    rows = exported(response)
    assert [(row["question_type"], row["score"], row["text"]) for row in rows] == [
        ("nps", "3", ""),
        ("text", "", "Too slow"),
    ]
    assert rows[0]["team"] == "Billing"
    assert rows[0]["agent"] == "solver"
    assert rows[0]["survey"] == "Support CSAT"
    assert rows[0]["follow_up_ticket"].startswith("T-")


@pytest.mark.parametrize(
    "comment", ['=HYPERLINK("http://evil.example","x")', "+1 great", "-2 awful", "@SUM(A1)"]
)
def test_the_export_neutralises_cells_a_spreadsheet_would_run_as_a_formula(comment):
    survey, *_questions = make_survey()
    answer(survey, 9, comment, customer=CustomerFactory(name="=cmd|' /C calc'!A0"))

    rows = exported(api(manager()).get(EXPORT))

    text_row = next(row for row in rows if row["question_type"] == "text")
    assert text_row["text"] == "'" + comment
    assert text_row["customer_name"] == "'=cmd|' /C calc'!A0"
    assert next(row for row in rows if row["question_type"] == "nps")["score"] == "9"


def test_an_empty_export_still_has_its_header_row():
    response = api(manager()).get(EXPORT)

    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0].startswith("response_id,answered_at,survey")


def test_the_export_needs_credentials_and_valid_filters():
    assert APIClient().get(EXPORT).status_code == 401
    assert api(manager()).get(EXPORT, {"question_type": "stars"}).status_code == 400


# --- the OpenAPI description


def test_the_survey_endpoints_are_in_the_schema_which_stays_warning_free(tmp_path):
    schema_file = tmp_path / "schema.yml"

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file), stderr=StringIO()
    )

    schema = yaml.safe_load(schema_file.read_text())
    assert {
        "/api/v1/surveys/",
        "/api/v1/surveys/{survey_id}/",
        "/api/v1/invitations/",
        "/api/v1/responses/",
        "/api/v1/responses/export.csv",
    } <= set(schema["paths"])
    assert (
        "text/csv"
        in schema["paths"]["/api/v1/responses/export.csv"]["get"]["responses"]["200"]["content"]
    )
