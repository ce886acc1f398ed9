"""The survey read paths: what the API, the builder and the answer cards read, with a
fixed number of queries however many rows there are."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys import selectors, services
from surveys.models import Invitation, Question, Response, Survey
from tickets.models import Ticket
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture
def survey() -> Survey:
    survey = services.survey_save(name="Support CSAT")
    services.question_save(
        survey=survey, type=Question.Type.CSAT, text_en="Happy?", text_es="¿Feliz?"
    )
    services.question_save(
        survey=survey, type=Question.Type.TEXT, required=False, text_en="Why?", text_es="¿Por qué?"
    )
    return services.survey_save(survey=survey, is_active=True)


def answer(
    survey: Survey,
    score: int,
    *,
    customer: Customer,
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
    csat, why = survey.questions.order_by("position")
    with time_machine.travel(at, tick=False):
        return services.response_record(
            invitation=invitation,
            answers={
                csat.pk: services.AnswerInput(score=score),
                why.pk: services.AnswerInput(text=f"Because {score}"),
            },
        )


def test_survey_list_reads_every_survey_and_its_ordered_questions_in_two_queries(
    survey, django_assert_num_queries
):
    other = services.survey_save(name="Onboarding")
    first = services.question_save(survey=other, type="yes_no", text_en="Done?", text_es="¿Listo?")
    services.question_save(survey=other, type="nps", text_en="Recommend?", text_es="¿Recomiendas?")
    services.question_move(question=first, direction="down")

    with django_assert_num_queries(3):  # surveys, questions, teams
        surveys = {s.name: [q.type for q in s.questions.all()] for s in selectors.survey_list()}

    assert surveys == {"Onboarding": ["nps", "yes_no"], "Support CSAT": ["csat", "text"]}


def test_a_response_matches_a_score_range_once_even_with_several_matching_answers(survey):
    customer = CustomerFactory()
    response = answer(survey, 2, customer=customer)

    matches = selectors.response_list(score_min=0, score_max=10)

    assert list(matches) == [response]


def test_score_filters_apply_to_the_chosen_question_type_only(survey):
    unhappy = answer(survey, 1, customer=CustomerFactory())
    answer(survey, 5, customer=CustomerFactory())

    assert list(selectors.response_list(question_type="csat", score_max=2)) == [unhappy]
    assert list(selectors.response_list(question_type="nps", score_max=2)) == []


def test_date_filters_count_whole_local_days(survey, settings):
    settings.TIME_ZONE = "Europe/Madrid"
    # 23:30 UTC on 9 March is already 10 March in Madrid.
    late = answer(
        survey, 4, customer=CustomerFactory(), at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    )

    day = datetime(2026, 3, 10).date()
    assert list(selectors.response_list(answered_from=day, answered_to=day)) == [late]
    assert list(selectors.response_list(answered_to=day - timedelta(days=1))) == []


def test_the_export_reads_answers_oldest_first_with_their_response(survey):
    customer = CustomerFactory()
    newer = answer(survey, 5, customer=customer, at=MARCH + timedelta(days=1))
    older = answer(survey, 1, customer=customer, at=MARCH)

    rows = [(a.response_id, a.question_type) for a in selectors.response_export_answers()]

    assert rows == [(older.pk, "csat"), (older.pk, "text"), (newer.pk, "csat"), (newer.pk, "text")]


def test_invitation_counts_give_every_status_even_the_empty_ones(survey):
    Invitation.objects.create(survey=survey, customer=CustomerFactory())
    Invitation.objects.create(
        survey=survey,
        customer=CustomerFactory(),
        status=Invitation.Status.SKIPPED,
        skip_reason=Invitation.SkipReason.NO_EMAIL,
    )

    counts = selectors.survey_invitation_counts(survey=survey)

    assert counts == {
        "scheduled": 1,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "cancelled": 0,
        "skipped": 1,
    }


def test_a_customers_answers_are_newest_first_and_limited(survey, django_assert_num_queries):
    customer = CustomerFactory()
    for day in range(4):
        answer(survey, 4, customer=customer, at=MARCH + timedelta(days=day))
    answer(survey, 4, customer=CustomerFactory())

    with django_assert_num_queries(2):
        responses = selectors.customer_response_list(customer_id=customer.pk, limit=3)
        [len(r.answers.all()) for r in responses]

    assert [r.answered_at for r in responses] == [MARCH + timedelta(days=d) for d in (3, 2, 1)]


def test_beside_a_ticket_its_own_answer_comes_first_even_when_older(survey):
    customer = CustomerFactory()
    ticket = TicketFactory(customer=customer)
    about_ticket = answer(survey, 5, customer=customer, ticket=ticket, at=MARCH)
    later = [
        answer(survey, 4, customer=customer, at=MARCH + timedelta(days=day)) for day in (1, 2, 3)
    ]

    responses = selectors.ticket_response_list(
        ticket_id=ticket.pk, customer_id=customer.pk, limit=3
    )

    assert responses == [about_ticket, later[2], later[1]]


def test_beside_a_follow_up_ticket_the_answer_it_follows_up_comes_first(survey):
    customer = CustomerFactory()
    poor = answer(survey, 1, customer=customer, at=MARCH)
    answer(survey, 5, customer=customer, at=MARCH + timedelta(days=3))

    responses = selectors.ticket_response_list(
        ticket_id=poor.follow_up_ticket_id, customer_id=customer.pk, limit=5
    )

    assert responses[0] == poor
    assert len(responses) == 2


# --- The questions the public pages keep per process ---------------------------------


def _fresh(survey: Survey) -> Survey:
    """The survey as a page reads it: from the database, in this request."""
    return Survey.objects.get(pk=survey.pk)


def test_the_public_pages_read_a_surveys_questions_once_until_they_change(
    survey, django_assert_num_queries
):
    first = selectors.survey_questions(survey=_fresh(survey))

    with django_assert_num_queries(0):
        again = selectors.survey_questions(survey=survey)

    assert [q.text_en for q in again] == [q.text_en for q in first] == ["Happy?", "Why?"]


def _add(survey: Survey) -> None:
    Question.objects.create(survey=survey, type=Question.Type.TEXT, text_en="More?", position=9)


def _save(survey: Survey) -> None:
    question = survey.questions.get(text_en="Why?")
    question.text_en = "More?"
    question.save()


def _update(survey: Survey) -> None:
    survey.questions.filter(text_en="Why?").update(text_en="More?")


def _bulk_update(survey: Survey) -> None:
    question = survey.questions.get(text_en="Why?")
    question.text_en = "More?"
    Question.objects.bulk_update([question], ["text_en"])


def _bulk_create(survey: Survey) -> None:
    Question.objects.bulk_create(
        [Question(survey=survey, type=Question.Type.TEXT, text_en="More?", position=9)]
    )


def _delete(survey: Survey) -> None:
    survey.questions.get(text_en="Why?").delete()


def _delete_many(survey: Survey) -> None:
    survey.questions.filter(text_en="Why?").delete()


@pytest.mark.parametrize(
    "write", [_add, _save, _update, _bulk_update, _bulk_create, _delete, _delete_many]
)
def test_any_write_to_a_question_is_seen_by_the_next_page(survey, write):
    before = [q.text_en for q in selectors.survey_questions(survey=_fresh(survey))]

    write(survey)

    after = [q.text_en for q in selectors.survey_questions(survey=_fresh(survey))]
    assert after != before
    assert after == list(
        survey.questions.order_by("position", "pk").values_list("text_en", flat=True)
    )


def test_a_question_moved_to_another_survey_leaves_the_first_at_once(survey):
    other = services.survey_save(name="Other survey")
    before = [q.text_en for q in selectors.survey_questions(survey=_fresh(survey))]
    selectors.survey_questions(survey=_fresh(other))
    question = survey.questions.get(text_en="Why?")

    question.survey = other
    question.save()

    assert before == ["Happy?", "Why?"]
    assert [q.text_en for q in selectors.survey_questions(survey=_fresh(survey))] == ["Happy?"]
    assert [q.text_en for q in selectors.survey_questions(survey=_fresh(other))] == ["Why?"]
