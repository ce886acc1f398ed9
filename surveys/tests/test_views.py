"""The public survey pages, through HTTP as a customer's browser (or mail scanner)
meets them: no login, a token in the URL, CSRF on every form."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import agent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys import services
from surveys.models import Answer, Invitation, Question, Response, Survey
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()


def make_survey(*types: str, name: str = "") -> Survey:
    name = name or f"After a ticket {Survey.objects.count() + 1}"
    survey = Survey.objects.create(name=name, is_active=True)
    texts = {
        Question.Type.NPS: ("How likely are you to recommend us?", "¿Nos recomendarías?"),
        Question.Type.CSAT: ("How satisfied are you?", "¿Cuál es tu grado de satisfacción?"),
        Question.Type.CES: ("We made it easy.", "Te lo pusimos fácil."),
        Question.Type.YES_NO: ("Was your issue resolved?", "¿Se resolvió tu problema?"),
        Question.Type.TEXT: ("Anything else?", "¿Algo más?"),
    }
    for position, question_type in enumerate(types or (Question.Type.CSAT,)):
        english, spanish = texts[question_type]
        Question.objects.create(
            survey=survey,
            position=position,
            type=question_type,
            text_en=english,
            text_es=spanish,
            required=question_type != Question.Type.TEXT,
        )
    return survey


def sent_invitation(
    survey: Survey | None = None,
    *,
    language: str = "en",
    status: str = Invitation.Status.SENT,
    expires_in: timedelta = timedelta(days=14),
    with_ticket: bool = True,
) -> Invitation:
    survey = survey or make_survey()
    customer = CustomerFactory(name="Ana Martín", language=language)
    now = timezone.now()
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=TicketFactory(customer=customer, subject="Invoice download fails")
        if with_ticket
        else None,
        status=status,
        skip_reason="fatigue" if status == Invitation.Status.SKIPPED else "",
        language=language,
        send_after=now - timedelta(hours=1),
        sent_at=now - timedelta(hours=1) if status == Invitation.Status.SENT else None,
        expires_at=now + expires_in,
    )


def answer_url(invitation: Invitation) -> str:
    return reverse("surveys:answer", args=[invitation.token])


def first_question(invitation: Invitation) -> Question:
    return invitation.survey.questions.order_by("position").first()


def csrf_client(client: Client, url: str) -> tuple[Client, str]:
    """A browser that enforces CSRF, after it loaded the page and got the token."""
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return browser, token


# --- Reaching the page -------------------------------------------------------------


def test_an_unknown_token_shows_a_translated_not_found_page_without_a_trace(client):
    page = client.get("/s/this-token-does-not-exist-at-all-1234567/?lang=es")

    assert page.status_code == 404
    assert "Traceback" not in page.text
    assert page["Content-Language"] == "es"
    assert '<html lang="es"' in page.text


def test_a_forged_token_with_odd_characters_is_not_found(client):
    page = client.get("/s/%27%3B%20DROP%20TABLE/")

    assert page.status_code == 404


@pytest.mark.parametrize(
    "status",
    [Invitation.Status.SCHEDULED, Invitation.Status.CANCELLED, Invitation.Status.SKIPPED],
)
def test_an_invitation_that_was_never_sent_has_no_page(client, status):
    invitation = sent_invitation(status=status)

    assert client.get(answer_url(invitation)).status_code == 404


def test_an_expired_invitation_shows_a_polite_closed_page(client):
    invitation = sent_invitation(expires_in=-timedelta(minutes=1))

    page = client.get(answer_url(invitation) + "?score=5")

    assert page.status_code == 410
    assert "This survey has closed" in page.text
    assert "<form" not in page.text.split("</header>")[1]


def test_an_expired_survey_the_customer_answered_says_the_answer_counts(client):
    invitation = sent_invitation()
    csat = first_question(invitation)
    client.post(answer_url(invitation), {f"q{csat.pk}": "5"})
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())

    page = client.get(answer_url(invitation))

    assert page.status_code == 410
    assert "Your earlier answer was recorded and counts." in page.text


def test_the_thank_you_page_exists_only_for_a_sent_invitation(client):
    scheduled = sent_invitation(status=Invitation.Status.SCHEDULED)

    assert client.get(reverse("surveys:thanks", args=[scheduled.token])).status_code == 404
    assert client.get(reverse("surveys:thanks", args=["y" * 43])).status_code == 404


def test_the_page_asks_every_question_in_the_invitation_language(client):
    invitation = sent_invitation(
        make_survey(Question.Type.NPS, Question.Type.YES_NO, Question.Type.TEXT), language="es"
    )

    page = client.get(answer_url(invitation))

    assert page.status_code == 200
    assert "¿Nos recomendarías?" in page.text
    assert "¿Se resolvió tu problema?" in page.text
    assert "¿Algo más?" in page.text
    assert '<html lang="es"' in page.text
    assert "Invoice download fails" in page.text
    # Every score is a labelled radio button: 0 to 10.
    nps = first_question(invitation)
    for score in range(11):
        assert f'id="q{nps.pk}-{score}" value="{score}"' in page.text
        assert f'for="q{nps.pk}-{score}"' in page.text


def test_the_language_switch_shows_the_page_in_the_other_language_without_a_login(client):
    invitation = sent_invitation(language="es")

    page = client.get(answer_url(invitation) + "?lang=en&score=4")

    assert "How satisfied are you?" in page.text
    assert "¿Cuál es tu grado de satisfacción?" not in page.text
    assert '<html lang="en"' in page.text
    # The switch back keeps the clicked score.
    assert "?lang=es&amp;score=4" in page.text


def test_an_unknown_language_falls_back_to_the_invitation_language(client):
    invitation = sent_invitation(language="es")

    page = client.get(answer_url(invitation) + "?lang=xx")

    assert "¿Cuál es tu grado de satisfacción?" in page.text


# --- One click from the email ------------------------------------------------------


def test_a_score_link_preselects_that_score(client):
    invitation = sent_invitation()
    csat = first_question(invitation)

    page = client.get(answer_url(invitation) + "?score=4")

    assert re.search(rf'id="q{csat.pk}-4" value="4" checked', page.text)
    assert page.text.count(" checked") == 1


def test_an_out_of_range_score_link_preselects_nothing(client):
    invitation = sent_invitation()

    page = client.get(answer_url(invitation) + "?score=42")

    assert page.status_code == 200
    assert " checked" not in page.text


def test_opening_score_links_never_records_anything(client):
    """Mail scanners open every link in the email: eleven GETs, no answer."""
    invitation = sent_invitation(make_survey(Question.Type.NPS))

    for score in range(11):
        assert client.get(answer_url(invitation) + f"?score={score}").status_code == 200
    client.head(answer_url(invitation) + "?score=0")

    assert not Response.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_the_send_button_is_right_under_the_score_when_nothing_else_is_required(client):
    invitation = sent_invitation(make_survey(Question.Type.NPS, Question.Type.TEXT))

    page = client.get(answer_url(invitation) + "?score=9")

    assert "Send my answer" in page.text


# --- Answering ---------------------------------------------------------------------


def test_sending_the_form_stores_one_response_and_thanks_the_customer(client):
    invitation = sent_invitation()
    csat = first_question(invitation)

    sent = client.post(
        answer_url(invitation),
        {f"q{csat.pk}": "4", f"q{csat.pk}_comment": "Quick and kind", "lang": "en"},
    )

    assert sent.status_code == 302
    assert sent["Location"] == reverse("surveys:thanks", args=[invitation.token]) + "?lang=en"
    response = Response.objects.get(invitation=invitation)
    answer = response.answers.get()
    assert (answer.score, answer.text) == (4, "Quick and kind")
    thanks = client.get(sent["Location"])
    assert "Thank you!" in thanks.text
    assert "Your answer has been recorded" in thanks.text


def test_sending_again_updates_the_same_response(client):
    invitation = sent_invitation()
    csat = first_question(invitation)

    client.post(answer_url(invitation), {f"q{csat.pk}": "2"})
    client.post(answer_url(invitation), {f"q{csat.pk}": "5", f"q{csat.pk}_comment": "Fixed now"})

    assert Response.objects.count() == 1
    answer = Answer.objects.get()
    assert (answer.score, answer.text) == (5, "Fixed now")


def test_the_answered_form_shows_the_stored_answers_to_edit(client):
    invitation = sent_invitation()
    csat = first_question(invitation)
    client.post(answer_url(invitation), {f"q{csat.pk}": "3", f"q{csat.pk}_comment": "Slow"})

    page = client.get(answer_url(invitation))

    assert re.search(rf'id="q{csat.pk}-3" value="3" checked', page.text)
    assert re.search(r">\s*Slow</textarea>", page.text)
    assert "You answered on" in page.text


def test_the_answer_is_recorded_in_the_language_the_customer_chose(client):
    invitation = sent_invitation(language="es")
    csat = first_question(invitation)

    client.post(answer_url(invitation), {f"q{csat.pk}": "5", "lang": "en"})

    assert Response.objects.get().language == "en"


def test_an_out_of_range_score_is_refused_with_a_clear_error_and_nothing_stored(client):
    invitation = sent_invitation()
    csat = first_question(invitation)

    page = client.post(
        answer_url(invitation), {f"q{csat.pk}": "9", f"q{csat.pk}_comment": "Kept text"}
    )

    assert page.status_code == 200
    assert "Choose a score from 1 to 5." in page.text
    assert "nothing has been saved yet" in page.text
    assert re.search(r">\s*Kept text</textarea>", page.text)
    assert not Response.objects.exists()


def test_a_missing_required_answer_is_refused_and_what_was_typed_is_kept(client):
    invitation = sent_invitation(make_survey(Question.Type.NPS, Question.Type.YES_NO))
    nps, resolved = invitation.survey.questions.order_by("position")

    page = client.post(answer_url(invitation), {f"q{nps.pk}": "8", f"q{nps.pk}_comment": "Hi"})

    assert "Please answer this question." in page.text
    assert f'href="#q{resolved.pk}-group"' in page.text
    assert re.search(rf'id="q{nps.pk}-8" value="8" checked', page.text)
    assert not Response.objects.exists()


def test_errors_are_shown_in_the_page_language(client):
    invitation = sent_invitation(language="es")
    csat = first_question(invitation)

    page = client.post(answer_url(invitation), {f"q{csat.pk}": "", "lang": "es"})

    assert '<html lang="es"' in page.text
    assert not Response.objects.exists()


def test_a_follow_up_is_stored_only_when_the_score_asks_for_it(client):
    survey = make_survey(Question.Type.NPS)
    nps = survey.questions.get()
    why = Question.objects.create(
        survey=survey,
        position=1,
        type=Question.Type.TEXT,
        text_en="What went wrong?",
        text_es="¿Qué falló?",
        required=True,
        follow_up_of=nps,
        follow_up_threshold=6,
    )
    happy, unhappy = sent_invitation(survey), sent_invitation(survey)

    happy_page = client.get(answer_url(happy) + "?score=9")
    client.post(answer_url(happy), {f"q{nps.pk}": "9", f"q{why.pk}": "ignored"})
    refused = client.post(answer_url(unhappy), {f"q{nps.pk}": "3"})
    client.post(answer_url(unhappy), {f"q{nps.pk}": "3", f"q{why.pk}": "Too slow"})

    assert "Answer this only if your score above was 6 or lower." in happy_page.text
    assert f'data-follow-up-of="q{nps.pk}" data-threshold="6"' in happy_page.text
    assert Answer.objects.filter(response__invitation=happy).count() == 1
    assert "Please answer this question." in refused.text
    assert Answer.objects.get(response__invitation=unhappy, question=why).text == "Too slow"


def test_a_follow_up_made_visible_by_the_score_link_comes_without_the_note(client):
    survey = make_survey(Question.Type.CSAT)
    Question.objects.create(
        survey=survey,
        position=1,
        type=Question.Type.TEXT,
        text_en="What went wrong?",
        text_es="¿Qué falló?",
        required=False,
        follow_up_of=survey.questions.get(),
        follow_up_threshold=2,
    )

    page = client.get(answer_url(sent_invitation(survey)) + "?score=1")

    assert "What went wrong?" in page.text
    assert "Answer this only if" not in page.text


def test_answers_sent_after_the_survey_closed_are_not_stored(client, settings):
    invitation = sent_invitation()
    csat = first_question(invitation)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())

    page = client.post(answer_url(invitation), {f"q{csat.pk}": "5"})

    assert page.status_code == 410
    assert not Response.objects.exists()


def test_the_form_is_csrf_protected(client):
    invitation = sent_invitation()
    csat = first_question(invitation)
    browser, token = csrf_client(client, answer_url(invitation))

    forged = Client(enforce_csrf_checks=True).post(answer_url(invitation), {f"q{csat.pk}": "1"})
    genuine = browser.post(
        answer_url(invitation), {f"q{csat.pk}": "5", "csrfmiddlewaretoken": token}
    )

    assert forged.status_code == 403
    assert genuine.status_code == 302
    assert Answer.objects.get().score == 5


# --- Rate limits -------------------------------------------------------------------


def test_too_many_posts_for_one_invitation_get_a_429_and_store_nothing(client, settings):
    settings.CXM_SURVEY_RATE_LIMITS = {"token": (3, 600)}
    invitation = sent_invitation()
    csat = first_question(invitation)
    for _attempt in range(3):
        client.post(answer_url(invitation), {f"q{csat.pk}": "9"})  # refused: out of range

    page = client.post(answer_url(invitation), {f"q{csat.pk}": "5"})

    assert page.status_code == 429
    assert int(page["Retry-After"]) > 0
    assert "Too many attempts" in page.text
    assert not Response.objects.exists()


def test_too_many_posts_from_one_address_get_a_429(client, settings):
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (2, 600)}
    first, second, third = (sent_invitation() for _ in range(3))
    for invitation in (first, second):
        client.post(answer_url(invitation), {f"q{first_question(invitation).pk}": "5"})

    page = client.post(
        answer_url(third), {f"q{first_question(third).pk}": "5"}, REMOTE_ADDR="127.0.0.1"
    )
    elsewhere = Client(REMOTE_ADDR="10.1.2.3").post(
        answer_url(third), {f"q{first_question(third).pk}": "4"}
    )

    assert page.status_code == 429
    assert elsewhere.status_code == 302
    assert Response.objects.count() == 3


def test_behind_a_trusted_proxy_the_limit_follows_the_forwarded_address(client, settings):
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (1, 600)}
    settings.CXM_TRUSTED_PROXIES = 1
    one, two = sent_invitation(), sent_invitation()

    first = client.post(
        answer_url(one),
        {f"q{first_question(one).pk}": "5"},
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )
    other_customer = client.post(
        answer_url(two),
        {f"q{first_question(two).pk}": "5"},
        HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.9",
    )

    assert first.status_code == 302
    assert other_customer.status_code == 302


def test_reading_the_page_is_not_rate_limited(client, settings):
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (1, 600), "token": (1, 600)}
    invitation = sent_invitation()

    codes = {client.get(answer_url(invitation)).status_code for _ in range(5)}

    assert codes == {200}


# --- Unsubscribing -----------------------------------------------------------------


def test_unsubscribe_asks_for_one_confirmation_then_stops_every_survey(client):
    invitation = sent_invitation()
    customer = invitation.customer
    queued = Invitation.objects.create(
        survey=make_survey(name="Quarterly NPS"), customer=customer, language="en"
    )
    url = reverse("surveys:unsubscribe", args=[invitation.token])

    confirm = client.get(url)
    customer.refresh_from_db()
    assert not customer.survey_opt_out  # a GET only asks
    assert confirm.text.count('type="submit"') == 1

    done = client.post(url, {"lang": "en"}, follow=True)

    customer.refresh_from_db()
    queued.refresh_from_db()
    assert customer.survey_opt_out
    assert queued.status == Invitation.Status.CANCELLED
    assert "You won't get more surveys from CXM." in done.text


def test_the_unsubscribe_page_speaks_spanish_to_a_spanish_customer(client):
    invitation = sent_invitation(language="es")

    page = client.get(reverse("surveys:unsubscribe", args=[invitation.token]))

    assert '<html lang="es"' in page.text


def test_unsubscribe_still_works_after_the_survey_expired(client):
    invitation = sent_invitation(expires_in=-timedelta(days=30))

    client.post(reverse("surveys:unsubscribe", args=[invitation.token]))

    invitation.customer.refresh_from_db()
    assert invitation.customer.survey_opt_out


def test_unsubscribe_form_is_csrf_protected(client):
    invitation = sent_invitation()
    url = reverse("surveys:unsubscribe", args=[invitation.token])

    forged = Client(enforce_csrf_checks=True).post(url, {"lang": "en"})

    assert forged.status_code == 403
    invitation.customer.refresh_from_db()
    assert not invitation.customer.survey_opt_out


def test_a_mail_provider_one_click_unsubscribe_needs_no_csrf_token(client):
    invitation = sent_invitation()
    url = reverse("surveys:unsubscribe", args=[invitation.token])

    done = Client(enforce_csrf_checks=True).post(url, ONE_CLICK)

    assert done.status_code == 200
    invitation.customer.refresh_from_db()
    assert invitation.customer.survey_opt_out


def test_unsubscribing_with_an_unknown_token_is_not_found(client):
    url = reverse("surveys:unsubscribe", args=["x" * 43])

    assert client.get(url).status_code == 404
    assert Client(enforce_csrf_checks=True).post(url, ONE_CLICK).status_code == 404


def test_one_click_unsubscribes_from_a_mail_provider_are_not_limited_per_address(client, settings):
    """Gmail or Outlook post every customer's one-click unsubscribe from a few servers."""
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (2, 600)}
    invitations = [sent_invitation() for _ in range(4)]

    codes = [
        client.post(reverse("surveys:unsubscribe", args=[invitation.token]), ONE_CLICK).status_code
        for invitation in invitations
    ]

    assert codes == [200, 200, 200, 200]
    assert all(
        Customer.objects.get(pk=invitation.customer_id).survey_opt_out for invitation in invitations
    )


# --- The questions a process keeps between requests ---------------------------------


def test_an_edited_question_is_asked_as_edited_on_the_next_page(client):
    invitation = sent_invitation()
    csat = first_question(invitation)
    assert "How satisfied are you?" in client.get(answer_url(invitation)).text

    services.question_save(
        survey=invitation.survey, question=csat, text_en="Did we sort it out well?"
    )

    page = client.get(answer_url(invitation))
    assert "Did we sort it out well?" in page.text
    assert "How satisfied are you?" not in page.text


def test_questions_added_moved_or_deleted_after_a_page_was_served_show_at_once(client):
    survey = make_survey(Question.Type.NPS, Question.Type.YES_NO)
    invitation = sent_invitation(survey)
    resolved = survey.questions.get(type=Question.Type.YES_NO)
    client.get(answer_url(invitation))

    # Written straight to the table (as a data fix would be), not through the services.
    Question.objects.create(
        survey=survey, position=5, type=Question.Type.TEXT, text_en="Anything else?"
    )
    assert "Anything else?" in client.get(answer_url(invitation)).text

    services.question_move(question=resolved, direction="up")
    page = client.get(answer_url(invitation)).text
    assert page.index("Was your issue resolved?") < page.index("How likely are you to recommend")

    services.question_delete(question=resolved)
    assert "Was your issue resolved?" not in client.get(answer_url(invitation)).text


def test_a_submission_is_judged_by_the_survey_as_edited_since_the_last_one(client):
    invitation = sent_invitation()
    csat = first_question(invitation)
    refused = client.post(answer_url(invitation), {f"q{csat.pk}": "9"})
    assert "Choose a score from 1 to 5." in refused.text

    services.question_save(survey=invitation.survey, question=csat, scale_max=10)

    sent = client.post(answer_url(invitation), {f"q{csat.pk}": "9"})
    assert sent.status_code == 302
    assert Answer.objects.get().score == 9


def test_sending_an_answer_takes_a_few_queries(client, django_assert_max_num_queries):
    invitation = sent_invitation(make_survey(Question.Type.NPS, Question.Type.TEXT))
    nps, text = invitation.survey.questions.order_by("position")
    client.get(answer_url(invitation))  # a page first, as a customer opens it

    # The invitation; then, in a savepoint: the invitation locked with what the response
    # copies and any earlier response, the response, its answers.
    with django_assert_max_num_queries(6):
        sent = client.post(answer_url(invitation), {f"q{nps.pk}": "9", f"q{text.pk}": "Fine"})

    assert sent.status_code == 302
    assert Answer.objects.filter(response__invitation=invitation).count() == 2


def test_a_detractor_answer_opens_its_follow_up_in_a_bounded_number_of_queries(
    client, django_assert_max_num_queries
):
    survey = make_survey(Question.Type.NPS)
    team = TeamFactory(name="Billing")
    solver = agent(username="solver")
    team.members.add(solver)
    invitation = sent_invitation(survey)
    Ticket.objects.filter(pk=invitation.ticket_id).update(team=team, solved_by=solver)
    nps = first_question(invitation)
    client.get(answer_url(invitation))

    # The 6 of any answer, and the follow-up: its team and agent, the ticket with its
    # message, events and SLA (and what analytics marks), the agent's notification.
    with django_assert_max_num_queries(20):
        sent = client.post(answer_url(invitation), {f"q{nps.pk}": "2"})

    assert sent.status_code == 302
    follow_up = Response.objects.get(invitation=invitation).follow_up_ticket
    assert (follow_up.team, follow_up.assignee) == (team, solver)
    assert follow_up.do_not_survey
