"""The Content-Security-Policy in a real browser: with it enforced, Chromium reports no
violation on the pages we write (the Plotly charts still draw), nor on the admin and
the API docs, which we do not write but serve."""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory, manager
from analytics.forms import company_today
from customers.tests.factories import CustomerFactory
from surveys.models import Question
from surveys.services.imports import response_import_upsert
from tests.security.hostile import PASSWORD, build_world
from tickets.services.email import reply_email_build
from tickets.services.lifecycle import ticket_import_upsert

# Reports what the browser refuses, before any page script runs. An init script and an
# exposed function come from Playwright, not from the page: the policy does not apply.
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} ` +
      `at ${event.sourceFile || event.documentURI}:${event.lineNumber}`
  );
});
"""


@pytest.fixture
def violations(page: Page) -> list[str]:
    """Every CSP violation the browser reports on any page of the test: the DOM events
    and the console's own messages about them."""
    seen: list[str] = []
    page.expose_function("reportCspViolation", lambda text: seen.append(text))
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return seen


def answered_ticket(day, *, name: str, nps: int, csat: int) -> None:
    noon = datetime.combine(day, time(12), tzinfo=ZoneInfo(settings.TIME_ZONE))
    customer = CustomerFactory(name=name)
    ticket, _created = ticket_import_upsert(
        external_id=f"CSP-{name}",
        customer=customer,
        subject=f"Question from {name}",
        channel="email",
        priority="normal",
        category="",
        team=None,
        assignee=None,
        created_at=noon,
        first_response_at=noon + timedelta(minutes=10),
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
            comment="Quick and kind",
        )


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_the_analytics_charts_draw_under_the_policy_without_a_violation(
    page, roles, violations, screenshot
):
    today = company_today()
    answered_ticket(today - timedelta(days=3), name="Ana", nps=10, csat=5)
    answered_ticket(today - timedelta(days=10), name="Bea", nps=3, csat=2)
    manager(username="marta", password=PASSWORD)
    log_in(page, "marta")

    response = page.goto("/analytics/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    sparkline = page.locator('article[data-kpi="nps"] [data-sparkline].js-plotly-plot')
    expect(sparkline.locator(".scatterlayer path.point")).to_have_count(2)
    # Plotly's own styling took: the plot area has the size the template gave it.
    assert sparkline.bounding_box()["height"] == pytest.approx(60, abs=1)
    screenshot(page, "csp-analytics-overview")

    page.goto("/analytics/trends/")
    charts = page.locator("[data-trend].js-plotly-plot")
    expect(charts.first).to_be_visible()
    assert charts.count() == page.locator("[data-trend]").count() > 0
    assert charts.first.bounding_box()["height"] == pytest.approx(280, abs=1)
    screenshot(page, "csp-analytics-trends")

    assert violations == []


def test_the_admin_works_under_the_policy_without_a_violation(page, roles, violations):
    UserFactory(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
    CustomerFactory(name="Ana Martín")
    log_in(page, "root")

    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto("/admin/customers/customer/")
    # The admin's own script ran: ticking a row updates the selection counter.
    page.locator("input.action-select").first.check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    page.get_by_role("link", name="Ana Martín").click()
    expect(page.locator("#customer_form")).to_be_visible()
    page.goto("/admin/tickets/ticket/")
    expect(page.locator("#changelist")).to_be_visible()

    assert violations == []


def test_the_api_docs_work_under_the_policy_without_a_violation(page, roles, violations):
    UserFactory(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
    log_in(page, "root")

    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CXM API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    assert violations == []


def test_hostile_text_runs_nothing_in_the_browser_on_the_pages_that_show_it(
    page, roles, violations, settings, tmp_path, screenshot
):
    """The hostile world of tests/security: every payload is on these pages, escaped;
    no alert ever opens, and the policy has nothing to block."""
    settings.EMAIL_BACKEND = "cxm.lib.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    world = build_world()
    reply_email_build(world.reply).send()
    outbox_key = sorted(path.stem for path in tmp_path.glob("*.eml"))[0]
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    log_in(page, "root")

    for path in (
        "/desk/?view=all",
        f"/desk/tickets/{world.ticket.pk}/",
        f"/customers/{world.customer.pk}/",
        "/desk/canned/",
        f"/desk/outbox/{outbox_key}/",
        f"/surveys/builder/{world.survey.pk}/preview/en/email/",
        "/analytics/drivers/",
        f"/s/{world.invitation.token}/",
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        expect(page.locator("body")).to_contain_text("alert(")  # a payload, shown as text
    page.goto(f"/desk/tickets/{world.ticket.pk}/")
    page.get_by_label("Insert canned reply").select_option(str(world.canned.pk))
    page.get_by_role("button", name="Insert").click()
    reply = page.locator('textarea[name="reply-body"]')
    expect(reply).to_have_value(re.compile(r"alert\('canned body'\)"))
    screenshot(page, "csp-hostile-ticket")

    assert alerts == []
    assert violations == []
