"""An agent's day in a real browser: queue → filter → ticket → canned reply → solve."""

import re

from playwright.sync_api import expect

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from cxm.lib.mail import outbox_messages
from tickets import services
from tickets.models import CannedReply, Ticket
from tickets.tests.factories import TeamFactory


def test_an_agent_answers_a_ticket_with_a_canned_reply_and_the_customer_gets_it(
    page, roles, screenshot, settings, tmp_path
):
    settings.EMAIL_BACKEND = "cxm.lib.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    lucia = agent(username="lucia", password="a-long-passphrase", first_name="Lucía")
    team = TeamFactory(name="Facturación", members=[lucia])
    ana = CustomerFactory(name="Ana Martín", email="ana@example.com", language="es")
    other = CustomerFactory(name="Bruno Díaz")
    ticket = services.ticket_create(
        customer=ana,
        subject="No puedo descargar la factura",
        body="Da error 500.",
        priority="high",
        team=team,
        assignee=lucia,
    )
    services.ticket_create(
        customer=other, subject="Cambio de dirección", priority="low", team=team, assignee=lucia
    )
    canned = CannedReply.objects.create(
        title="Factura reenviada",
        body="Hola {{ customer.first_name }}, te hemos reenviado la factura de "
        "{{ ticket.reference }}. Un saludo, {{ agent.first_name }}",
    )

    page.goto("/login/")
    page.get_by_label("Username").fill("lucia")
    page.get_by_label("Password").fill("a-long-passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    expect(page.get_by_role("link", name="Cambio de dirección")).to_be_visible()

    page.locator("#id_filter-priority, select[name='priority']").first.select_option("high")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Cambio de dirección")).to_have_count(0)
    expect(page.get_by_role("link", name="No puedo descargar la factura")).to_be_visible()
    screenshot(page, "desk-queue")

    page.get_by_role("link", name="No puedo descargar la factura").click()
    expect(page.get_by_text("Da error 500.")).to_be_visible()
    page.locator("#canned-reply").select_option(value=str(canned.pk))
    page.locator("#insert-canned").click()
    reply = page.locator("textarea[name='reply-body']")
    expect(reply).to_have_value(re.compile(rf"Hola Ana, .*{ticket.reference}.*Lucía"))
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text(f"te hemos reenviado la factura de {ticket.reference}")).to_be_visible()

    page.get_by_role("button", name="Solve").click()
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.SOLVED
    assert ticket.first_response_at is not None
    screenshot(page, "desk-ticket")

    sent = outbox_messages()
    assert len(sent) == 1
    assert ticket.reference in sent[0].subject
    assert sent[0].to.endswith("<ana@example.com>")
    assert f"Hola Ana, te hemos reenviado la factura de {ticket.reference}" in sent[0].text
