"""Answers everywhere: the customer's profile and the ticket sidebar show their survey
answers (survey, date, score in words and colour, comment, follow-up and loop), in a
fixed number of queries, and only to staff allowed to read answers."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory, agent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys import services
from surveys.models import Invitation, Question, Response, Survey
from surveys.templatetags.surveys_tags import sentiment
from tickets import services as ticket_services
from tickets.models import Ticket
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture
def survey() -> Survey:
    survey = services.survey_save(name="Support NPS")
    services.question_save(
        survey=survey, type=Question.Type.NPS, text_en="Recommend us?", text_es="¿Recomendarías?"
    )
    services.question_save(
        survey=survey, type=Question.Type.TEXT, required=False, text_en="Why?", text_es="¿Por qué?"
    )
    return services.survey_save(survey=survey, is_active=True)


@pytest.fixture
def lucia() -> Customer:
    return CustomerFactory(name="Lucía Fernández")


def answer(
    survey: Survey,
    customer: Customer,
    score: int,
    comment: str = "",
    *,
    ticket: Ticket | None = None,
    at: datetime = MARCH,
) -> Response:
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        status=Invitation.Status.SENT,
        language=customer.language,
    )
    nps, why = survey.questions.order_by("position")
    given = {nps.pk: services.AnswerInput(score=score)}
    if comment:
        given[why.pk] = services.AnswerInput(text=comment)
    with time_machine.travel(at, tick=False):
        return services.response_record(invitation=invitation, answers=given)


def answers_card(html: str) -> str:
    start = html.index("data-survey-answers")
    return html[start : html.index("</section>", start)]


def test_the_customer_profile_shows_a_detractors_answer_with_its_open_follow_up(
    client, agent_user, survey, lucia
):
    detractor = answer(survey, lucia, 3, "Nobody called me back")
    client.force_login(agent_user)

    card = answers_card(client.get(reverse("customers:detail", args=[lucia.pk])).content.decode())

    assert "Support NPS" in card
    assert 'data-sentiment="detractor"' in card
    assert "text-bg-danger" in card and "Detractor" in card
    assert ">3<" in card
    assert "Nobody called me back" in card
    assert detractor.follow_up_ticket.reference in card
    assert reverse("desk:ticket_detail", args=[detractor.follow_up_ticket_id]) in card
    assert 'data-loop="open"' in card


def test_closing_the_follow_up_shows_the_loop_closed_with_who_closed_it(
    client, agent_user, survey, lucia
):
    detractor = answer(survey, lucia, 2)
    closer = agent(username="closer", first_name="Marta", last_name="Ruiz")
    ticket_services.ticket_close(ticket=detractor.follow_up_ticket, actor=closer)
    client.force_login(agent_user)

    card = answers_card(client.get(reverse("customers:detail", args=[lucia.pk])).content.decode())

    assert 'data-loop="closed"' in card
    assert "Marta Ruiz" in card


def test_promoters_and_passives_read_in_their_own_colour(client, agent_user, survey, lucia):
    answer(survey, lucia, 10, at=MARCH)
    answer(survey, lucia, 7, at=MARCH + timedelta(days=1))
    client.force_login(agent_user)

    card = answers_card(client.get(reverse("customers:detail", args=[lucia.pk])).content.decode())

    assert 'data-sentiment="promoter"' in card and "text-bg-success" in card
    assert 'data-sentiment="passive"' in card and "text-bg-warning" in card
    assert card.index('data-sentiment="passive"') < card.index('data-sentiment="promoter"')


def test_the_ticket_sidebar_shows_the_answer_about_this_ticket_first(
    client, agent_user, survey, lucia
):
    ticket = TicketFactory(customer=lucia, subject="Broken invoice")
    answer(survey, lucia, 9, "Fast and kind", ticket=ticket, at=MARCH)
    answer(survey, lucia, 8, "Fine", at=MARCH + timedelta(days=5))
    client.force_login(agent_user)

    card = answers_card(
        client.get(reverse("desk:ticket_detail", args=[ticket.pk])).content.decode()
    )

    assert "About this ticket" in card
    assert card.index("Fast and kind") < card.index("Fine")


def test_a_customer_without_answers_says_so(client, agent_user, lucia):
    client.force_login(agent_user)

    card = answers_card(client.get(reverse("customers:detail", args=[lucia.pk])).content.decode())

    assert "No survey answers yet." in card


def test_staff_who_may_not_read_answers_see_no_answers_card(client, survey, lucia):
    answer(survey, lucia, 3, "Secret opinion")
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(viewer)

    page = client.get(reverse("customers:detail", args=[lucia.pk])).content.decode()

    assert "data-survey-answers" not in page
    assert "Secret opinion" not in page


@pytest.mark.parametrize("url_name", ["customers:detail", "desk:ticket_detail"])
def test_the_answers_cost_the_same_queries_for_one_answer_or_many(
    client, agent_user, survey, lucia, url_name
):
    ticket = TicketFactory(customer=lucia)
    answer(survey, lucia, 9, "Good", ticket=ticket)
    client.force_login(agent_user)
    url = reverse(url_name, args=[lucia.pk if url_name == "customers:detail" else ticket.pk])
    client.get(url)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for day in range(1, 5):
        answer(survey, lucia, day, f"Comment {day}", at=MARCH + timedelta(days=day))

    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()

    assert answers_card(page).count("data-response=") == 5
    assert len(many) == len(one)


@pytest.mark.parametrize(
    ("kind", "score", "reversed_scale", "expected"),
    [
        (Question.Type.NPS, 6, False, "detractor"),
        (Question.Type.NPS, 7, False, "passive"),
        (Question.Type.NPS, 9, False, "promoter"),
        (Question.Type.CSAT, 2, False, "poor"),
        (Question.Type.CSAT, 3, False, "neutral"),
        (Question.Type.CSAT, 4, False, "good"),
        (Question.Type.CES, 1, False, "poor"),
        (Question.Type.CES, 5, False, "good"),
        (Question.Type.CES, 7, True, "poor"),
        (Question.Type.CES, 2, True, "good"),
        (Question.Type.YES_NO, 0, False, "poor"),
        (Question.Type.YES_NO, 1, False, "good"),
    ],
)
def test_each_score_reads_as_the_closed_loop_counts_it(kind, score, reversed_scale, expected):
    question = Question(type=kind, reversed=reversed_scale)

    assert sentiment(question, score) == expected
