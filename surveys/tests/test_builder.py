"""The survey builder page and the configuration services behind it: only admins get
in; settings, questions, their order and both languages are saved through the
services' rules; previews and the test email never create an invitation; campaigns
run from the page."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.tests.factories import UserFactory
from customers.tests.factories import CustomerFactory, PayingCustomerFactory
from cxm.lib.exceptions import ApplicationError
from surveys import services
from surveys.models import Invitation, Question, Survey
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def survey() -> Survey:
    return services.survey_save(name="After support")


def add_question(survey: Survey, **fields) -> Question:
    fields.setdefault("type", Question.Type.NPS)
    fields.setdefault("text_en", "How likely are you to recommend us?")
    fields.setdefault("text_es", "¿Nos recomendarías?")
    return services.question_save(survey=survey, **fields)


def survey_form_data(**overrides) -> dict:
    data = {
        "name": "Quarterly NPS",
        "kind": Survey.Kind.TRANSACTIONAL,
        "trigger": Survey.Trigger.SOLVED,
        "delay_hours": "24",
        "sampling_rate": "100",
        "cooldown_days": "0",
        "expire_after_days": "14",
        "exclude_without_agent_reply": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def question_form_data(**overrides) -> dict:
    data = {
        "type": Question.Type.CSAT,
        "required": "on",
        "text_en": "How satisfied are you?",
        "text_es": "¿Qué tan satisfecho estás?",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- who gets in


@pytest.mark.parametrize("role", ["agent_user", "manager_user"])
def test_agents_and_managers_cannot_open_the_builder(client, request, role, survey):
    client.force_login(request.getfixturevalue(role))

    assert client.get(reverse("survey_builder:list")).status_code == 403
    assert client.get(reverse("survey_builder:survey", args=[survey.pk])).status_code == 403
    response = client.post(
        reverse("survey_builder:send_test", args=[survey.pk]), {"language": "en"}
    )
    assert response.status_code == 403


def test_a_user_given_the_configure_surveys_permission_may_use_the_builder(client, survey):
    from django.contrib.auth.models import Permission

    designer = UserFactory(username="designer")
    designer.user_permissions.add(Permission.objects.get(codename="configure_surveys"))
    client.force_login(designer)

    response = client.get(reverse("survey_builder:list"))

    assert response.status_code == 200
    assert "After support" in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("survey_builder:list"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# --- survey settings


def test_an_admin_creates_a_survey_with_its_trigger_rules(admin_client):
    billing = TeamFactory(name="Billing")

    response = admin_client.post(
        reverse("survey_builder:survey_new"),
        survey_form_data(
            name="Billing CSAT",
            trigger=Survey.Trigger.CLOSED,
            delay_hours="0.5",
            teams=[billing.pk],
            channels=["email", "chat"],
            priorities=["high"],
            categories="refunds, invoices , refunds",
            excluded_tags="spam, merged",
            sampling_rate="50",
            cooldown_days="90",
            reminder_after_days="3",
            expire_after_days="7",
            languages=["es"],
        ),
    )

    survey = Survey.objects.get(name="Billing CSAT")
    assert response.status_code == 302
    assert response["Location"] == reverse("survey_builder:survey", args=[survey.pk])
    assert survey.trigger == Survey.Trigger.CLOSED
    assert survey.delay == timedelta(minutes=30)
    assert list(survey.teams.all()) == [billing]
    assert survey.channels == ["email", "chat"]
    assert survey.priorities == ["high"]
    assert survey.categories == ["refunds", "invoices"]
    assert survey.excluded_tags == ["spam", "merged"]
    assert (survey.sampling_rate, survey.cooldown_days) == (50, 90)
    assert (survey.reminder_after_days, survey.expire_after_days) == (3, 7)
    assert survey.languages == ["es"]
    assert survey.exclude_without_agent_reply is True
    assert survey.exclude_created_by_agent is False
    assert survey.is_active is False


def test_the_settings_page_shows_the_saved_values_and_saves_changes(admin_client, survey):
    url = reverse("survey_builder:survey", args=[survey.pk])
    services.survey_save(survey=survey, categories=["refunds", "invoices"])

    page = admin_client.get(url)
    assert page.context["form"].initial["categories"] == "refunds, invoices"
    assert page.context["form"].initial["delay_hours"] == 24

    response = admin_client.post(url, survey_form_data(name="After support", delay_hours="0"))

    survey.refresh_from_db()
    assert response.status_code == 302
    assert survey.delay == timedelta(0)
    assert survey.categories == []


def test_a_sampling_rate_above_100_is_refused_and_nothing_changes(admin_client, survey):
    response = admin_client.post(
        reverse("survey_builder:survey", args=[survey.pk]), survey_form_data(sampling_rate="150")
    )

    assert response.status_code == 200
    assert "sampling_rate" in response.context["form"].errors
    survey.refresh_from_db()
    assert survey.name == "After support"


def test_a_survey_name_already_taken_is_shown_on_the_name_field(admin_client, survey):
    response = admin_client.post(
        reverse("survey_builder:survey_new"), survey_form_data(name="After support")
    )

    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert Survey.objects.count() == 1


def test_a_survey_cannot_be_activated_before_it_has_a_question(admin_client, survey):
    url = reverse("survey_builder:survey", args=[survey.pk])

    refused = admin_client.post(url, survey_form_data(name="After support", is_active="on"))
    add_question(survey)
    accepted = admin_client.post(url, survey_form_data(name="After support", is_active="on"))

    assert "is_active" in refused.context["form"].errors
    assert accepted.status_code == 302
    survey.refresh_from_db()
    assert survey.is_active is True


def test_survey_save_refuses_unknown_settings(survey):
    with pytest.raises(TypeError):
        services.survey_save(survey=survey, colour="red")


# --- questions


def test_an_admin_adds_questions_in_both_languages_and_they_go_last(admin_client, survey):
    first = add_question(survey)

    response = admin_client.post(
        reverse("survey_builder:question_new", args=[survey.pk]),
        question_form_data(
            type=Question.Type.SINGLE_CHOICE,
            text_en="What went wrong?",
            text_es="¿Qué salió mal?",
            choices_en="Too slow\nWrong answer\n",
            choices_es="Muy lento\nRespuesta incorrecta",
            required=None,
            follow_up_of=str(first.pk),
            follow_up_threshold="6",
        ),
    )

    assert response.status_code == 302
    added = survey.questions.get(text_en="What went wrong?")
    assert added.position > first.position
    assert added.text_in("es") == "¿Qué salió mal?"
    assert added.choices_in("es") == ["Muy lento", "Respuesta incorrecta"]
    assert added.choices_in("en") == ["Too slow", "Wrong answer"]
    assert (added.follow_up_of, added.follow_up_threshold, added.required) == (first, 6, False)


def test_a_question_needs_its_text_in_both_languages(admin_client, survey):
    response = admin_client.post(
        reverse("survey_builder:question_new", args=[survey.pk]), question_form_data(text_es="")
    )

    assert response.status_code == 200
    assert "text_es" in response.context["form"].errors
    assert not survey.questions.exists()


def test_a_choice_question_without_options_is_refused_on_the_options_field(admin_client, survey):
    response = admin_client.post(
        reverse("survey_builder:question_new", args=[survey.pk]),
        question_form_data(type=Question.Type.MULTIPLE_CHOICE),
    )

    assert response.status_code == 200
    assert "choices_en" in response.context["form"].errors
    assert not survey.questions.exists()


def test_a_follow_up_threshold_outside_the_parents_scale_is_refused(survey):
    nps = add_question(survey)

    with pytest.raises(ValidationError) as refused:
        add_question(survey, type=Question.Type.TEXT, follow_up_of=nps, follow_up_threshold=11)

    assert "follow_up_threshold" in refused.value.message_dict


def test_a_follow_up_must_follow_a_question_of_the_same_survey(survey):
    other = services.survey_save(name="Other")
    elsewhere = add_question(other)

    with pytest.raises(ValidationError) as refused:
        add_question(survey, type=Question.Type.TEXT, follow_up_of=elsewhere, follow_up_threshold=6)

    assert "follow_up_of" in refused.value.message_dict


def test_a_scale_can_be_changed_and_reversed_for_a_difficulty_question(admin_client, survey):
    admin_client.post(
        reverse("survey_builder:question_new", args=[survey.pk]),
        question_form_data(
            type=Question.Type.CES,
            text_en="How difficult was it?",
            scale_min="1",
            scale_max="10",
            reversed="on",
        ),
    )

    question = survey.questions.get()
    assert question.scale == (1, 10)
    assert question.reversed is True


def test_editing_a_question_keeps_its_place(admin_client, survey):
    first = add_question(survey)
    add_question(survey, text_en="Second")

    admin_client.post(
        reverse("survey_builder:question_edit", args=[survey.pk, first.pk]),
        question_form_data(type=Question.Type.NPS, text_en="Would you recommend us?"),
    )

    assert [q.text_en for q in survey.questions.order_by("position")] == [
        "Would you recommend us?",
        "Second",
    ]


def test_another_surveys_question_is_not_found_through_this_survey(admin_client, survey):
    other_question = add_question(services.survey_save(name="Other"))

    response = admin_client.get(
        reverse("survey_builder:question_edit", args=[survey.pk, other_question.pk])
    )

    assert response.status_code == 404


def test_questions_move_up_and_down_with_post_buttons(admin_client, survey):
    first, _second, third = (add_question(survey, text_en=name) for name in ("A", "B", "C"))

    def order() -> list[str]:
        return [q.text_en for q in survey.questions.order_by("position", "pk")]

    admin_client.post(
        reverse("survey_builder:question_move", args=[survey.pk, third.pk]), {"direction": "up"}
    )
    assert order() == ["A", "C", "B"]
    admin_client.post(
        reverse("survey_builder:question_move", args=[survey.pk, first.pk]), {"direction": "down"}
    )
    assert order() == ["C", "A", "B"]
    # At the top it stays at the top.
    admin_client.post(
        reverse("survey_builder:question_move", args=[survey.pk, third.pk]), {"direction": "up"}
    )
    assert order() == ["C", "A", "B"]
    assert (
        admin_client.get(
            reverse("survey_builder:question_move", args=[survey.pk, third.pk])
        ).status_code
        == 405
    )


def test_an_unanswered_question_is_deleted_and_the_rest_close_ranks(admin_client, survey):
    first = add_question(survey, text_en="A")
    add_question(survey, text_en="B")

    admin_client.post(reverse("survey_builder:question_delete", args=[survey.pk, first.pk]))

    assert list(survey.questions.values_list("text_en", "position")) == [("B", 0)]


def test_an_answered_question_cannot_be_deleted(admin_client, survey):
    question = add_question(survey)
    services.survey_save(survey=survey, is_active=True)
    invitation = services.invitation_create_manual(
        survey=survey, customer=CustomerFactory(), actor=None
    )
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.SENT)
    services.response_record(
        invitation=invitation, answers={question.pk: services.AnswerInput(score=9)}
    )

    response = admin_client.post(
        reverse("survey_builder:question_delete", args=[survey.pk, question.pk]), follow=True
    )

    assert Question.objects.filter(pk=question.pk).exists()
    assert "cannot be deleted" in response.content.decode()
    with pytest.raises(ApplicationError):
        services.question_delete(question=question)


def test_an_answered_questions_type_cannot_change_but_its_wording_can(survey):
    question = add_question(survey)
    services.survey_save(survey=survey, is_active=True)
    invitation = services.invitation_create_manual(
        survey=survey, customer=CustomerFactory(), actor=None
    )
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.SENT)
    services.response_record(
        invitation=invitation, answers={question.pk: services.AnswerInput(score=9)}
    )

    with pytest.raises(ValidationError) as refused:
        services.question_save(survey=survey, question=question, type=Question.Type.CSAT)
    services.question_save(survey=survey, question=question, text_en="Would you recommend us?")

    assert "type" in refused.value.message_dict
    question.refresh_from_db()
    assert (question.type, question.text_en) == ("nps", "Would you recommend us?")


# --- previews and the test email


def test_the_email_preview_shows_subject_text_and_a_sandboxed_html_in_each_language(
    admin_client, survey
):
    add_question(survey)

    spanish = admin_client.get(reverse("survey_builder:preview_email", args=[survey.pk, "es"]))
    english = admin_client.get(reverse("survey_builder:preview_email", args=[survey.pk, "en"]))

    page = spanish.content.decode()
    assert "¿Nos recomendarías?" in spanish.context["message"].body
    assert "How likely are you to recommend us?" in english.context["message"].body
    # The HTML email sits in a sandboxed iframe's srcdoc, escaped: no raw tag leaks out.
    assert '<iframe sandbox="" srcdoc="&lt;' in page
    assert "<table" not in page.split("srcdoc=")[1].split('" title=')[0]
    preview_url = reverse("survey_builder:preview_page", args=[survey.pk, "es"])
    assert f"{preview_url}?score=9" in spanish.context["message"].body
    assert "/s/" not in spanish.context["message"].body
    assert Invitation.objects.count() == 0


def test_a_survey_page_preview_shows_the_questions_in_that_language_with_the_score_chosen(
    admin_client, survey
):
    nps = add_question(survey)
    add_question(
        survey,
        type=Question.Type.MULTIPLE_CHOICE,
        text_en="What went wrong?",
        text_es="¿Qué salió mal?",
        choices_en=["Slow"],
        choices_es=["Lento"],
        follow_up_of=nps,
        follow_up_threshold=6,
    )

    response = admin_client.get(
        reverse("survey_builder:preview_page", args=[survey.pk, "es"]) + "?score=9"
    )

    page = response.content.decode()
    assert "¿Nos recomendarías?" in page
    assert "¿Qué salió mal?" in page and "Lento" in page
    assert f'id="q{nps.pk}-9" value="9" checked' in page
    assert "<form" not in page.split('data-preview-language="es"')[1]


def test_a_preview_in_a_language_the_site_does_not_speak_is_not_found(admin_client, survey):
    response = admin_client.get(reverse("survey_builder:preview_page", args=[survey.pk, "fr"]))

    assert response.status_code == 404


def test_send_a_test_to_yourself_emails_the_admin_and_counts_nowhere(
    admin_client, admin_user, survey
):
    add_question(survey)

    response = admin_client.post(
        reverse("survey_builder:send_test", args=[survey.pk]), {"language": "es"}
    )

    assert response.status_code == 302
    (email,) = mail.outbox
    assert email.to[0].endswith(f"<{admin_user.email}>")
    assert email.subject.startswith("[Test]")
    assert "¿Nos recomendarías?" in email.body
    assert reverse("survey_builder:preview_page", args=[survey.pk, "es"]) in email.body
    assert "X-CXM-Invitation" not in email.extra_headers
    assert Invitation.objects.count() == 0


def test_no_test_is_sent_for_a_survey_without_questions(admin_client, survey):
    response = admin_client.post(
        reverse("survey_builder:send_test", args=[survey.pk]), {"language": "en"}, follow=True
    )

    assert mail.outbox == []
    assert "Add a question before sending a test." in response.content.decode()


# --- campaigns


def test_run_campaign_now_invites_the_segment_under_the_fatigue_rules(admin_client):
    campaign = services.survey_save(
        name="Quarterly NPS", kind=Survey.Kind.RELATIONSHIP, segment="enterprise"
    )
    add_question(campaign)
    PayingCustomerFactory(segment="enterprise")
    PayingCustomerFactory(segment="enterprise", survey_opt_out=True)
    PayingCustomerFactory(segment="smb")

    page = admin_client.get(reverse("survey_builder:survey", args=[campaign.pk]))
    response = admin_client.post(
        reverse("survey_builder:campaign_run", args=[campaign.pk]), follow=True
    )

    assert "Run campaign now" in page.content.decode()
    assert "1 scheduled, 1 skipped" in response.content.decode()
    assert set(campaign.invitations.values_list("status", "skip_reason")) == {
        (Invitation.Status.SCHEDULED, ""),
        (Invitation.Status.SKIPPED, Invitation.SkipReason.OPTED_OUT),
    }


def test_a_transactional_survey_offers_no_campaign_and_refuses_to_run_one(admin_client, survey):
    page = admin_client.get(reverse("survey_builder:survey", args=[survey.pk]))
    response = admin_client.post(
        reverse("survey_builder:campaign_run", args=[survey.pk]), follow=True
    )

    assert "Run campaign now" not in page.content.decode()
    assert "Only relationship campaigns" in response.content.decode()
    assert not survey.invitations.exists()
