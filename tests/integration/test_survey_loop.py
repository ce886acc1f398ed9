"""The survey loop end to end with a real Celery worker, a real broker and a real SMTP
server: a closed ticket's survey arrives by email and its one-click link records one
answer; a broker that is down when the ticket closes delays the survey, never loses it;
two workers on one batch send every invitation exactly once."""

import re
import time
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import agent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.tasks import dispatch_due_invitations
from tickets import services as tickets
from tickets.models import Ticket
from tickets.tests.factories import TicketFactory

from .conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

DISPATCH = "surveys.tasks.dispatch_due_invitations"


def nps_survey() -> Survey:
    survey = Survey.objects.create(
        name="NPS after support",
        is_active=True,
        trigger=Survey.Trigger.CLOSED,
        delay=timedelta(0),
    )
    Question.objects.create(
        survey=survey,
        type=Question.Type.NPS,
        position=1,
        text_en="How likely are you to recommend us to a friend?",
        text_es="¿Nos recomendarías a un amigo?",
    )
    Question.objects.create(
        survey=survey,
        type=Question.Type.TEXT,
        position=2,
        required=False,
        text_en="Anything to add?",
        text_es="¿Algo más?",
    )
    return survey


def answered_ticket(customer: Customer) -> Ticket:
    solver = agent(username=f"solver{customer.pk}")
    ticket = TicketFactory(customer=customer, subject="My parcel never came")
    tickets.ticket_reply(ticket=ticket, author=solver, body="A new one is on its way.")
    ticket.solver = solver
    return ticket


def invitation_status(invitation_id: int) -> str:
    return Invitation.objects.values_list("status", flat=True).get(pk=invitation_id)


def form_data(page: str) -> tuple[str | None, dict[str, list[str]]]:
    """What a browser would send for the page's form, as it stands (checked radios,
    hidden fields, textareas, the first submit button)."""
    form = BeautifulSoup(page, "html.parser").find("form", method=re.compile("post", re.I))
    assert form is not None, "the survey page has no form to submit"
    data: dict[str, list[str]] = {}
    for field in form.find_all(["input", "textarea", "select", "button"]):
        name = field.get("name")
        kind = (field.get("type") or "").lower()
        if not name or field.has_attr("disabled"):
            continue
        if field.name == "textarea":
            data.setdefault(name, []).append(field.text)
        elif field.name == "select":
            chosen = field.find("option", selected=True)
            if chosen is not None:
                data.setdefault(name, []).append(chosen.get("value", chosen.text))
        elif kind in ("radio", "checkbox"):
            if field.has_attr("checked"):
                data.setdefault(name, []).append(field.get("value", "on"))
        elif kind == "submit" or field.name == "button":
            if not any(key.startswith("__submit") for key in data):
                data[name] = [field.get("value", "")]
                data["__submit"] = []
        elif kind not in ("reset", "image", "file"):
            data.setdefault(name, []).append(field.get("value", ""))
    data.pop("__submit", None)
    return form.get("action") or None, data


def test_a_closed_ticket_is_surveyed_by_email_and_one_click_records_one_answer(
    start_worker, smtp_server
):
    start_worker()
    survey = nps_survey()
    customer = CustomerFactory(name="Ana Pérez", email="ana@example.com", language="en")
    ticket = answered_ticket(customer)

    tickets.ticket_close(ticket=ticket, actor=ticket.solver)

    [received] = smtp_server.wait_for_invitations(1)
    message = received.message
    invitation = Invitation.objects.get(ticket=ticket, survey=survey)
    assert message["X-CXM-Invitation"] == str(invitation.pk)
    assert "ana@example.com" in message["To"]
    unsubscribe = f"<http://testserver/s/{invitation.token}/unsubscribe/>"
    assert message["List-Unsubscribe"].strip() == unsubscribe
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "How likely are you to recommend us to a friend?" in text
    score_links = re.findall(r'href="(http://testserver/s/[^"]+\?score=\d+)"', html)
    assert [link.rsplit("=", 1)[1] for link in score_links] == [str(n) for n in range(11)]
    wait_until(
        lambda: invitation_status(invitation.pk) == Invitation.Status.SENT,
        timeout=10,
        what="the worker to mark the invitation sent",
    )

    # The customer taps 9: a mail scanner's GET must record nothing.
    link = urlparse(score_links[9])
    # A phone of its own: the per-IP rate limit is shared with the rest of the suite.
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.23")
    page = browser.get(f"{link.path}?{link.query}")
    assert page.status_code == 200
    assert Response.objects.count() == 0
    action, data = form_data(page.content.decode())
    score, comment = survey.questions.order_by("position")
    assert data[f"q{score.pk}"] == ["9"]  # the tapped score, chosen and ready to send
    data[f"q{comment.pk}"] = ["Fast and friendly."]

    sent = browser.post(action or link.path, data)
    again = browser.post(action or link.path, data)

    assert sent.status_code in (302, 303)
    assert browser.get(sent["Location"]).status_code == 200
    assert again.status_code in (302, 303)
    response = Response.objects.get()
    assert response.invitation_id == invitation.pk
    assert list(Answer.objects.order_by("question__position").values_list("score", "text")) == [
        (9, ""),
        (None, "Fast and friendly."),
    ]
    assert len(smtp_server.invitations()) == 1


def test_a_survey_whose_broker_was_down_at_close_time_goes_out_once_it_is_back(
    start_worker, smtp_server, broker
):
    worker = start_worker()
    survey = nps_survey()
    ticket = answered_ticket(CustomerFactory(email="luis@example.com"))

    broker.down()
    started = time.monotonic()
    tickets.ticket_close(ticket=ticket, actor=ticket.solver)
    closing_took = time.monotonic() - started

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    assert closing_took < 15
    invitation = Invitation.objects.get(ticket=ticket, survey=survey)
    assert invitation.status == Invitation.Status.SCHEDULED
    time.sleep(1)  # were a task published anyway, the idle worker would run it by now
    assert worker.task_results(DISPATCH) == []
    assert smtp_server.invitations() == []

    broker.up()
    dispatch_due_invitations.delay()  # what beat sends every minute

    [received] = smtp_server.wait_for_invitations(1)
    assert received.message["X-CXM-Invitation"] == str(invitation.pk)
    assert worker.wait_for_results(DISPATCH, 1) == ["1"]
    dispatch_due_invitations.delay()
    assert worker.wait_for_results(DISPATCH, 2) == ["1", "0"]
    assert len(smtp_server.invitations()) == 1
    assert invitation_status(invitation.pk) == Invitation.Status.SENT


def test_two_workers_on_the_same_batch_send_each_invitation_exactly_once(start_worker, smtp_server):
    smtp_server.delay = 0.003  # a relay that takes its time, so both workers overlap
    survey = nps_survey()
    count = 600
    customers = Customer.objects.bulk_create(
        Customer(name=f"Customer {n}", email=f"customer{n}@example.com", language="es")
        for n in range(count)
    )
    now = timezone.now()
    Invitation.objects.bulk_create(
        Invitation(
            survey=survey,
            customer=customer,
            language="es",
            send_after=now - timedelta(minutes=1),
            expires_at=now + timedelta(days=14),
        )
        for customer in customers
    )
    first, second = start_worker("first", wait=False), start_worker("second", wait=False)
    first.wait_ready()
    second.wait_ready()

    for _ in range(4):
        dispatch_due_invitations.delay()

    received = smtp_server.wait_for_invitations(count, timeout=45)
    wait_until(
        lambda: len(first.task_results(DISPATCH)) + len(second.task_results(DISPATCH)) == 4,
        timeout=30,
        what="the four dispatch runs to finish",
    )
    ids = [r.message["X-CXM-Invitation"] for r in smtp_server.invitations()]
    assert len(received) == len(ids) == count
    assert len(set(ids)) == count
    sent_by = [sum(int(n) for n in w.task_results(DISPATCH)) for w in (first, second)]
    assert sum(sent_by) == count
    assert all(sent_by), f"one worker sent everything: {sent_by}"
    statuses = set(Invitation.objects.values_list("status", flat=True))
    assert statuses == {Invitation.Status.SENT}
