"""The Django admin for surveys: surveys and their questions saved through the same
rules as the builder, the invitation outbox saying why a customer got nothing and
sending failed ones again, and the responses with their answers, filtered."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from surveys import services
from surveys.models import Invitation, Question, Response, Survey
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def survey() -> Survey:
    survey = services.survey_save(name="Support NPS")
    services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Recomendarías?"
    )
    return services.survey_save(survey=survey, is_active=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def survey_add_data(**overrides) -> dict:
    data = {
        "name": "Billing CSAT",
        "kind": "transactional",
        "is_active": "on",
        "languages": "[]",
        "trigger": "solved",
        "delay": "24:00:00",
        "channels": "[]",
        "categories": "[]",
        "priorities": "[]",
        "sampling_rate": "100",
        "excluded_tags": "[]",
        "cooldown_days": "0",
        "expire_after_days": "14",
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
        "questions-0-position": "0",
        "questions-0-type": "csat",
        "questions-0-required": "on",
        "questions-0-text_en": "How satisfied are you?",
        "questions-0-text_es": "¿Qué tan satisfecho estás?",
        "questions-0-choices_en": "[]",
        "questions-0-choices_es": "[]",
    }
    data.update(overrides)
    return data


def failed_invitation(survey: Survey, **fields) -> Invitation:
    return Invitation.objects.create(
        survey=survey,
        customer=fields.pop("customer", None) or CustomerFactory(),
        status=fields.pop("status", Invitation.Status.FAILED),
        attempts=5,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        **fields,
    )


def answered(survey: Survey, score: int, comment: str = "") -> Response:
    invitation = Invitation.objects.create(
        survey=survey,
        customer=CustomerFactory(),
        ticket=TicketFactory(),
        status=Invitation.Status.SENT,
    )
    (nps,) = survey.questions.all()
    return services.response_record(
        invitation=invitation, answers={nps.pk: services.AnswerInput(score=score)}
    )


# --- surveys and questions


def test_an_admin_creates_an_active_survey_with_its_first_question_in_one_go(admin_client):
    response = admin_client.post(reverse("admin:surveys_survey_add"), survey_add_data())

    assert response.status_code == 302, response.context["adminform"].form.errors
    survey = Survey.objects.get(name="Billing CSAT")
    (question,) = survey.questions.all()
    assert (question.type, question.text_in("es")) == ("csat", "¿Qué tan satisfecho estás?")
    assert survey.is_active is True


def test_a_choice_question_without_options_is_an_inline_error_and_nothing_is_saved(admin_client):
    response = admin_client.post(
        reverse("admin:surveys_survey_add"),
        survey_add_data(**{"questions-0-type": "single_choice"}),
    )

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert "choices_en" in errors[0]
    assert not Survey.objects.exists()


def test_a_survey_without_questions_saved_as_active_stays_inactive_and_says_why(admin_client):
    response = admin_client.post(
        reverse("admin:surveys_survey_add"),
        survey_add_data(**{"questions-TOTAL_FORMS": "0"}),
    )

    assert response.status_code == 302
    assert Survey.objects.get(name="Billing CSAT").is_active is False
    assert "Add a question before activating the survey." in messages_of(response)


def test_the_survey_page_lists_questions_in_order_in_both_languages(admin_client, survey):
    services.question_save(
        survey=survey, type=Question.Type.TEXT, required=False, text_en="Why?", text_es="¿Por qué?"
    )

    page = admin_client.get(reverse("admin:surveys_survey_change", args=[survey.pk]))

    html = page.content.decode()
    assert html.index("Recommend us?") < html.index("Why?")
    assert "¿Recomendarías?" in html and "¿Por qué?" in html


# --- invitations


def test_the_invitation_list_says_why_a_customer_got_nothing(admin_client, survey):
    Invitation.objects.create(
        survey=survey,
        customer=CustomerFactory(name="Pedro Sin Correo"),
        status=Invitation.Status.SKIPPED,
        skip_reason=Invitation.SkipReason.NO_EMAIL,
    )

    page = admin_client.get(reverse("admin:surveys_invitation_changelist"))

    html = page.content.decode()
    assert "Pedro Sin Correo" in html
    assert "Customer has no email address" in html


def test_invitations_filter_by_skip_reason_and_status_and_search_by_customer(admin_client, survey):
    Invitation.objects.create(
        survey=survey,
        customer=CustomerFactory(name="Ana Fatigada"),
        status=Invitation.Status.SKIPPED,
        skip_reason=Invitation.SkipReason.FATIGUE,
    )
    Invitation.objects.create(
        survey=survey,
        customer=CustomerFactory(name="Luis Baja"),
        status=Invitation.Status.SKIPPED,
        skip_reason=Invitation.SkipReason.OPTED_OUT,
    )
    failed_invitation(survey, customer=CustomerFactory(name="Marta Fallida"))
    url = reverse("admin:surveys_invitation_changelist")

    def listed(**params) -> set[str]:
        page = admin_client.get(url, params)
        assert page.status_code == 200
        return {str(row.customer) for row in page.context["cl"].result_list}

    assert listed(skip_reason="fatigue") == {"Ana Fatigada"}
    assert listed(status__exact="failed") == {"Marta Fallida"}
    assert listed(q="Baja") == {"Luis Baja"}
    assert listed(survey__id__exact=survey.pk) == {"Ana Fatigada", "Luis Baja", "Marta Fallida"}


def test_send_again_reschedules_failed_invitations_and_refuses_the_rest(
    admin_client, survey, django_capture_on_commit_callbacks
):
    failed = failed_invitation(survey)
    skipped = Invitation.objects.create(
        survey=survey,
        customer=CustomerFactory(),
        status=Invitation.Status.SKIPPED,
        skip_reason=Invitation.SkipReason.FATIGUE,
    )

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            reverse("admin:surveys_invitation_changelist"),
            {"action": "send_again", "_selected_action": [failed.pk, skipped.pk]},
        )

    failed.refresh_from_db()
    skipped.refresh_from_db()
    assert failed.status == Invitation.Status.SCHEDULED
    assert failed.attempts == 0
    assert skipped.status == Invitation.Status.SKIPPED
    notes = messages_of(response)
    assert "1 invitation will be sent again." in notes
    assert any("Only failed invitations are sent again." in note for note in notes)


def test_invitations_cannot_be_added_or_deleted_in_the_admin(admin_client, survey):
    invitation = failed_invitation(survey)

    assert admin_client.get(reverse("admin:surveys_invitation_add")).status_code == 403
    delete = reverse("admin:surveys_invitation_delete", args=[invitation.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_the_invitation_list_costs_the_same_queries_for_few_or_many_rows(admin_client, survey):
    url = reverse("admin:surveys_invitation_changelist")
    failed_invitation(survey, ticket=TicketFactory())
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for _n in range(5):
        failed_invitation(survey, ticket=TicketFactory())

    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)

    assert len(many) == len(few)


# --- responses


def test_responses_filter_by_loop_and_survey_and_show_answers_read_only(admin_client, survey):
    detractor = answered(survey, 2)
    promoter = answered(survey, 10)
    url = reverse("admin:surveys_response_changelist")

    def listed(**params) -> set[int]:
        page = admin_client.get(url, params)
        assert page.status_code == 200
        return {row.pk for row in page.context["cl"].result_list}

    assert listed(loop="open") == {detractor.pk}
    assert listed(loop="none") == {promoter.pk}
    assert listed(loop="closed") == set()
    assert listed(survey__id__exact=survey.pk, source__exact="survey") == {
        detractor.pk,
        promoter.pk,
    }

    page = admin_client.get(reverse("admin:surveys_response_change", args=[detractor.pk]))
    (answers,) = page.context["inline_admin_formsets"]
    assert [a.score for a in answers.formset.queryset] == [2]
    assert not answers.has_change_permission
    assert admin_client.get(reverse("admin:surveys_response_add")).status_code == 403


def test_the_response_list_costs_the_same_queries_for_few_or_many_rows(admin_client, survey):
    url = reverse("admin:surveys_response_changelist")
    answered(survey, 9)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for score in (1, 4, 7, 10):
        answered(survey, score)

    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)

    assert len(many) == len(few)
