"""Faults, each with real processes of the test's own: Redis killed while agents close
tickets, a worker SIGKILLed in the middle of a batch, an SMTP server that refuses or
never answers, PostgreSQL stopped under a running web process, and beat started twice
by mistake. Every email is counted where it arrives: at the SMTP server.

Where a test needs time to pass (an invitation's backoff, a dead worker's claim going
stale), it moves the row's timestamp back instead of sleeping: what is tested is what
the next sweep does once that time has passed."""

import json
import re
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.utils import parseaddr
from http.cookiejar import CookieJar

import psycopg
import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.tests.factories import admin, agent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from cxm.roles import sync_role_groups
from surveys.models import Invitation, Question, Survey
from surveys.services.dispatch import MAX_ATTEMPTS, STALE_CLAIM
from surveys.tasks import dispatch_due_invitations
from tickets.models import Message, Ticket
from tickets.services.email import STALE_CLAIM as REPLY_STALE_CLAIM
from tickets.tasks import requeue_stale_reply_emails
from tickets.tests.factories import TicketFactory

from .conftest import copy_test_database, http_request, wait_until
from .test_survey_loop import DISPATCH, form_data

pytestmark = pytest.mark.django_db(transaction=True)

Status = Invitation.Status


def closing_survey() -> Survey:
    """An NPS survey sent as soon as a ticket closes, whatever the ticket."""
    survey = Survey.objects.create(
        name="NPS after support",
        is_active=True,
        trigger=Survey.Trigger.CLOSED,
        delay=timedelta(0),
        exclude_without_agent_reply=False,
    )
    Question.objects.create(
        survey=survey,
        type=Question.Type.NPS,
        position=1,
        text_en="How likely are you to recommend us to a friend?",
        text_es="¿Nos recomendarías a un amigo?",
    )
    return survey


def new_customers(count: int) -> list[Customer]:
    return Customer.objects.bulk_create(
        Customer(name=f"Customer {n}", email=f"customer{n}@example.com", language="es")
        for n in range(count)
    )


def due_invitations(survey: Survey, count: int) -> list[Invitation]:
    customers = new_customers(count)
    now = timezone.now()
    return Invitation.objects.bulk_create(
        Invitation(
            survey=survey,
            customer=customer,
            language="es",
            send_after=now - timedelta(minutes=1),
            expires_at=now + timedelta(days=14),
        )
        for customer in customers
    )


def statuses() -> Counter:
    return Counter(Invitation.objects.values_list("status", flat=True))


def sent_ids(smtp_server) -> list[str]:
    return [received.message["X-CXM-Invitation"] for received in smtp_server.invitations()]


def desk_client(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


# --- 1. Redis down while agents close tickets ---


@pytest.mark.redis_server
class TestRedisOutage:
    @pytest.fixture
    def broker_url(self, private_redis) -> str:
        """The workers and this process use a Redis of this test's own, to kill."""
        return private_redis.url

    def test_tickets_closed_while_redis_is_down_survey_every_customer_once_it_is_back(
        self, private_redis, broker, start_worker, smtp_server
    ):
        worker = start_worker()
        survey = closing_survey()
        tickets = Ticket.objects.bulk_create(
            Ticket(customer=customer, subject="My parcel never came", channel="email")
            for customer in new_customers(100)
        )
        desk = desk_client(agent(username="closer"))
        answered = tickets[0]

        private_redis.kill()
        started = time.monotonic()
        replies = [
            desk.post(
                reverse("desk:ticket_reply", args=[answered.pk]),
                {"reply-body": "A new parcel is on its way."},
            )
        ]
        one_by_one, in_bulk = tickets[:50], tickets[50:]
        replies += [desk.post(reverse("desk:ticket_close", args=[t.pk])) for t in one_by_one]
        replies.append(
            desk.post(
                reverse("desk:bulk"),
                {"tickets": [t.pk for t in in_bulk], "action": "close", "next": "/desk/"},
            )
        )
        closing_took = time.monotonic() - started

        # Every agent saw their reply or close succeed, and it did.
        assert [reply.status_code for reply in replies] == [302] * 52
        # The pages the agents were sent back to show these, and no error or warning.
        shown = [(m.level_tag, str(m)) for m in get_messages(replies[-1].wsgi_request)]
        assert shown == [
            ("success", "Reply added; the customer will receive it by email."),
            *[("success", f"Ticket {t.reference} closed.") for t in one_by_one],
            ("success", "50 tickets changed."),
        ]
        assert Ticket.objects.filter(status=Ticket.Status.CLOSED).count() == 100
        # No request waited on the dead broker: Celery's default publish retries cost
        # 0.6 s each, a minute for these.
        assert closing_took < 30
        # The outbox rows committed with the tickets; nothing could be sent yet.
        assert Invitation.objects.filter(survey=survey).count() == 100
        assert statuses() == {Status.SCHEDULED: 100}
        reply = Message.objects.get(ticket=answered, from_customer=False)
        assert reply.email_status == Message.EmailStatus.QUEUED
        assert smtp_server.messages == []

        private_redis.start()  # back, and empty
        broker.up()  # this process drops its dead connections, as a web process would
        dispatch_due_invitations.delay()  # what beat sends every minute

        received = smtp_server.wait_for_invitations(100, timeout=60)
        assert worker.wait_for_results(DISPATCH, 1, timeout=30) == ["100"]
        recipients = Counter(parseaddr(r.message["To"])[1] for r in received)
        assert sorted(recipients) == sorted(t.customer.email for t in tickets)
        assert set(recipients.values()) == {1}
        dispatch_due_invitations.delay()  # the next sweep finds nothing left to send
        assert worker.wait_for_results(DISPATCH, 2) == ["100", "0"]
        assert len(smtp_server.invitations()) == 100
        assert statuses() == {Status.SENT: 100}

        # Fifteen minutes on, the reply no worker ever claimed goes out too, once.
        Message.objects.filter(pk=reply.pk).update(
            created_at=F("created_at") - REPLY_STALE_CLAIM - timedelta(seconds=1)
        )
        requeue_stale_reply_emails.delay()
        wait_until(
            lambda: Message.objects.filter(
                pk=reply.pk, email_status=Message.EmailStatus.SENT
            ).exists(),
            timeout=30,
            what="the reply email to be sent",
        )
        [emailed] = [r for r in smtp_server.messages if r.message["X-CXM-Ticket"]]
        assert emailed.message["X-CXM-Ticket"] == answered.reference
        assert "A new parcel is on its way." in emailed.message.get_body(("plain",)).get_content()


# --- 2. A worker SIGKILLed mid-batch ---


def test_a_worker_killed_mid_batch_loses_no_invitation_and_sends_none_twice(
    start_worker, smtp_server
):
    survey = closing_survey()
    count = 250  # a claimed batch of 200, and 50 more
    due_invitations(survey, count)
    smtp_server.hold_after(40)  # the 41st email is mid-send when the worker dies
    first = start_worker("first")

    dispatch_due_invitations.delay()
    wait_until(smtp_server.held.is_set, timeout=30, what="the 41st email at the SMTP server")
    first.kill()
    smtp_server.release()

    assert len(smtp_server.invitations()) == 40
    assert statuses() == {Status.SENT: 40, Status.SENDING: 160, Status.SCHEDULED: 50}

    second = start_worker("second")
    dispatch_due_invitations.delay()  # beat's next sweep
    assert second.wait_for_results(DISPATCH, 1) == ["50"]
    # The dead worker's claims stay put: it may have been handing one to the server.
    assert statuses() == {Status.SENT: 90, Status.SENDING: 160}

    # Fifteen minutes on (STALE_CLAIM), far beyond any SMTP timeout, they are stale.
    Invitation.objects.filter(status=Status.SENDING).update(
        claimed_at=F("claimed_at") - STALE_CLAIM - timedelta(seconds=1)
    )
    dispatch_due_invitations.delay()
    assert second.wait_for_results(DISPATCH, 2) == ["50", "160"]

    ids = sent_ids(smtp_server)
    assert len(ids) == count
    assert len(set(ids)) == count  # the email the dead worker was sending, only once
    assert statuses() == {Status.SENT: count}


# --- 3. An SMTP server that refuses, or never answers ---


def wait_for_attempt(invitation: Invitation, attempt: int) -> Invitation:
    wait_until(
        lambda: (
            Invitation.objects.filter(pk=invitation.pk, attempts=attempt)
            .exclude(status=Status.SENDING)
            .exists()
        ),
        timeout=30,
        what=f"try {attempt} of invitation {invitation.pk} to end",
    )
    invitation.refresh_from_db()
    return invitation


def assert_backs_off(invitation: Invitation, attempt: int, *, tried_between) -> None:
    """After the n-th failed try the invitation waits 1, 2, 4, 8… minutes."""
    backoff = timedelta(minutes=2 ** (attempt - 1))
    earliest, latest = tried_between
    assert earliest + backoff <= invitation.send_after <= latest + backoff


def test_an_smtp_server_that_refuses_ends_failed_with_its_reason_and_admin_sends_it_again(
    start_worker, smtp_server
):
    worker = start_worker()
    [invitation] = due_invitations(closing_survey(), 1)
    refusals = [("451", "4.3.0 Mailbox busy, try again later"), ("554", "5.7.1 Refused")]

    for attempt in range(1, MAX_ATTEMPTS + 1):
        code, reason = refusals[attempt % 2]  # temporary and permanent, in turn
        smtp_server.refuse_with = f"{code} {reason}"
        before = timezone.now()
        # Its backoff is over: the next sweep tries again.
        Invitation.objects.filter(pk=invitation.pk).update(send_after=before)
        dispatch_due_invitations.delay()
        invitation = wait_for_attempt(invitation, attempt)
        assert_backs_off(invitation, attempt, tried_between=(before, timezone.now()))
        assert code in invitation.last_error
        assert reason in invitation.last_error
        assert invitation.status == (Status.SCHEDULED if attempt < MAX_ATTEMPTS else Status.FAILED)

    assert worker.wait_for_results(DISPATCH, MAX_ATTEMPTS) == ["0"] * MAX_ATTEMPTS
    assert smtp_server.invitations() == []
    assert invitation.last_error.startswith("SMTPDataError")  # the last reason, kept

    smtp_server.refuse_with = None
    staff = desk_client(admin(username="admin-on-call"))
    reply = staff.post(
        reverse("admin:surveys_invitation_changelist"),
        {"action": "send_again", "_selected_action": [invitation.pk]},
    )

    assert reply.status_code == 302
    [received] = smtp_server.wait_for_invitations(1)
    assert received.message["X-CXM-Invitation"] == str(invitation.pk)
    wait_until(
        lambda: Invitation.objects.filter(pk=invitation.pk, status=Status.SENT).exists(),
        timeout=10,
        what="the re-sent invitation to be marked sent",
    )
    invitation.refresh_from_db()
    assert (invitation.attempts, invitation.last_error) == (1, "")


def test_an_smtp_server_that_never_answers_holds_up_no_page_and_ends_failed(
    start_worker, silent_smtp_server, settings
):
    worker = start_worker(env={"EMAIL_PORT": str(silent_smtp_server.port), "EMAIL_TIMEOUT": "1"})
    # Were this process to talk to the silent server, it would wait 5 s.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = silent_smtp_server.port
    settings.EMAIL_TIMEOUT = 5
    closing_survey()
    ticket = TicketFactory(customer=CustomerFactory(email="rosa@example.com"))
    desk = desk_client(agent(username="closer"))

    before = timezone.now()
    started = time.monotonic()
    replied = desk.post(reverse("desk:ticket_reply", args=[ticket.pk]), {"reply-body": "Sorted."})
    closed = desk.post(reverse("desk:ticket_close", args=[ticket.pk]))
    pages_took = time.monotonic() - started

    assert (replied.status_code, closed.status_code) == (302, 302)
    assert pages_took < settings.EMAIL_TIMEOUT / 2  # neither page waited on the server
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    invitation = Invitation.objects.get(ticket=ticket)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:  # the first try is the close's own kick
            before = timezone.now()
            Invitation.objects.filter(pk=invitation.pk).update(send_after=before)
            dispatch_due_invitations.delay()
        invitation = wait_for_attempt(invitation, attempt)
        assert_backs_off(invitation, attempt, tried_between=(before, timezone.now()))
        assert "timed out" in invitation.last_error

    assert invitation.status == Status.FAILED
    assert worker.wait_for_results(DISPATCH, MAX_ATTEMPTS) == ["0"] * MAX_ATTEMPTS


# --- 4. PostgreSQL stopped under a running web process ---


def _api_ticket(web, token: str, customer: Customer, subject: str) -> tuple[int, bytes]:
    return http_request(
        web.url + "/api/v1/tickets/",
        data=json.dumps({"customer": customer.pk, "subject": subject, "body": "…"}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        timeout=30,
    )


def _writers_waiting(observer) -> list[tuple[str, set[str]]]:
    """For each request blocked on a lock: the statement it waits to run, and the
    tables its transaction has already written to."""
    rows = observer.execute(
        """
        SELECT activity.query, array_agg(lock.relation::regclass::text)
        FROM pg_stat_activity activity JOIN pg_locks lock ON lock.pid = activity.pid
        WHERE activity.wait_event_type = 'Lock'
          AND lock.granted AND lock.mode = 'RowExclusiveLock'
        GROUP BY activity.pid, activity.query
        """
    ).fetchall()
    return [(query, set(tables)) for query, tables in rows]


def _written_before(waiting: list[tuple[str, set[str]]], table: str) -> set[str]:
    """What the transaction stopped on its write to `table` had written before."""
    writes = re.compile(rf'(INSERT INTO|UPDATE|DELETE FROM) "{table}"')
    [tables] = [tables for query, tables in waiting if writes.match(query)]
    return tables


@pytest.mark.postgresql_only
def test_postgresql_stopped_under_the_web_tier_gives_503_no_half_writes_and_recovery(
    private_postgres, start_web
):
    sync_role_groups(apps)
    token = Token.objects.create(user=agent(username="integrator")).key
    customer = CustomerFactory(email="marta@example.com")
    now = timezone.now()
    invitation = Invitation.objects.create(
        survey=closing_survey(),
        customer=customer,
        language="en",
        status=Status.SENT,
        send_after=now,
        sent_at=now,
        expires_at=now + timedelta(days=14),
    )
    with psycopg.connect(private_postgres.url("postgres"), autocommit=True) as server:
        server.execute("CREATE DATABASE cxm")
    database_url = private_postgres.url("cxm")
    copy_test_database(database_url)
    # Kept connections, as in production: they must survive the restart.
    web = start_web(database_url, env={"CONN_MAX_AGE": "60"})

    # A customer's answer, as their browser would send it.
    customer_browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    survey_path = f"/s/{invitation.token}/"
    status, page = http_request(
        f"{web.url}{survey_path}?score=9", opener=customer_browser, timeout=10
    )
    assert status == 200
    action, answer = form_data(page.decode())
    answer_url = urllib.parse.urljoin(web.url + survey_path, action or survey_path)

    # Two writes in flight, each stopped by a lock after its first row.
    blocker = psycopg.connect(database_url)
    observer = psycopg.connect(database_url, autocommit=True)
    blocker.execute("LOCK TABLE tickets_ticketevent, surveys_answer IN SHARE MODE")
    with ThreadPoolExecutor(max_workers=2) as pool:
        creating = pool.submit(_api_ticket, web, token, customer, "Half written")
        answering = pool.submit(
            http_request,
            answer_url,
            data=urllib.parse.urlencode(answer, doseq=True).encode(),
            opener=customer_browser,
            timeout=30,
        )
        wait_until(
            lambda: len(_writers_waiting(observer)) == 2,
            timeout=20,
            what="the ticket and the answer to wait on the lock",
        )
        waiting = _writers_waiting(observer)
        assert "tickets_ticket" in _written_before(waiting, "tickets_ticketevent")
        assert "surveys_response" in _written_before(waiting, "surveys_answer")

        private_postgres.stop()  # ends every session and rolls back what it had begun

        assert creating.result(timeout=20)[0] == 500
        assert answering.result(timeout=20)[0] == 500
    for connection in (blocker, observer):
        connection.close()

    status, body = web.get("/healthz/", timeout=10)
    assert (status, json.loads(body)["checks"]) == (503, {"database": "down"})

    private_postgres.start()

    status, body = web.get("/healthz/", timeout=10)  # the very first request after
    assert (status, json.loads(body)["checks"]) == (200, {"database": "ok"})
    with psycopg.connect(database_url) as database:
        half_written = database.execute(
            """
            SELECT (SELECT count(*) FROM tickets_ticket WHERE subject = 'Half written'),
                   (SELECT count(*) FROM tickets_message),
                   (SELECT count(*) FROM tickets_ticketevent),
                   (SELECT count(*) FROM surveys_response),
                   (SELECT count(*) FROM surveys_answer)
            """
        ).fetchone()
    assert half_written == (0, 0, 0, 0, 0)
    status, body = _api_ticket(web, token, customer, "Written whole")
    assert status == 201, body
    assert json.loads(body)["subject"] == "Written whole"
    assert web.process.poll() is None
    assert web.output().count("Booting worker") == 1  # the same process throughout


# --- 5. Beat started twice ---


def test_two_beats_sweeping_at_once_send_every_invitation_exactly_once(
    start_beat, start_worker, smtp_server
):
    smtp_server.delay = 0.003  # a relay that takes its time, so the sweeps overlap
    count = 400
    due_invitations(closing_survey(), count)
    workers = [start_worker("first", wait=False), start_worker("second", wait=False)]
    beats = [start_beat("beat-a"), start_beat("beat-b")]  # each sweeps every second
    for worker in workers:
        worker.wait_ready()
    for beat in beats:
        beat.wait_started()

    received = smtp_server.wait_for_invitations(count, timeout=60)
    sent_before = [beat.sent() for beat in beats]
    # Both go on sweeping; nothing more goes out.
    wait_until(
        lambda: all(
            beat.sent() >= before + 2 for beat, before in zip(beats, sent_before, strict=True)
        ),
        timeout=30,
        what="two more sweeps from each beat",
    )
    wait_until(
        lambda: sum(int(n) for w in workers for n in w.task_results(DISPATCH)) == count,
        timeout=30,
        what="the workers to report every invitation sent",
    )

    ids = sent_ids(smtp_server)
    assert len(received) == len(ids) == count
    assert len(set(ids)) == count
    assert statuses() == {Status.SENT: count}
