"""The closed loop: a poor answer opens one follow-up ticket for the people who handled
the original one; solving or closing it records who closed the loop and when."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from surveys import services
from surveys.models import Invitation, Question, Response, Survey
from surveys.services import FOLLOW_UP_CATEGORY, AnswerInput
from tickets import services as tickets
from tickets.models import Notification, Ticket
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def solver(db):
    return agent(username="solver", language="en")


@pytest.fixture
def lead(db):
    return agent(username="lead")


@pytest.fixture
def team(solver, lead):
    team = TeamFactory(name="Billing", members=[solver, lead])
    team.lead = lead
    team.save()
    return team


@pytest.fixture
def solved_ticket(team, solver) -> Ticket:
    ticket = TicketFactory(team=team, subject="Double charge", customer=CustomerFactory())
    tickets.ticket_assign(ticket=ticket, assignee=solver, actor=solver)
    tickets.ticket_reply(ticket=ticket, author=solver, body="Refunded.")
    return tickets.ticket_solve(ticket=ticket, actor=solver)


def survey_with(kind: str, **fields) -> tuple[Survey, Question]:
    survey = Survey.objects.create(name=f"{kind} survey", is_active=True)
    question = Question.objects.create(
        survey=survey, type=kind, text_en="How was it?", text_es="¿Qué tal?", **fields
    )
    return survey, question


def answer(
    survey: Survey,
    question: Question,
    score: int,
    ticket: Ticket | None,
    customer=None,
    extra: dict | None = None,
) -> Response:
    invitation = Invitation.objects.get_or_create(
        survey=survey,
        customer=ticket.customer if ticket else customer,
        ticket=ticket,
        defaults={
            "status": Invitation.Status.SENT,
            "sent_at": NOW,
            "expires_at": NOW + timedelta(days=14),
        },
    )[0]
    given = {question.pk: AnswerInput(score=score), **(extra or {})}
    return services.response_record(invitation=invitation, answers=given)


POOR = [
    (Question.Type.NPS, {}, 6),
    (Question.Type.NPS, {}, 0),
    (Question.Type.CSAT, {}, 2),
    (Question.Type.CSAT, {}, 1),
    (Question.Type.YES_NO, {}, 0),
    (Question.Type.CES, {}, 1),
    (Question.Type.CES, {"scale_min": 1, "scale_max": 10, "reversed": True}, 10),
]
FINE = [
    (Question.Type.NPS, {}, 7),
    (Question.Type.CSAT, {}, 3),
    (Question.Type.YES_NO, {}, 1),
    (Question.Type.CES, {}, 4),
    (Question.Type.CES, {"scale_min": 1, "scale_max": 10, "reversed": True}, 1),
]


def label(case) -> str:
    kind, scale, score = case
    return f"{kind}{'-reversed' if scale else ''}={score}"


@pytest.mark.parametrize("case", POOR, ids=label)
def test_a_poor_answer_opens_a_follow_up_ticket(case, solved_ticket, team, solver):
    kind, scale, score = case
    survey, question = survey_with(kind, **scale)

    response = answer(survey, question, score, solved_ticket)

    follow_up = response.follow_up_ticket
    assert follow_up is not None
    assert follow_up.category == FOLLOW_UP_CATEGORY
    assert follow_up.customer == solved_ticket.customer
    assert (follow_up.team, follow_up.assignee) == (team, solver)
    assert follow_up.follow_up_of_response == response
    assert solved_ticket.reference in follow_up.messages.get().body


@pytest.mark.parametrize("case", FINE, ids=label)
def test_a_good_or_neutral_answer_opens_nothing(case, solved_ticket):
    kind, scale, score = case
    survey, question = survey_with(kind, **scale)

    response = answer(survey, question, score, solved_ticket)

    assert response.follow_up_ticket is None
    assert not Ticket.objects.filter(category=FOLLOW_UP_CATEGORY).exists()


def test_the_follow_up_shows_the_answer_and_comment_and_is_never_surveyed(solved_ticket):
    survey, nps = survey_with(Question.Type.NPS)
    why = Question.objects.create(
        survey=survey, type=Question.Type.TEXT, position=2, required=False, text_en="Why?"
    )

    response = answer(
        survey, nps, 3, solved_ticket, extra={why.pk: AnswerInput(text="Charged twice")}
    )

    follow_up = response.follow_up_ticket
    body = follow_up.messages.get().body
    assert "3" in body
    assert "Charged twice" in body
    assert follow_up.priority == Ticket.Priority.HIGH
    assert Ticket.objects.get(pk=follow_up.pk).do_not_survey
    assert follow_up.resolution_due_at is not None or follow_up.sla_policy is None


def test_the_assignee_and_the_team_lead_are_notified(solved_ticket, solver, lead):
    survey, question = survey_with(Question.Type.NPS)

    response = answer(survey, question, 2, solved_ticket)

    notified = Notification.objects.filter(
        kind=Notification.Kind.FOLLOW_UP, ticket=response.follow_up_ticket
    )
    assert {n.user for n in notified} == {solver, lead}
    assert "needs a follow-up" in notified.get(user=solver).text


def test_without_an_agent_the_follow_up_goes_to_the_team_and_the_team_hears_of_it(
    team, solver, lead
):
    ticket = TicketFactory(team=team)  # solved by nobody in particular (an import, a bot)
    tickets.ticket_solve(ticket=ticket, actor=None)
    survey, question = survey_with(Question.Type.CSAT)

    response = answer(survey, question, 1, ticket)

    follow_up = response.follow_up_ticket
    assert follow_up.team == team
    assert follow_up.assignee is None
    notified = Notification.objects.filter(kind=Notification.Kind.FOLLOW_UP, ticket=follow_up)
    assert {n.user for n in notified} == {solver, lead}


def test_a_poor_answer_to_a_campaign_opens_a_follow_up_without_an_original_ticket():
    survey, question = survey_with(Question.Type.NPS)
    customer = CustomerFactory()

    response = answer(survey, question, 4, None, customer=customer)

    assert response.follow_up_ticket.customer == customer
    assert response.follow_up_ticket.team is None


def test_revising_a_poor_answer_does_not_open_a_second_follow_up(solved_ticket):
    survey, question = survey_with(Question.Type.NPS)

    first = answer(survey, question, 3, solved_ticket)
    second = answer(survey, question, 1, solved_ticket)
    answer(survey, question, 9, solved_ticket)

    assert second.follow_up_ticket == first.follow_up_ticket
    assert Ticket.objects.filter(category=FOLLOW_UP_CATEGORY).count() == 1
    assert Response.objects.get().follow_up_ticket == first.follow_up_ticket


def test_a_revision_from_good_to_poor_opens_the_follow_up(solved_ticket):
    survey, question = survey_with(Question.Type.NPS)

    answer(survey, question, 10, solved_ticket)
    response = answer(survey, question, 5, solved_ticket)

    assert response.follow_up_ticket is not None


# --- closing the loop ---


def test_solving_the_follow_up_closes_the_loop_with_who_and_when(
    solved_ticket, solver, time_machine
):
    survey, question = survey_with(Question.Type.NPS)
    response = answer(survey, question, 2, solved_ticket)
    follow_up = response.follow_up_ticket

    time_machine.shift(timedelta(hours=5))
    tickets.ticket_reply(ticket=follow_up, author=solver, body="Sorry! Refund on its way.")
    tickets.ticket_solve(ticket=follow_up, actor=solver)

    response.refresh_from_db()
    assert response.loop_closed_at == NOW + timedelta(hours=5)
    assert response.loop_closed_by == solver


def test_closing_a_solved_follow_up_keeps_the_first_closing_time(
    solved_ticket, solver, lead, time_machine
):
    survey, question = survey_with(Question.Type.NPS)
    follow_up = answer(survey, question, 2, solved_ticket).follow_up_ticket
    tickets.ticket_solve(ticket=follow_up, actor=solver)

    time_machine.shift(timedelta(days=4))
    tickets.ticket_close(ticket=follow_up, actor=lead)

    response = Response.objects.get()
    assert (response.loop_closed_at, response.loop_closed_by) == (NOW, solver)


def test_closing_an_open_follow_up_closes_the_loop(solved_ticket, lead):
    survey, question = survey_with(Question.Type.CSAT)
    follow_up = answer(survey, question, 1, solved_ticket).follow_up_ticket

    tickets.ticket_close(ticket=follow_up, actor=lead)

    response = Response.objects.get()
    assert (response.loop_closed_at, response.loop_closed_by) == (NOW, lead)


def test_reopening_the_follow_up_opens_the_loop_again(solved_ticket, solver, time_machine):
    survey, question = survey_with(Question.Type.NPS)
    follow_up = answer(survey, question, 2, solved_ticket).follow_up_ticket
    tickets.ticket_solve(ticket=follow_up, actor=solver)

    tickets.ticket_customer_reply(ticket=follow_up, body="Still no refund.")
    response = Response.objects.get()
    assert (response.loop_closed_at, response.loop_closed_by) == (None, None)

    time_machine.shift(timedelta(days=1))
    tickets.ticket_solve(ticket=follow_up, actor=solver)
    response.refresh_from_db()
    assert response.loop_closed_at == NOW + timedelta(days=1)


def test_solving_an_ordinary_ticket_closes_no_loop(solved_ticket, solver):
    survey, question = survey_with(Question.Type.NPS)
    answer(survey, question, 2, solved_ticket)
    other = TicketFactory()

    tickets.ticket_solve(ticket=other, actor=solver)

    assert Response.objects.get().loop_closed_at is None


def test_solving_the_follow_up_does_not_survey_the_customer_about_it(solved_ticket, solver):
    Survey.objects.create(name="CSAT on solve", is_active=True, delay=timedelta(0))
    survey, question = survey_with(Question.Type.NPS)
    follow_up = answer(survey, question, 2, solved_ticket).follow_up_ticket
    tickets.ticket_reply(ticket=follow_up, author=solver, body="Sorry!")

    tickets.ticket_solve(ticket=follow_up, actor=solver)

    decided = Invitation.objects.filter(ticket=follow_up).values_list("status", "skip_reason")
    assert set(decided) == {(Invitation.Status.SKIPPED, Invitation.SkipReason.DO_NOT_SURVEY)}
