"""Recording answers: one response per invitation (the latest answer counts), nothing
stored when an answer is invalid, follow-up questions only for low scores, no answers
once the survey closes, and unsubscribing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from cxm.lib.exceptions import ApplicationError
from surveys import services
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.services import AnswerInput
from surveys.signals import response_recorded
from tickets import services as tickets
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def survey() -> Survey:
    return Survey.objects.create(name="CSAT", is_active=True)


def ask(survey: Survey, kind: str, position: int, **fields) -> Question:
    return Question.objects.create(
        survey=survey,
        type=kind,
        position=position,
        text_en=fields.pop("text_en", f"Question {position}"),
        text_es=fields.pop("text_es", f"Pregunta {position}"),
        **fields,
    )


@pytest.fixture
def nps(survey) -> Question:
    return ask(survey, Question.Type.NPS, 1)


@pytest.fixture
def comment(survey) -> Question:
    return ask(survey, Question.Type.TEXT, 2, required=False)


def sent_invitation(survey: Survey, **fields) -> Invitation:
    customer = fields.pop("customer", None) or CustomerFactory()
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        status=fields.pop("status", Invitation.Status.SENT),
        language=customer.language,
        send_after=NOW - timedelta(days=1),
        sent_at=NOW - timedelta(days=1),
        expires_at=fields.pop("expires_at", NOW + timedelta(days=13)),
        **fields,
    )


def answers_of(response: Response) -> dict[int, tuple]:
    return {a.question_id: (a.score, a.text) for a in response.answers.all()}


# --- upsert ---


def test_an_answer_is_stored_with_the_tickets_context(survey, nps, comment):
    solver = agent(username="solver")
    team = TeamFactory(name="Billing", members=[solver])
    ticket = TicketFactory(team=team, channel="chat", category="refunds", priority="high")
    tickets.ticket_assign(ticket=ticket, assignee=solver, actor=solver)
    tickets.ticket_solve(ticket=ticket, actor=solver)
    customer = CustomerFactory(segment="smb")
    invitation = sent_invitation(survey, ticket=ticket, customer=customer)

    response = services.response_record(
        invitation=invitation,
        answers={nps.pk: AnswerInput(score=9), comment.pk: AnswerInput(text=" Quick! ")},
    )

    assert answers_of(response) == {nps.pk: (9, ""), comment.pk: (None, "Quick!")}
    assert (response.team, response.agent, response.ticket) == (team, solver, ticket)
    assert (response.channel, response.category, response.priority) == ("chat", "refunds", "high")
    assert (response.segment, response.language, response.answered_at) == ("smb", "es", NOW)
    assert response.source == Response.Source.SURVEY


def test_submitting_again_replaces_the_answer_and_keeps_one_response(
    survey, nps, comment, time_machine
):
    invitation = sent_invitation(survey)
    services.response_record(
        invitation=invitation,
        answers={nps.pk: AnswerInput(score=5), comment.pk: AnswerInput(text="Slow")},
    )

    time_machine.shift(timedelta(hours=2))
    response = services.response_record(
        invitation=invitation, answers={nps.pk: AnswerInput(score=8)}
    )

    assert Response.objects.count() == 1
    assert Answer.objects.count() == 1
    assert answers_of(response) == {nps.pk: (8, "")}
    assert response.answered_at == NOW + timedelta(hours=2)


def test_every_answer_announces_itself_with_the_previous_answer_time(survey, nps, time_machine):
    heard = []

    def listener(sender, response, previous_answered_at, **kwargs):
        heard.append(previous_answered_at)

    response_recorded.connect(listener)
    try:
        invitation = sent_invitation(survey)
        services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=5)})
        time_machine.shift(timedelta(days=1))
        services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=6)})
    finally:
        response_recorded.disconnect(listener)

    assert heard == [None, NOW]


# --- invalid answers store nothing ---


@pytest.mark.parametrize("score", [-1, 11, None])
def test_an_out_of_range_or_missing_required_score_stores_nothing(survey, nps, comment, score):
    invitation = sent_invitation(survey)

    with pytest.raises(ValidationError) as raised:
        services.response_record(
            invitation=invitation,
            answers={nps.pk: AnswerInput(score=score), comment.pk: AnswerInput(text="hi")},
        )

    assert list(raised.value.message_dict) == [f"q{nps.pk}"]
    assert Response.objects.count() == 0
    assert Answer.objects.count() == 0


def test_an_invalid_revision_keeps_the_previous_answer(survey, nps):
    invitation = sent_invitation(survey)
    services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=9)})

    with pytest.raises(ValidationError):
        services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=12)})

    assert answers_of(Response.objects.get()) == {nps.pk: (9, "")}


def test_a_custom_scale_is_enforced(survey):
    effort = ask(survey, Question.Type.CES, 1, scale_min=1, scale_max=10, reversed=True)
    invitation = sent_invitation(survey)

    with pytest.raises(ValidationError):
        services.response_record(invitation=invitation, answers={effort.pk: AnswerInput(score=0)})
    response = services.response_record(
        invitation=invitation, answers={effort.pk: AnswerInput(score=10)}
    )

    assert answers_of(response) == {effort.pk: (10, "")}


def test_choices_must_be_among_the_options_and_single_choice_takes_one(survey):
    reason = ask(
        survey,
        Question.Type.SINGLE_CHOICE,
        1,
        choices_en=["Price", "Speed"],
        choices_es=["Precio", "Rapidez"],
    )
    extras = ask(
        survey,
        Question.Type.MULTIPLE_CHOICE,
        2,
        required=False,
        choices_en=["A", "B"],
        choices_es=["A", "B"],
    )
    invitation = sent_invitation(survey)

    for wrong in (
        {reason.pk: AnswerInput(choices=("Cheese",))},
        {reason.pk: AnswerInput(choices=("Precio", "Rapidez"))},
    ):
        with pytest.raises(ValidationError):
            services.response_record(invitation=invitation, answers=wrong, language="es")
    response = services.response_record(
        invitation=invitation,
        answers={
            reason.pk: AnswerInput(choices=("Rapidez",)),
            extras.pk: AnswerInput(choices=("A", "B")),
        },
        language="es",
    )

    assert {a.question_id: a.choices for a in response.answers.all()} == {
        reason.pk: ["Rapidez"],
        extras.pk: ["A", "B"],
    }


def test_an_optional_question_may_be_left_empty(survey, nps, comment):
    response = services.response_record(
        invitation=sent_invitation(survey), answers={nps.pk: AnswerInput(score=10)}
    )

    assert answers_of(response) == {nps.pk: (10, "")}


# --- follow-up questions ---


@pytest.fixture
def what_went_wrong(survey, nps) -> Question:
    return ask(
        survey,
        Question.Type.MULTIPLE_CHOICE,
        3,
        follow_up_of=nps,
        follow_up_threshold=6,
        choices_en=["Slow", "Rude"],
        choices_es=["Lento", "Borde"],
    )


def test_a_follow_up_question_shows_only_for_low_scores(survey, nps, what_went_wrong):
    questions = list(survey.questions.order_by("position"))

    low = services.visible_questions(questions, {nps.pk: AnswerInput(score=6)})
    high = services.visible_questions(questions, {nps.pk: AnswerInput(score=7)})
    unanswered = services.visible_questions(questions, {})

    assert what_went_wrong in low
    assert what_went_wrong not in high
    assert what_went_wrong not in unanswered


def test_a_required_follow_up_is_required_only_when_shown(survey, nps, what_went_wrong):
    invitation = sent_invitation(survey, customer=CustomerFactory(language="en"))

    services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=9)})
    with pytest.raises(ValidationError) as raised:
        services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=3)})

    assert list(raised.value.message_dict) == [f"q{what_went_wrong.pk}"]


def test_an_answer_to_a_hidden_follow_up_is_not_stored(survey, nps, what_went_wrong):
    invitation = sent_invitation(survey, customer=CustomerFactory(language="en"))

    response = services.response_record(
        invitation=invitation,
        answers={nps.pk: AnswerInput(score=9), what_went_wrong.pk: AnswerInput(choices=("Slow",))},
    )

    assert list(response.answers.values_list("question", flat=True)) == [nps.pk]


# --- when answering is closed ---


def test_an_expired_survey_takes_no_more_answers(survey, nps, time_machine):
    invitation = sent_invitation(survey, expires_at=NOW + timedelta(days=1))
    services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=9)})

    time_machine.shift(timedelta(days=1))
    with pytest.raises(ApplicationError):
        services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=2)})

    assert answers_of(Response.objects.get()) == {nps.pk: (9, "")}


@pytest.mark.parametrize(
    "status", [Invitation.Status.SCHEDULED, Invitation.Status.CANCELLED, Invitation.Status.FAILED]
)
def test_an_invitation_that_was_never_sent_takes_no_answers(survey, nps, status):
    invitation = sent_invitation(survey, status=status)

    with pytest.raises(ApplicationError):
        services.response_record(invitation=invitation, answers={nps.pk: AnswerInput(score=9)})

    assert Response.objects.count() == 0


# --- unsubscribing ---


def test_unsubscribing_opts_the_customer_out_and_cancels_what_is_queued(survey):
    customer = CustomerFactory()
    invitation = sent_invitation(survey, customer=customer)
    queued = sent_invitation(survey, customer=customer, status=Invitation.Status.SCHEDULED)
    other = sent_invitation(survey, status=Invitation.Status.SCHEDULED)

    services.customer_unsubscribe(invitation=invitation)

    customer.refresh_from_db()
    queued.refresh_from_db()
    other.refresh_from_db()
    assert customer.survey_opt_out
    assert queued.status == Invitation.Status.CANCELLED
    assert other.status == Invitation.Status.SCHEDULED


def test_unsubscribing_twice_is_harmless(survey):
    invitation = sent_invitation(survey)

    services.customer_unsubscribe(invitation=invitation)
    customer = services.customer_unsubscribe(invitation=invitation)

    assert customer.survey_opt_out
