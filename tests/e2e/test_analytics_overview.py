"""A manager reads the analytics overview in a real browser: the cards and the Plotly
sparklines are drawn, then a longer period and a channel filter change what they show."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from accounts.tests.factories import manager
from analytics.forms import company_today
from customers.tests.factories import CustomerFactory
from surveys.models import Question
from surveys.services.imports import response_import_upsert
from tickets.services.lifecycle import ticket_import_upsert

RECENT_DAYS_AGO = 3  # inside "Last 30 days" (the default period)
OLDER_DAYS_AGO = 45  # only inside "Last 90 days"


def answered_ticket(
    *, day: date, channel: str, nps: int, csat: int, first_response_min: int, name: str
) -> None:
    """A customer's ticket opened at noon (company time) on `day` through `channel`,
    first answered `first_response_min` minutes later and solved; an hour later the
    customer gives it an NPS and a CSAT score in one survey answer."""
    noon = datetime.combine(day, time(12), tzinfo=ZoneInfo(settings.TIME_ZONE))
    customer = CustomerFactory(name=name)
    ticket, _created = ticket_import_upsert(
        external_id=f"E2E-{name}",
        customer=customer,
        subject=f"Question from {name}",
        channel=channel,
        priority="normal",
        category="",
        team=None,
        assignee=None,
        created_at=noon,
        first_response_at=noon + timedelta(minutes=first_response_min),
        solved_at=noon + timedelta(minutes=50),
        closed_at=None,
        reopen_count=0,
    )
    for question_type, score in ((Question.Type.NPS, nps), (Question.Type.CSAT, csat)):
        response_import_upsert(
            customer=customer,
            survey_name="After the ticket",
            question_type=question_type,
            score=score,
            answered_at=noon + timedelta(hours=1),
            ticket=ticket,
        )


def card_value(page: Page, key: str):
    return page.locator(f'article[data-kpi="{key}"] [data-value]')


def sparkline_points(page: Page, key: str) -> int:
    """How many points Plotly drew in a card's sparkline, once it has drawn it."""
    chart = page.locator(f'article[data-kpi="{key}"] [data-sparkline].js-plotly-plot')
    expect(chart).to_have_count(1)
    return chart.evaluate("element => element.data[0].x.length")


def drawn_points(page: Page, key: str) -> list[float]:
    """The values of a card's sparkline that Plotly drew as visible marks on the page:
    one marker per period with data, even one between two gaps."""
    chart = page.locator(f'article[data-kpi="{key}"] [data-sparkline].js-plotly-plot')
    values = [y for y in chart.evaluate("element => element.data[0].y") if y is not None]
    expect(chart.locator(".scatterlayer path.point")).to_have_count(len(values))
    return values


def test_a_manager_changes_the_period_and_the_channel_and_the_cards_and_charts_follow(
    page, roles, screenshot
):
    today = company_today()
    recent = today - timedelta(days=RECENT_DAYS_AGO)
    older = today - timedelta(days=OLDER_DAYS_AGO)
    # Last 30 days: NPS answers 10, 9, 0 → (2 - 1) / 3 = 33.3; CSAT 5, 4, 1 → 2/3 = 66.7%;
    # first responses after 10, 12 and 40 min → median 12 min.
    answered_ticket(day=recent, channel="email", nps=10, csat=5, first_response_min=10, name="Ana")
    answered_ticket(day=recent, channel="email", nps=9, csat=4, first_response_min=12, name="Bea")
    answered_ticket(day=recent, channel="chat", nps=0, csat=1, first_response_min=40, name="Carlos")
    # Adding 45 days ago: NPS 7, 3, 2 → over six answers (2 - 3) / 6 = -16.7; CSAT 5, 2, 1
    # → 3/6 = 50.0%; first responses 10, 12, 20, 40, 60, 60 min → median 30 min.
    answered_ticket(day=older, channel="email", nps=7, csat=5, first_response_min=20, name="Dani")
    answered_ticket(day=older, channel="chat", nps=3, csat=2, first_response_min=60, name="Eva")
    answered_ticket(day=older, channel="chat", nps=2, csat=1, first_response_min=60, name="Fede")
    # Last 90 days by email only: NPS 10, 9, 7 → 2/3 = 66.7; CSAT 5, 4, 5 → 100.0%.
    manager(username="marta", password="a-long-passphrase", first_name="Marta")

    page.goto("/login/")
    page.get_by_label("Username").fill("marta")
    page.get_by_label("Password").fill("a-long-passphrase")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Analytics", exact=True).click()

    expect(page.get_by_role("heading", name="Analytics overview")).to_be_visible()
    expect(card_value(page, "nps")).to_have_text("33.3")
    expect(card_value(page, "csat")).to_have_text("66.7%")
    expect(card_value(page, "first_response_time")).to_have_text("12 min")
    expect(page.locator('article[data-kpi="nps"] [data-n]')).to_have_text("n = 3")
    weeks_in_30_days = sparkline_points(page, "nps")
    assert sparkline_points(page, "csat") == weeks_in_30_days
    assert 5 <= weeks_in_30_days <= 6
    assert drawn_points(page, "nps") == pytest.approx(
        [100 / 3]
    )  # one week with answers: 10, 9 and 0
    screenshot(page, "analytics-overview")

    page.get_by_label("Period", exact=True).select_option("last_90")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("[data-period]")).to_have_attribute(
        "data-from", (today - timedelta(days=89)).isoformat()
    )
    expect(card_value(page, "nps")).to_have_text("-16.7")
    expect(card_value(page, "csat")).to_have_text("50.0%")
    expect(card_value(page, "first_response_time")).to_have_text("30 min")
    expect(page.locator('article[data-kpi="nps"] [data-n]')).to_have_text("n = 6")
    assert sparkline_points(page, "nps") > weeks_in_30_days  # 90 days: 13 or 14 weeks
    assert drawn_points(page, "nps") == pytest.approx([-200 / 3, 100 / 3])  # 7, 3, 2; then 10, 9, 0

    page.get_by_label("Channel", exact=True).select_option("email")
    page.get_by_role("button", name="Show").click()

    expect(page.get_by_label("Channel", exact=True)).to_have_value("email")
    expect(page.get_by_label("Period", exact=True)).to_have_value("last_90")
    expect(card_value(page, "nps")).to_have_text("66.7")
    expect(card_value(page, "csat")).to_have_text("100.0%")
    expect(page.locator('article[data-kpi="nps"] [data-n]')).to_have_text("n = 3")
    assert drawn_points(page, "nps") == pytest.approx([0, 100])  # by email: 7; then 10 and 9
    screenshot(page, "analytics-overview-filtered")
