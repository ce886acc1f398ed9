"""Writing the outbox: solving or closing a ticket schedules the survey in the same
transaction, or records why the customer gets nothing; reopening cancels; relationship
campaigns invite a segment under the same fatigue rules."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory, PayingCustomerFactory
from cxm.lib.exceptions import ApplicationError
from surveys import services
from surveys.models import Invitation, Question, Survey
from tickets import services as tickets
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

Status = Invitation.Status
SkipReason = Invitation.SkipReason
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _monday(time_machine):
    time_machine.move_to(MONDAY, tick=False)


def make_survey(name: str = "CSAT after support", **fields) -> Survey:
    fields.setdefault("delay", timedelta(hours=24))
    survey = Survey.objects.create(name=name, is_active=True, **fields)
    Question.objects.create(
        survey=survey, type=Question.Type.CSAT, text_en="How did we do?", text_es="¿Qué tal?"
    )
    return survey


@pytest.fixture
def solver(db):
    return agent(username="solver")


def replied_ticket(solver, **fields) -> Ticket:
    """A ticket an agent answered publicly, the usual thing to survey."""
    ticket = TicketFactory(**fields)
    tickets.ticket_reply(ticket=ticket, author=solver, body="Here is the fix.")
    return ticket


def invitations(ticket: Ticket | None = None):
    found = Invitation.objects.order_by("pk")
    return list(found.filter(ticket=ticket) if ticket else found)


# --- triggers and delay ---


def test_solving_a_ticket_schedules_the_survey_after_its_delay(solver):
    survey = make_survey(trigger=Survey.Trigger.SOLVED, delay=timedelta(hours=24))
    ticket = replied_ticket(solver)

    tickets.ticket_solve(ticket=ticket, actor=solver)

    [invitation] = invitations(ticket)
    assert invitation.survey == survey
    assert invitation.status == Status.SCHEDULED
    assert invitation.send_after == MONDAY + timedelta(hours=24)
    assert invitation.expires_at == MONDAY + timedelta(hours=24, days=14)
    assert invitation.language == ticket.customer.language


def test_a_survey_triggered_on_close_waits_for_the_close(solver):
    make_survey(trigger=Survey.Trigger.CLOSED, delay=timedelta(hours=2))
    ticket = replied_ticket(solver)

    tickets.ticket_solve(ticket=ticket, actor=solver)
    assert invitations(ticket) == []

    tickets.ticket_close(ticket=ticket, actor=solver)
    [invitation] = invitations(ticket)
    assert invitation.send_after == MONDAY + timedelta(hours=2)


def test_solving_then_closing_a_ticket_surveys_it_once(solver):
    make_survey("On solve", trigger=Survey.Trigger.SOLVED)
    ticket = replied_ticket(solver)

    tickets.ticket_solve(ticket=ticket, actor=solver)
    tickets.ticket_close(ticket=ticket, actor=solver)

    assert len(invitations(ticket)) == 1


def test_closing_an_unsolved_ticket_surveys_it_once_for_a_solve_trigger(solver):
    make_survey("On solve", trigger=Survey.Trigger.SOLVED)
    ticket = replied_ticket(solver)

    tickets.ticket_close(ticket=ticket, actor=solver)

    assert len(invitations(ticket)) == 1


def test_an_inactive_survey_or_a_relationship_campaign_is_not_sent_after_a_ticket(solver):
    Survey.objects.create(name="Draft", is_active=False)
    Survey.objects.create(name="Quarterly NPS", is_active=True, kind=Survey.Kind.RELATIONSHIP)
    ticket = replied_ticket(solver)

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert invitations(ticket) == []


def test_the_invitation_rolls_back_with_the_ticket(solver, monkeypatch):
    make_survey()
    ticket = replied_ticket(solver)

    def broken(**kwargs):
        raise RuntimeError("the SLA clock broke")

    monkeypatch.setattr("surveys.receivers.services.follow_up_resolved", broken)
    with pytest.raises(RuntimeError):
        tickets.ticket_solve(ticket=ticket, actor=solver)

    ticket.refresh_from_db()
    assert ticket.status != Ticket.Status.SOLVED
    assert invitations(ticket) == []


# --- reopening ---


def test_reopening_before_the_send_time_cancels_the_invitation(solver):
    make_survey()
    ticket = replied_ticket(solver)
    tickets.ticket_solve(ticket=ticket, actor=solver)

    tickets.ticket_customer_reply(ticket=ticket, body="It is broken again.")

    [invitation] = invitations(ticket)
    assert invitation.status == Status.CANCELLED


def test_the_next_solve_after_a_reopen_schedules_a_fresh_invitation(solver, time_machine):
    make_survey(delay=timedelta(hours=24))
    ticket = replied_ticket(solver)
    tickets.ticket_solve(ticket=ticket, actor=solver)
    tickets.ticket_reopen(ticket=ticket, actor=solver)

    time_machine.shift(timedelta(hours=3))
    tickets.ticket_solve(ticket=ticket, actor=solver)

    cancelled, fresh = invitations(ticket)
    assert cancelled.status == Status.CANCELLED
    assert fresh.status == Status.SCHEDULED
    assert fresh.send_after == MONDAY + timedelta(hours=27)
    assert fresh.token != cancelled.token


def test_reopening_after_the_survey_went_out_keeps_the_sent_invitation(solver):
    make_survey(delay=timedelta(0))
    ticket = replied_ticket(solver)
    tickets.ticket_solve(ticket=ticket, actor=solver)
    services.invitations_dispatch_due()

    tickets.ticket_reopen(ticket=ticket, actor=solver)
    tickets.ticket_solve(ticket=ticket, actor=solver)

    [invitation] = invitations(ticket)
    assert invitation.status == Status.SENT


# --- targeting and sampling ---


def test_a_survey_for_other_teams_writes_nothing_for_this_ticket(solver):
    billing, support = TeamFactory(name="Billing"), TeamFactory(name="Support")
    make_survey().teams.add(billing)

    for_support = replied_ticket(solver, team=support)
    for_billing = replied_ticket(solver, team=billing)
    tickets.ticket_solve(ticket=for_support, actor=solver)
    tickets.ticket_solve(ticket=for_billing, actor=solver)

    assert invitations(for_support) == []
    assert len(invitations(for_billing)) == 1


@pytest.mark.parametrize(
    ("targeting", "matching", "other"),
    [
        ({"channels": ["chat"]}, {"channel": "chat"}, {"channel": "phone"}),
        ({"categories": ["billing"]}, {"category": "billing"}, {"category": "login"}),
        ({"priorities": ["urgent"]}, {"priority": "urgent"}, {"priority": "low"}),
    ],
    ids=["channel", "category", "priority"],
)
def test_a_survey_targets_its_channels_categories_and_priorities(
    solver, targeting, matching, other
):
    make_survey(**targeting)
    targeted, ignored = replied_ticket(solver, **matching), replied_ticket(solver, **other)

    tickets.ticket_solve(ticket=targeted, actor=solver)
    tickets.ticket_solve(ticket=ignored, actor=solver)

    assert len(invitations(targeted)) == 1
    assert invitations(ignored) == []


@override_settings(CXM_SURVEY_FATIGUE_DAYS=0)
def test_a_ticket_outside_the_sample_is_recorded_as_sampled_out(solver):
    make_survey(sampling_rate=50)
    solved = [replied_ticket(solver) for _ in range(40)]

    for ticket in solved:
        tickets.ticket_solve(ticket=ticket, actor=solver)

    statuses = [invitations(ticket)[0] for ticket in solved]
    scheduled = [i for i in statuses if i.status == Status.SCHEDULED]
    sampled_out = [i for i in statuses if i.skip_reason == SkipReason.SAMPLED_OUT]
    assert len(scheduled) + len(sampled_out) == 40
    assert 8 <= len(scheduled) <= 32


# --- exclusions, each recorded with its reason ---


def skip_reason(ticket: Ticket) -> str:
    [invitation] = invitations(ticket)
    assert invitation.status == Status.SKIPPED
    return invitation.skip_reason


def test_a_ticket_the_agent_marked_do_not_survey_is_skipped(solver):
    make_survey()
    ticket = replied_ticket(solver, do_not_survey=True)

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.DO_NOT_SURVEY


def test_a_ticket_with_only_internal_notes_is_skipped_for_want_of_a_public_reply(solver):
    make_survey()
    ticket = TicketFactory()
    tickets.ticket_add_note(ticket=ticket, author=solver, body="Duplicate, nothing to say.")

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.NO_AGENT_REPLY


def test_a_ticket_an_agent_opened_for_the_customer_is_skipped_when_the_survey_says_so(solver):
    make_survey(exclude_created_by_agent=True)
    ticket = tickets.ticket_create(
        customer=CustomerFactory(), subject="Phone call", created_by=solver
    )
    tickets.ticket_reply(ticket=ticket, author=solver, body="As we said on the phone…")

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.AGENT_CREATED


def test_a_ticket_auto_closed_without_customer_contact_is_skipped(solver):
    make_survey(trigger=Survey.Trigger.CLOSED)
    ticket = replied_ticket(solver)
    tickets.ticket_solve(ticket=ticket, actor=solver)

    tickets.ticket_close(ticket=ticket, actor=None)  # what the auto-close sweep does

    assert skip_reason(ticket) == SkipReason.AUTO_CLOSED


def test_a_ticket_auto_closed_after_the_customer_wrote_back_is_surveyed(solver):
    make_survey(trigger=Survey.Trigger.CLOSED)
    ticket = replied_ticket(solver)
    tickets.ticket_customer_reply(ticket=ticket, body="Thanks, that worked.")
    tickets.ticket_solve(ticket=ticket, actor=solver)

    tickets.ticket_close(ticket=ticket, actor=None)

    assert invitations(ticket)[0].status == Status.SCHEDULED


def test_a_spam_or_merged_ticket_is_skipped_by_its_tag(solver):
    make_survey(excluded_tags=["spam", "merged"])
    ticket = replied_ticket(solver)
    tickets.ticket_set_tags(ticket=ticket, tags=["merged"], actor=solver)

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.EXCLUDED_TAG


# --- customer rules, each recorded with its reason ---


def test_an_opted_out_customer_is_skipped(solver):
    make_survey()
    ticket = replied_ticket(solver, customer=CustomerFactory(survey_opt_out=True))

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.OPTED_OUT


def test_a_customer_without_an_email_address_is_skipped(solver):
    make_survey()
    ticket = replied_ticket(solver, customer=CustomerFactory(email=""))

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.NO_EMAIL


def test_a_customer_in_a_language_the_survey_does_not_offer_is_skipped(solver):
    make_survey(languages=["en"])
    ticket = replied_ticket(solver, customer=CustomerFactory(language="es"))

    tickets.ticket_solve(ticket=ticket, actor=solver)

    assert skip_reason(ticket) == SkipReason.LANGUAGE


@override_settings(CXM_SURVEY_FATIGUE_DAYS=30)
def test_the_global_fatigue_rule_applies_across_every_survey(solver, time_machine):
    make_survey("CSAT", delay=timedelta(0), categories=["billing"])
    make_survey("CES", delay=timedelta(0), categories=["login"])
    customer = CustomerFactory()
    billing = replied_ticket(solver, customer=customer, category="billing")
    tickets.ticket_solve(ticket=billing, actor=solver)
    services.invitations_dispatch_due()

    time_machine.shift(timedelta(days=29))
    login = replied_ticket(solver, customer=customer, category="login")
    tickets.ticket_solve(ticket=login, actor=solver)
    assert skip_reason(login) == SkipReason.FATIGUE

    time_machine.shift(timedelta(days=2))
    again = replied_ticket(solver, customer=customer, category="login")
    tickets.ticket_solve(ticket=again, actor=solver)
    assert invitations(again)[0].status == Status.SCHEDULED


@override_settings(CXM_SURVEY_FATIGUE_DAYS=30)
def test_a_survey_still_waiting_to_be_sent_counts_for_fatigue(solver):
    make_survey(delay=timedelta(hours=24))
    customer = CustomerFactory()
    first, second = (
        replied_ticket(solver, customer=customer),
        replied_ticket(solver, customer=customer),
    )

    tickets.ticket_solve(ticket=first, actor=solver)
    tickets.ticket_solve(ticket=second, actor=solver)

    assert invitations(first)[0].status == Status.SCHEDULED
    assert skip_reason(second) == SkipReason.FATIGUE


@override_settings(CXM_SURVEY_FATIGUE_DAYS=0)
def test_the_survey_cooldown_limits_how_often_one_customer_gets_it(solver, time_machine):
    make_survey(delay=timedelta(0), cooldown_days=7)
    customer = CustomerFactory()
    first = replied_ticket(solver, customer=customer)
    tickets.ticket_solve(ticket=first, actor=solver)

    time_machine.shift(timedelta(days=6))
    second = replied_ticket(solver, customer=customer)
    tickets.ticket_solve(ticket=second, actor=solver)
    time_machine.shift(timedelta(days=2))
    third = replied_ticket(solver, customer=customer)
    tickets.ticket_solve(ticket=third, actor=solver)

    assert skip_reason(second) == SkipReason.COOLDOWN
    assert invitations(third)[0].status == Status.SCHEDULED


@override_settings(CXM_SURVEY_FATIGUE_DAYS=30)
def test_a_cancelled_invitation_does_not_count_for_fatigue(solver):
    make_survey()
    customer = CustomerFactory()
    first = replied_ticket(solver, customer=customer)
    tickets.ticket_solve(ticket=first, actor=solver)
    tickets.ticket_reopen(ticket=first, actor=solver)

    second = replied_ticket(solver, customer=customer)
    tickets.ticket_solve(ticket=second, actor=solver)

    assert invitations(second)[0].status == Status.SCHEDULED


# --- the dispatch kick ---


def test_the_dispatch_is_kicked_only_after_the_ticket_commits(
    solver, django_capture_on_commit_callbacks
):
    make_survey(delay=timedelta(0))
    ticket = replied_ticket(solver)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        tickets.ticket_solve(ticket=ticket, actor=solver)
        assert invitations(ticket)[0].status == Status.SCHEDULED

    assert callbacks
    assert invitations(ticket)[0].status == Status.SENT


def test_a_broker_that_refuses_the_kick_leaves_the_invitation_for_the_sweep(
    solver, django_capture_on_commit_callbacks, monkeypatch
):
    make_survey(delay=timedelta(0))
    ticket = replied_ticket(solver)

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr("surveys.tasks.dispatch_due_invitations.apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_solve(ticket=ticket, actor=solver)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.SOLVED
    assert invitations(ticket)[0].status == Status.SCHEDULED


# --- by hand ---


def test_an_invitation_by_hand_is_scheduled_now(solver):
    survey = make_survey()
    customer = CustomerFactory()

    invitation = services.invitation_create_manual(survey=survey, customer=customer, actor=solver)

    assert invitation.status == Status.SCHEDULED
    assert invitation.send_after == MONDAY
    assert invitation.created_by == solver


@pytest.mark.parametrize(
    "customer_fields", [{"survey_opt_out": True}, {"email": ""}], ids=["opted out", "no email"]
)
def test_an_invitation_by_hand_still_respects_the_customers_wishes(solver, customer_fields):
    survey = make_survey()

    with pytest.raises(ApplicationError):
        services.invitation_create_manual(
            survey=survey, customer=CustomerFactory(**customer_fields), actor=solver
        )

    assert invitations() == []


# --- relationship campaigns ---


def make_campaign(name: str = "Quarterly NPS", **fields) -> Survey:
    campaign = Survey.objects.create(
        name=name, kind=Survey.Kind.RELATIONSHIP, is_active=True, **fields
    )
    Question.objects.create(
        survey=campaign,
        type=Question.Type.NPS,
        text_en="Recommend us?",
        text_es="¿Nos recomiendas?",
    )
    return campaign


def test_a_campaign_invites_the_current_customers_of_its_segment_now():
    campaign = make_campaign(segment="smb")
    smb = PayingCustomerFactory(segment="smb")
    PayingCustomerFactory(segment="enterprise")
    CustomerFactory(segment="smb")  # a lead, not a customer yet

    counts = services.campaign_run(survey=campaign)

    assert counts == {"scheduled": 1, "skipped": 0}
    [invitation] = invitations()
    assert (invitation.customer, invitation.send_after) == (smb, MONDAY)


@override_settings(CXM_SURVEY_FATIGUE_DAYS=30)
def test_a_campaign_obeys_the_fatigue_rules(solver):
    make_survey(delay=timedelta(0))
    campaign = make_campaign()
    recently_helped = PayingCustomerFactory()
    unsubscribed = PayingCustomerFactory(survey_opt_out=True)
    PayingCustomerFactory()
    tickets.ticket_solve(ticket=replied_ticket(solver, customer=recently_helped), actor=solver)

    counts = services.campaign_run(survey=campaign)

    assert counts == {"scheduled": 1, "skipped": 2}
    reasons = dict(
        Invitation.objects.filter(survey=campaign).values_list("customer", "skip_reason")
    )
    assert reasons[recently_helped.pk] == SkipReason.FATIGUE
    assert reasons[unsubscribed.pk] == SkipReason.OPTED_OUT


def test_a_repeating_campaign_schedules_its_next_run_and_a_one_off_does_not():
    quarterly, once = make_campaign(repeat_every_months=3), make_campaign("One-off")

    services.campaign_run(survey=quarterly)
    services.campaign_run(survey=once)

    quarterly.refresh_from_db()
    once.refresh_from_db()
    assert quarterly.next_run_at == MONDAY + timedelta(days=90)
    assert once.next_run_at is None


def test_beat_runs_only_the_campaigns_that_are_due(time_machine):
    due = make_campaign(repeat_every_months=3, next_run_at=MONDAY - timedelta(minutes=1))
    later = make_campaign("Later", next_run_at=MONDAY + timedelta(days=1))
    PayingCustomerFactory()

    assert services.campaigns_run_due() == 1

    due.refresh_from_db()
    later.refresh_from_db()
    assert due.next_run_at == MONDAY + timedelta(days=90)
    assert later.next_run_at == MONDAY + timedelta(days=1)
    assert Invitation.objects.filter(survey=later).count() == 0


def test_a_ticket_survey_cannot_be_run_as_a_campaign():
    with pytest.raises(ApplicationError):
        services.campaign_run(survey=make_survey())
