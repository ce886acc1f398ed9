"""The pure decisions of the survey loop: who is in the sample, which tickets a survey
targets, which tickets and customers are never surveyed, and which answers are poor."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from customers.models import Customer
from surveys import rules
from surveys.models import Invitation, Question, Survey
from tickets.models import Ticket, TicketEvent

SkipReason = Invitation.SkipReason
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def survey(**fields) -> Survey:
    return Survey(pk=fields.pop("pk", 7), name="CSAT", **fields)


def ticket(**fields) -> Ticket:
    return Ticket(
        pk=fields.pop("pk", 1),
        channel=fields.pop("channel", "email"),
        category=fields.pop("category", "billing"),
        priority=fields.pop("priority", "normal"),
        **fields,
    )


def customer(**fields) -> Customer:
    return Customer(
        name="Ana", email=fields.pop("email", "ana@example.com"), language="es", **fields
    )


# --- sampling ---


def test_the_sample_is_stable_for_one_ticket_and_survey():
    half = survey(sampling_rate=50)

    draws = {rules.in_sample(survey=half, key="ticket:42") for _ in range(20)}

    assert len(draws) == 1


@pytest.mark.parametrize("rate", [10, 50, 90])
def test_the_sample_takes_about_the_configured_share_of_many_tickets(rate):
    sampled = survey(sampling_rate=rate)

    taken = sum(rules.in_sample(survey=sampled, key=f"ticket:{n}") for n in range(4000))

    assert abs(taken / 4000 * 100 - rate) < 3


def test_a_full_rate_takes_every_ticket_and_a_zero_rate_none():
    every = sum(rules.in_sample(survey=survey(sampling_rate=100), key=f"t{n}") for n in range(500))
    none = sum(rules.in_sample(survey=survey(sampling_rate=0), key=f"t{n}") for n in range(500))

    assert (every, none) == (500, 0)


def test_two_surveys_sample_the_same_tickets_independently():
    first, second = survey(pk=1, sampling_rate=50), survey(pk=2, sampling_rate=50)

    same = sum(
        rules.in_sample(survey=first, key=f"ticket:{n}")
        == rules.in_sample(survey=second, key=f"ticket:{n}")
        for n in range(2000)
    )

    assert 800 < same < 1200


# --- targeting ---


def test_a_survey_with_no_targeting_matches_every_ticket():
    assert rules.ticket_matches(survey=survey(), ticket=ticket(team_id=3), team_ids=set())


@pytest.mark.parametrize(
    ("targeting", "team_ids", "matching", "other"),
    [
        ({}, {3}, {"team_id": 3}, {"team_id": 4}),
        ({"channels": ["chat"]}, set(), {"channel": "chat"}, {"channel": "email"}),
        ({"categories": ["billing"]}, set(), {"category": "billing"}, {"category": "login"}),
        ({"priorities": ["urgent"]}, set(), {"priority": "urgent"}, {"priority": "low"}),
    ],
    ids=["team", "channel", "category", "priority"],
)
def test_a_survey_targets_only_its_teams_channels_categories_and_priorities(
    targeting, team_ids, matching, other
):
    targeted = survey(**targeting)

    assert rules.ticket_matches(survey=targeted, ticket=ticket(**matching), team_ids=team_ids)
    assert not rules.ticket_matches(survey=targeted, ticket=ticket(**other), team_ids=team_ids)


def test_a_ticket_without_a_team_is_not_in_a_team_targeted_survey():
    assert not rules.ticket_matches(survey=survey(), ticket=ticket(team_id=None), team_ids={3})


# --- ticket exclusions ---


def exclusion(the_survey: Survey, the_ticket: Ticket, **facts) -> str | None:
    return rules.ticket_exclusion(
        survey=the_survey,
        ticket=the_ticket,
        tag_names=facts.get("tags", set()),
        has_agent_reply=facts.get("has_agent_reply", True),
        auto_closed_without_contact=facts.get("auto_closed", False),
    )


def test_a_replied_ticket_with_nothing_special_is_not_excluded():
    assert exclusion(survey(), ticket()) is None


def test_the_agents_do_not_survey_switch_wins_over_everything():
    assert exclusion(survey(), ticket(do_not_survey=True)) == SkipReason.DO_NOT_SURVEY


def test_a_ticket_with_no_public_agent_reply_is_excluded_unless_the_survey_allows_it():
    assert exclusion(survey(), ticket(), has_agent_reply=False) == SkipReason.NO_AGENT_REPLY
    lenient = survey(exclude_without_agent_reply=False)
    assert exclusion(lenient, ticket(), has_agent_reply=False) is None


def test_a_ticket_opened_by_an_agent_is_excluded_only_when_the_survey_says_so():
    on_behalf = ticket(created_by_id=5)

    assert exclusion(survey(), on_behalf) is None
    assert exclusion(survey(exclude_created_by_agent=True), on_behalf) == SkipReason.AGENT_CREATED


def test_a_ticket_auto_closed_without_customer_contact_is_excluded_by_default():
    assert exclusion(survey(), ticket(), auto_closed=True) == SkipReason.AUTO_CLOSED
    lenient = survey(exclude_auto_closed_without_contact=False)
    assert exclusion(lenient, ticket(), auto_closed=True) is None


def test_merged_or_spam_tickets_are_excluded_by_their_tags():
    strict = survey(excluded_tags=["spam", "merged"])

    assert exclusion(strict, ticket(), tags={"merged", "vip"}) == SkipReason.EXCLUDED_TAG
    assert exclusion(strict, ticket(), tags={"vip"}) is None


# --- customer rules ---


def customer_rule(the_customer: Customer, the_survey: Survey | None = None, **seen) -> str | None:
    return rules.customer_exclusion(
        survey=the_survey or survey(),
        customer=the_customer,
        now=NOW,
        last_surveyed_at=seen.get("any"),
        last_surveyed_by_this_at=seen.get("this"),
    )


def test_a_customer_with_an_address_never_surveyed_may_be_surveyed():
    assert customer_rule(customer()) is None


def test_an_opted_out_customer_is_never_surveyed():
    assert customer_rule(customer(survey_opt_out=True)) == SkipReason.OPTED_OUT


def test_a_customer_without_an_email_is_never_surveyed():
    assert customer_rule(customer(email="")) == SkipReason.NO_EMAIL


def test_a_survey_limited_to_some_languages_skips_other_customers():
    english_only = survey(languages=["en"])

    assert customer_rule(customer(), english_only) == SkipReason.LANGUAGE
    assert customer_rule(customer(), survey(languages=["es", "en"])) is None


@override_settings(CXM_SURVEY_FATIGUE_DAYS=30)
def test_the_global_fatigue_rule_counts_any_survey_in_the_last_n_days():
    assert customer_rule(customer(), any=NOW - timedelta(days=29)) == SkipReason.FATIGUE
    assert customer_rule(customer(), any=NOW - timedelta(days=30)) is None


@override_settings(CXM_SURVEY_FATIGUE_DAYS=7)
def test_the_fatigue_window_comes_from_the_setting():
    assert customer_rule(customer(), any=NOW - timedelta(days=8)) is None
    assert customer_rule(customer(), any=NOW - timedelta(days=6)) == SkipReason.FATIGUE


@override_settings(CXM_SURVEY_FATIGUE_DAYS=0)
def test_the_per_survey_cooldown_applies_on_top_of_the_global_rule():
    quarterly = survey(cooldown_days=90)
    last = NOW - timedelta(days=60)

    assert customer_rule(customer(), quarterly, any=last, this=last) == SkipReason.COOLDOWN
    assert customer_rule(customer(), survey(), any=last, this=last) is None


# --- poor answers (the closed loop) ---


def question(kind: str, **fields) -> Question:
    return Question(type=kind, **fields)


@pytest.mark.parametrize(
    ("kind", "poor", "fine"),
    [
        (Question.Type.NPS, [0, 6], [7, 10]),
        (Question.Type.CSAT, [1, 2], [3, 5]),
        (Question.Type.YES_NO, [0], [1]),
        (Question.Type.CES, [1, 2], [3, 7]),
    ],
)
def test_detractors_low_csat_not_resolved_and_the_worst_ces_band_are_poor(kind, poor, fine):
    asked = question(kind)

    assert [rules.is_poor_answer(asked, score) for score in poor] == [True] * len(poor)
    assert [rules.is_poor_answer(asked, score) for score in fine] == [False] * len(fine)


def test_on_a_reversed_difficulty_scale_the_worst_band_is_the_top():
    difficulty = question(Question.Type.CES, scale_min=1, scale_max=10, reversed=True)

    assert rules.is_poor_answer(difficulty, 10)
    assert rules.is_poor_answer(difficulty, 9)
    assert not rules.is_poor_answer(difficulty, 7)
    assert not rules.is_poor_answer(difficulty, 1)


def test_unanswered_and_unscored_questions_are_never_poor():
    assert not rules.is_poor_answer(question(Question.Type.NPS), None)
    assert not rules.is_poor_answer(question(Question.Type.TEXT), 0)


# --- auto-closed tickets ---


def event(kind: str, actor_id: int | None = None) -> TicketEvent:
    return TicketEvent(kind=kind, actor_id=actor_id)


def test_a_ticket_closed_by_the_system_with_no_customer_reply_was_auto_closed():
    assert rules.auto_closed_without_contact([event(TicketEvent.Kind.CLOSED)])


def test_a_ticket_closed_by_an_agent_or_after_a_customer_reply_was_not():
    closed_by_agent = [event(TicketEvent.Kind.CLOSED, actor_id=3)]
    customer_wrote = [event(TicketEvent.Kind.CUSTOMER_REPLIED), event(TicketEvent.Kind.CLOSED)]

    assert not rules.auto_closed_without_contact(closed_by_agent)
    assert not rules.auto_closed_without_contact(customer_wrote)
