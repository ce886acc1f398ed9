"""The surveys of seed_demo: configuration, a history that obeys the product's rules,
answers consistent with their invitations and tickets, and the closed loop."""

import hashlib
import re
from collections import defaultdict
from datetime import timedelta
from io import StringIO
from itertools import pairwise

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db.models import Count, F
from django.utils import timezone

from accounts.models import User
from customers.models import Customer
from demo import seed_surveys
from demo.seed_surveys import CSAT_SURVEY, NPS_REASONS, NPS_SURVEY
from surveys import rules
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.services import FOLLOW_UP_CATEGORY
from tickets import services as ticket_services
from tickets.models import Notification, SLAPolicy, Tag, Team, Ticket

pytestmark = pytest.mark.django_db

MEDIUM = {"customers": 60, "tickets": 700}
FIXED_ANCHOR = "2025-03-10"
Status = Invitation.Status


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **{**MEDIUM, **options})
    return out.getvalue()


def survey_digest() -> str:
    """Every survey row a person would see, without database ids or secret tokens."""
    parts = [
        Survey.objects.order_by("name").values_list(
            "name", "kind", "is_active", "delay", "next_run_at"
        ),
        Question.objects.order_by("survey__name", "position").values_list(
            "survey__name", "position", "type", "text_en", "follow_up_threshold"
        ),
        Invitation.objects.order_by(
            "created_at", "customer__external_id", "survey__name"
        ).values_list(
            "survey__name",
            "customer__external_id",
            "ticket__subject",
            "ticket__created_at",
            "status",
            "skip_reason",
            "send_after",
            "sent_at",
            "reminder_sent_at",
            "created_by__username",
        ),
        Response.objects.order_by("answered_at", "customer__external_id").values_list(
            "customer__external_id",
            "answered_at",
            "agent__username",
            "follow_up_ticket__subject",
            "loop_closed_at",
        ),
        Answer.objects.order_by(
            "response__answered_at", "response__customer__external_id", "question__position"
        ).values_list("question_type", "score", "choices", "text"),
        Ticket.objects.filter(category=FOLLOW_UP_CATEGORY)
        .order_by("created_at")
        .values_list("subject", "status", "assignee__username", "solved_at"),
    ]
    return hashlib.sha256(repr([list(rows) for rows in parts]).encode()).hexdigest()


def wipe() -> None:
    Survey.objects.all().delete()
    Ticket.objects.all().delete()
    Customer.objects.all().delete()
    for model in (Team, Tag, SLAPolicy, User):
        model.objects.all().delete()


def written_in(language: str) -> re.Pattern:
    """Any comment the demo's customers write in `language`."""
    pools = [
        seed_surveys.LOW_CSAT_COMMENTS,
        seed_surveys.MIDDLING_CSAT_COMMENTS,
        seed_surveys.PRAISE,
        *seed_surveys.NPS_COMMENTS.values(),
    ]
    templates = [text for pool in pools for text in pool[language]]
    return re.compile(
        "|".join(re.escape(text).replace(re.escape("{agent}"), r"[\w .'-]*") for text in templates)
    )


def test_the_demo_has_a_csat_survey_without_delay_and_a_quarterly_nps_campaign():
    output = seed(customers=25, tickets=120)

    csat = Survey.objects.get(name=CSAT_SURVEY)
    assert (csat.kind, csat.is_active, csat.trigger, csat.delay) == (
        "transactional",
        True,
        "solved",
        timedelta(0),
    )
    score, what_went_wrong, effort, comment = csat.questions.order_by("position")
    assert (score.type, score.required) == ("csat", True)
    assert what_went_wrong.type == "text" and not what_went_wrong.required
    assert (what_went_wrong.follow_up_of, what_went_wrong.follow_up_threshold) == (score, 3)
    assert effort.type == "ces" and effort.scale == (1, 7)
    assert comment.type == "text" and comment.follow_up_of is None
    nps = Survey.objects.get(name=NPS_SURVEY)
    assert (nps.kind, nps.is_active, nps.repeat_every_months) == ("relationship", True, 3)
    assert nps.next_run_at > timezone.now()
    recommend, reasons, _why = nps.questions.order_by("position")
    assert recommend.type == "nps"
    assert (reasons.type, reasons.follow_up_of, reasons.follow_up_threshold) == (
        "multiple_choice",
        recommend,
        6,
    )
    assert reasons.choices_en == NPS_REASONS["en"] and reasons.choices_es == NPS_REASONS["es"]
    assert every_question_speaks_both_languages(csat) and every_question_speaks_both_languages(nps)
    assert "Demo surveys: 2 surveys," in output


def every_question_speaks_both_languages(survey: Survey) -> bool:
    return all(q.text_en and q.text_es and q.text_en != q.text_es for q in survey.questions.all())


def test_solving_a_waiting_customers_ticket_emails_the_survey_at_once(
    django_capture_on_commit_callbacks,
):
    seed()
    agent = User.objects.get(username="agent")
    waiting = (
        Ticket.objects.filter(
            status__in=Ticket.UNRESOLVED,
            customer__survey_opt_out=False,
            first_response_at__isnull=False,
        )
        .exclude(category=FOLLOW_UP_CATEGORY)
        .order_by("customer__external_id", "created_at")
    )
    one_per_customer = list({ticket.customer_id: ticket for ticket in waiting}.values())
    assert len(one_per_customer) >= 5

    with django_capture_on_commit_callbacks(execute=True):
        for ticket in one_per_customer:
            ticket_services.ticket_solve(ticket=ticket, actor=agent)

    created = Invitation.objects.filter(ticket__in=one_per_customer)
    assert created.count() == len(one_per_customer)
    assert set(created.values_list("status", flat=True)) == {Status.SENT}
    surveys_sent = [m for m in mail.outbox if "X-CXM-Invitation" in m.extra_headers]
    assert sorted(m.to[0].split("<")[-1].rstrip(">") for m in surveys_sent) == sorted(
        ticket.customer.email for ticket in one_per_customer
    )


def test_invitations_obey_the_rules_and_come_in_every_state():
    seed()
    invitations = Invitation.objects.all()

    assert {Status.SCHEDULED, Status.SENT, Status.FAILED, Status.CANCELLED, Status.SKIPPED} <= set(
        invitations.values_list("status", flat=True)
    )
    reasons = set(invitations.filter(status=Status.SKIPPED).values_list("skip_reason", flat=True))
    assert {"fatigue", "opted_out", "do_not_survey"} <= reasons
    assert "" not in reasons
    assert not invitations.exclude(status=Status.SKIPPED).exclude(skip_reason="").exists()
    # One invitation per ticket, made when the ticket was first solved, never before.
    per_ticket = invitations.filter(ticket__isnull=False).values("ticket").annotate(n=Count("id"))
    assert not per_ticket.filter(n__gt=1).exists()
    assert not invitations.filter(
        ticket__isnull=False, created_at__lt=F("ticket__created_at")
    ).exists()
    assert not invitations.filter(
        ticket__isnull=False, created_at__gt=F("ticket__solved_at")
    ).exists()
    # Sent within a minute of being due; failed ones keep their error.
    sent = invitations.filter(status=Status.SENT)
    assert not sent.filter(sent_at__lt=F("send_after")).exists()
    assert all(
        i.sent_at - i.send_after < timedelta(minutes=1) for i in sent.filter(ticket__isnull=False)
    )
    assert not invitations.filter(status=Status.FAILED, last_error="").exists()
    assert not invitations.filter(skip_reason="do_not_survey", ticket__do_not_survey=False)
    assert not invitations.filter(status=Status.SCHEDULED, send_after__lte=timezone.now()).exists()
    # The global fatigue rule: live invitations of one customer are a fatigue window
    # apart, except those a manager sent by hand.
    fatigue = timedelta(days=settings.CXM_SURVEY_FATIGUE_DAYS)
    live_times = defaultdict(list)
    for customer_id, at, by_hand in (
        invitations.filter(status__in=Invitation.LIVE)
        .order_by("send_after")
        .values_list("customer_id", "send_after", "created_by")
    ):
        live_times[customer_id].append((at, by_hand))
    for times in live_times.values():
        for (before, _by), (after, by_hand) in pairwise(times):
            assert by_hand or after - before >= fatigue
    # Opted-out customers got no survey after they unsubscribed, and nothing is queued.
    for customer_id in invitations.filter(skip_reason="opted_out").values_list(
        "customer_id", flat=True
    ):
        first_skip = invitations.filter(customer_id=customer_id, skip_reason="opted_out").earliest(
            "created_at"
        )
        assert not invitations.filter(
            customer_id=customer_id, status=Status.SENT, sent_at__gt=first_skip.created_at
        ).exists()


def test_every_response_answers_a_sent_invitation_within_its_scales():
    seed()
    responses = Response.objects.select_related("invitation", "ticket", "customer")

    assert responses.count() > 30
    for response in responses:
        invitation = response.invitation
        assert invitation.status == Status.SENT
        assert invitation.sent_at < response.answered_at < invitation.expires_at
        assert response.answered_at <= timezone.now()
        assert response.customer_id == invitation.customer_id
        assert response.ticket_id == invitation.ticket_id
        assert response.language == invitation.language == response.customer.language
        assert response.segment == response.customer.segment
        ticket = response.ticket
        if ticket is not None:
            assert (response.team_id, response.channel, response.category, response.priority) == (
                ticket.team_id,
                ticket.channel,
                ticket.category,
                ticket.priority,
            )
            assert response.agent_id == (ticket.solved_by_id or ticket.assignee_id)
    for answer in Answer.objects.select_related("question", "response"):
        question = answer.question
        assert answer.question_type == question.type
        assert question.survey_id == answer.response.survey_id
        if question.scale:
            low, high = question.scale
            assert low <= answer.score <= high
        if question.follow_up_of_id:
            parent = Answer.objects.get(response=answer.response, question=question.follow_up_of)
            assert parent.score <= question.follow_up_threshold
        if question.type == "multiple_choice":
            assert set(answer.choices) <= set(question.choices_in(answer.response.language))
    assert not Answer.objects.filter(question__required=True, score__isnull=True).exists()


def test_poor_answers_opened_follow_up_tickets_and_some_loops_are_closed():
    seed()
    responses = list(Response.objects.prefetch_related("answers__question"))

    for response in responses:
        poor = any(rules.is_poor_answer(a.question, a.score) for a in response.answers.all())
        assert (response.follow_up_ticket_id is not None) == poor
    followed = Response.objects.filter(follow_up_ticket__isnull=False).select_related(
        "follow_up_ticket", "ticket"
    )
    assert followed.count() >= 3
    for response in followed:
        follow_up = response.follow_up_ticket
        assert follow_up.category == FOLLOW_UP_CATEGORY
        assert follow_up.customer_id == response.customer_id
        assert follow_up.do_not_survey
        assert follow_up.created_at == response.answered_at
        if response.ticket is not None:
            assert follow_up.team_id == response.ticket.team_id
            assert response.ticket.reference in follow_up.messages.earliest("created_at").body
        if follow_up.solved_at is not None:
            assert response.loop_closed_at == follow_up.solved_at
            assert response.loop_closed_by_id == follow_up.solved_by_id is not None
        else:
            assert response.loop_closed_at is None
    assert followed.filter(loop_closed_at__isnull=False).exists()
    assert followed.filter(loop_closed_at__isnull=True).exists()
    assert Notification.objects.filter(kind="follow_up").exists()
    # Follow-ups never survey anybody themselves.
    assert not Invitation.objects.filter(ticket__category=FOLLOW_UP_CATEGORY).exists()


def test_the_same_seed_gives_the_same_surveys_and_another_seed_others():
    seed(seed=3, anchor=FIXED_ANCHOR)
    first = survey_digest()
    wipe()
    seed(seed=3, anchor=FIXED_ANCHOR)
    again = survey_digest()
    wipe()
    seed(seed=4, anchor=FIXED_ANCHOR)
    other = survey_digest()

    assert again == first
    assert other != first


def test_running_it_again_adds_nothing_and_a_demo_without_surveys_gets_the_same_ones():
    seed(anchor=FIXED_ANCHOR)
    loaded = survey_digest()
    counts = (Invitation.objects.count(), Response.objects.count(), Ticket.objects.count())

    assert "already loaded" in seed(anchor=FIXED_ANCHOR)
    assert (Invitation.objects.count(), Response.objects.count(), Ticket.objects.count()) == counts

    # A demo loaded before it had surveys: they are added on the next run, as if loaded
    # together.
    Ticket.objects.filter(category=FOLLOW_UP_CATEGORY).delete()
    Ticket.objects.update(do_not_survey=False)
    Survey.objects.all().delete()
    output = seed(anchor=FIXED_ANCHOR)

    assert "Demo surveys: 2 surveys," in output
    assert survey_digest() == loaded


def test_the_full_demo_has_six_months_of_realistic_answers_in_both_languages():
    seed(customers=200, tickets=2400)
    answers = Answer.objects.select_related("response")

    csat = list(answers.filter(question_type="csat").values_list("score", flat=True))
    assert len(csat) > 150
    assert sum(score >= 4 for score in csat) / len(csat) > 0.65
    assert 0.03 < sum(score <= 2 for score in csat) / len(csat) < 0.2
    nps = list(answers.filter(question_type="nps").values_list("score", flat=True))
    assert len(nps) > 40
    assert 0.3 < sum(score >= 9 for score in nps) / len(nps) < 0.65
    assert 0.08 < sum(score <= 6 for score in nps) / len(nps) < 0.35
    assert answers.filter(question_type="ces").count() > 50
    span = Response.objects.order_by("answered_at")
    assert span.last().answered_at - span.first().answered_at > timedelta(days=150)
    for language in ("es", "en"):
        comments = answers.filter(response__language=language).exclude(text="")
        assert comments.count() > 10
        pattern = written_in(language)
        assert [a.text for a in comments if not pattern.fullmatch(a.text)] == []
