"""Read paths for surveys, invitations and answers: the API, the admin's builder page
and the answer cards on the customer profile and the ticket sidebar."""

from datetime import date

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)

from customers.selectors import filter_day_range
from tickets.selectors import tickets_visible_to

from .models import Answer, Invitation, Question, Response, Survey


def _visible(rows: QuerySet, user) -> QuerySet:
    """Answers and invitations about tickets the user may not open are not theirs to read
    either (an agent restricted to their teams); those about no ticket are. No user: all."""
    if user is None:
        return rows
    visible = tickets_visible_to(user)
    if visible.query.where:  # restricted: filter, else every ticket is visible anyway
        rows = rows.filter(Q(ticket__isnull=True) | Q(ticket__in=visible.values("pk")))
    return rows


def _ordered_questions() -> QuerySet[Question]:
    return Question.objects.order_by("position", "pk")


def _answers_with_questions() -> Prefetch:
    return Prefetch(
        "answers",
        queryset=Answer.objects.select_related("question").order_by("question__position", "pk"),
    )


def survey_list(*, kind: str | None = None, is_active: bool | None = None) -> QuerySet[Survey]:
    """Surveys with their questions in order (two queries, however many surveys)."""
    surveys = Survey.objects.prefetch_related(
        Prefetch("questions", queryset=_ordered_questions()), "teams"
    )
    if kind:
        surveys = surveys.filter(kind=kind)
    if is_active is not None:
        surveys = surveys.filter(is_active=is_active)
    return surveys


def survey_get(survey_id: int) -> Survey | None:
    return survey_list().filter(pk=survey_id).first()


def survey_question_get(*, survey: Survey, question_id: int) -> Question | None:
    return survey.questions.filter(pk=question_id).first()


# survey id → (its questions_revision, its questions in order), per process.
_questions_cache: dict[int, tuple[str, tuple[Question, ...]]] = {}
_QUESTIONS_CACHE_SIZE = 256


def survey_questions(*, survey: Survey) -> list[Question]:
    """The survey's questions in order, as the public pages ask them. Kept per process
    under the survey's questions_revision, which every write to a question renews: pass
    a survey read in the same query as the invitation, and an edit is never served
    stale. The Question objects are shared between requests: read them, never change
    them."""
    cached = _questions_cache.get(survey.pk)
    if cached is not None and cached[0] == survey.questions_revision:
        return list(cached[1])
    questions = tuple(_ordered_questions().filter(survey_id=survey.pk))
    if len(_questions_cache) >= _QUESTIONS_CACHE_SIZE:
        _questions_cache.clear()
    _questions_cache[survey.pk] = (survey.questions_revision, questions)
    return list(questions)


def survey_question_list(*, survey: Survey) -> list[Question]:
    """The survey's questions in order, each with the question it follows up."""
    return list(survey.questions.select_related("follow_up_of").order_by("position", "pk"))


def survey_invitation_counts(*, survey: Survey) -> dict[str, int]:
    """How many of the survey's invitations are in each status, for the builder page."""
    counts = dict.fromkeys(Invitation.Status.values, 0)
    for row in survey.invitations.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def invitation_list(
    *,
    survey: int | None = None,
    status: str | None = None,
    customer: int | None = None,
    ticket: int | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    user=None,
) -> QuerySet[Invitation]:
    invitations = _visible(Invitation.objects.select_related("response"), user)
    if survey is not None:
        invitations = invitations.filter(survey_id=survey)
    if status:
        invitations = invitations.filter(status=status)
    if customer is not None:
        invitations = invitations.filter(customer_id=customer)
    if ticket is not None:
        invitations = invitations.filter(ticket_id=ticket)
    return filter_day_range(invitations, "created_at", day_from=created_from, day_to=created_to)


def _filtered_responses(
    *,
    survey: int | None = None,
    question_type: str | None = None,
    score_min: int | None = None,
    score_max: int | None = None,
    answered_from: date | None = None,
    answered_to: date | None = None,
    team: int | None = None,
    agent: int | None = None,
    customer: int | None = None,
    user=None,
) -> QuerySet[Response]:
    responses = _visible(Response.objects.all(), user)
    if survey is not None:
        responses = responses.filter(survey_id=survey)
    if team is not None:
        responses = responses.filter(team_id=team)
    if agent is not None:
        responses = responses.filter(agent_id=agent)
    if customer is not None:
        responses = responses.filter(customer_id=customer)
    if question_type or score_min is not None or score_max is not None:
        # A response matches when one of its answers does (of that type, in that range);
        # EXISTS keeps one row per response however many answers match.
        answers = Answer.objects.filter(response=OuterRef("pk"))
        if question_type:
            answers = answers.filter(question_type=question_type)
        if score_min is not None:
            answers = answers.filter(score__gte=score_min)
        if score_max is not None:
            answers = answers.filter(score__lte=score_max)
        responses = responses.filter(Exists(answers))
    return filter_day_range(responses, "answered_at", day_from=answered_from, day_to=answered_to)


def response_list(**filters) -> QuerySet[Response]:
    """Responses matching the API's filters, each with its answers (a fixed number of
    queries per page). Filters: survey, question_type, score_min, score_max,
    answered_from, answered_to, team, agent, customer."""
    return _filtered_responses(**filters).prefetch_related(_answers_with_questions())


def response_export_answers(**filters) -> QuerySet[Answer]:
    """One row per answer of the responses response_list() would give, oldest first,
    with everything the CSV export writes already joined."""
    return (
        Answer.objects.filter(response__in=_filtered_responses(**filters).values("pk"))
        .select_related(
            "question",
            "response__survey",
            "response__customer",
            "response__ticket",
            "response__team",
            "response__agent",
            "response__follow_up_ticket",
        )
        .order_by("response__answered_at", "response_id", "question__position", "pk")
    )


def _responses_for_cards() -> QuerySet[Response]:
    return Response.objects.select_related(
        "survey", "ticket", "follow_up_ticket", "loop_closed_by"
    ).prefetch_related(_answers_with_questions())


def customer_response_list(*, customer_id: int, limit: int = 10, user=None) -> list[Response]:
    """The customer's latest answers with everything their card shows: two queries."""
    return list(_visible(_responses_for_cards(), user).filter(customer_id=customer_id)[:limit])


def ticket_response_list(
    *, ticket_id: int, customer_id: int, limit: int = 5, user=None
) -> list[Response]:
    """The answers to show beside a ticket: first the ones about this ticket (its survey,
    or the answer this ticket follows up), then the customer's latest others. Two queries."""
    about_this_ticket = Q(ticket_id=ticket_id) | Q(follow_up_ticket_id=ticket_id)
    return list(
        _visible(_responses_for_cards(), user)
        .filter(about_this_ticket | Q(customer_id=customer_id))
        .annotate(
            about_ticket=Case(
                When(about_this_ticket, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-about_ticket", "-answered_at", "-pk")[:limit]
    )
