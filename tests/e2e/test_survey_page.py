"""A customer answers the survey from the email, on a phone: the ticket is solved, the
email lands in the outbox, a score link opens the page with that score chosen, one
comment and one tap later the answer is stored, once."""

import re
from datetime import timedelta

from playwright.sync_api import expect

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from cxm.lib.mail import outbox_messages
from surveys.models import Answer, Invitation, Question, Response, Survey
from tickets import services


def test_a_customer_answers_the_survey_from_the_email_link(
    page, roles, screenshot, settings, tmp_path, live_server
):
    settings.EMAIL_BACKEND = "cxm.lib.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    settings.CXM_BASE_URL = live_server.url
    settings.CXM_COMPANY_NAME = "Tiendas Sol"
    survey = Survey.objects.create(
        name="Satisfaction after a ticket", is_active=True, delay=timedelta(0)
    )
    csat = Question.objects.create(
        survey=survey,
        type=Question.Type.CSAT,
        text_en="How satisfied are you with the help you got?",
        text_es="¿Cuál es tu grado de satisfacción con la ayuda recibida?",
    )
    Question.objects.create(
        survey=survey,
        position=1,
        type=Question.Type.TEXT,
        required=False,
        text_en="What went wrong?",
        text_es="¿Qué falló?",
        follow_up_of=csat,
        follow_up_threshold=2,
    )
    lucia = agent(username="lucia", first_name="Lucía")
    ana = CustomerFactory(name="Ana Martín", email="ana@example.com", language="en")
    ticket = services.ticket_create(customer=ana, subject="Invoice download fails", assignee=lucia)
    services.ticket_reply(ticket=ticket, author=lucia, body="We sent your invoice again.")

    services.ticket_solve(ticket=ticket, actor=lucia)

    invitation = Invitation.objects.get(ticket=ticket)
    assert invitation.status == Invitation.Status.SENT
    [email] = [m for m in outbox_messages() if "X-CXM-Invitation" in m.headers]
    assert email.to.endswith("<ana@example.com>")
    score_links = re.findall(rf"{re.escape(live_server.url)}/s/[\w-]+/\?score=\d", email.text)
    assert [link[-1] for link in score_links] == ["1", "2", "3", "4", "5"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(score_links[3])
    expect(page.get_by_role("heading", name="How did we do?")).to_be_visible()
    expect(page.get_by_role("radio", name="4", exact=True)).to_be_checked()
    # A good score: the "what went wrong?" follow-up stays out of the way.
    expect(page.get_by_label("What went wrong?")).to_be_hidden()
    assert not Response.objects.exists()  # opening the link records nothing

    page.get_by_label("Anything you would like to add? (optional)").fill("Quick and friendly")
    screenshot(page, "survey-page")
    page.get_by_role("button", name="Send", exact=True).click()

    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    expect(page.get_by_text("Your answer has been recorded.")).to_be_visible()
    screenshot(page, "survey-thanks")
    response = Response.objects.get()
    assert response.invitation == invitation
    answer = Answer.objects.get()
    assert (answer.question, answer.score, answer.text) == (csat, 4, "Quick and friendly")
