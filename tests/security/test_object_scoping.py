"""Objects are scoped to who may see them, whatever id or token is typed in the URL.

An agent restricted to their teams' tickets meets another team's ticket nowhere: not
on its page, not through its buttons, not through the API, and not in any list. A
survey token opens its own invitation and no other; tokens are random, and a wrong
one answers exactly like one that never existed. The public pages are rate-limited.
"""

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from surveys import models as survey_models
from surveys import throttle
from surveys.models import Answer, Invitation, Question, Response, Survey
from tickets import services as ticket_services
from tickets.models import Message, Ticket
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

OURS_SUBJECT = "Billing question we may read"
THEIRS_SUBJECT = "Shipping matter kept from billing"


# --- An agent restricted to their teams ------------------------------------------------


@pytest.fixture
def restricted():
    return agent(username="restricted", ticket_access=User.TicketAccess.TEAMS)


@pytest.fixture
def shipping_agent():
    return agent(username="shipper")


@pytest.fixture
def customer():
    return CustomerFactory(name="Carmen Ruiz")


@pytest.fixture
def ours(restricted, customer):
    billing = TeamFactory(name="Billing", members=[restricted])
    return ticket_services.ticket_create(
        customer=customer, subject=OURS_SUBJECT, body="Invoice?", team=billing
    )


@pytest.fixture
def theirs(shipping_agent, customer):
    """Another team's ticket for the same customer, with a reply whose email failed
    (so "send again" has something to act on) and an internal note."""
    shipping = TeamFactory(name="Shipping", members=[shipping_agent])
    ticket = ticket_services.ticket_create(
        customer=customer,
        subject=THEIRS_SUBJECT,
        body="Where is my parcel?",
        team=shipping,
        assignee=shipping_agent,
    )
    reply = ticket_services.ticket_reply(ticket=ticket, author=shipping_agent, body="On its way")
    Message.objects.filter(pk=reply.pk).update(email_status="failed", email_error="refused")
    ticket_services.ticket_add_note(ticket=ticket, author=shipping_agent, body="Courier lost it")
    return ticket


@pytest.fixture
def desk(restricted):
    client = Client()
    client.force_login(restricted)
    return client


def snapshot(ticket: Ticket) -> tuple:
    """Everything an action could change on a ticket."""
    ticket.refresh_from_db()
    return (
        ticket.status,
        ticket.priority,
        ticket.team_id,
        ticket.assignee_id,
        ticket.updated_at,
        sorted(ticket.tags.values_list("name", flat=True)),
        list(ticket.messages.values_list("pk", "email_status", "email_attempts")),
        ticket.events.count(),
    )


def missing_ticket_id() -> int:
    return (Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


def test_the_restricted_agent_reads_their_own_teams_ticket(desk, ours, theirs):
    """The control: what the other tests refuse is not refused to everything."""
    page = desk.get(reverse("desk:ticket_detail", args=[ours.pk]))

    assert page.status_code == 200
    assert OURS_SUBJECT in page.text


def test_another_teams_ticket_page_is_not_found_like_a_ticket_that_does_not_exist(
    desk, ours, theirs
):
    page = desk.get(reverse("desk:ticket_detail", args=[theirs.pk]))
    nothing = desk.get(reverse("desk:ticket_detail", args=[missing_ticket_id()]))

    assert page.status_code == nothing.status_code == 404
    assert THEIRS_SUBJECT not in page.text
    assert page.content == nothing.content


DESK_ACTIONS = {
    "ticket_reply": {"reply-body": "Let me check"},
    "ticket_note": {"note-body": "Peeking"},
    "ticket_properties": {"properties-status": "solved", "properties-priority": "urgent"},
    "ticket_solve": {},
    "ticket_reopen": {},
    "ticket_close": {},
}


@pytest.mark.parametrize("action", sorted(DESK_ACTIONS))
def test_another_teams_ticket_cannot_be_acted_on_from_the_desk(desk, theirs, action):
    before = snapshot(theirs)

    response = desk.post(reverse(f"desk:{action}", args=[theirs.pk]), DESK_ACTIONS[action])

    assert response.status_code == 404
    assert snapshot(theirs) == before


def test_another_teams_failed_email_cannot_be_sent_again(desk, theirs):
    failed = theirs.messages.get(email_status="failed")
    before = snapshot(theirs)

    response = desk.post(reverse("desk:message_retry", args=[theirs.pk, failed.pk]))

    assert response.status_code == 404
    assert snapshot(theirs) == before


def test_a_message_of_another_teams_ticket_cannot_be_reached_through_our_ticket(desk, ours, theirs):
    failed = theirs.messages.get(email_status="failed")
    before = snapshot(theirs)

    response = desk.post(reverse("desk:message_retry", args=[ours.pk, failed.pk]))

    assert response.status_code == 404
    assert snapshot(theirs) == before


def test_bulk_actions_skip_another_teams_ticket(desk, ours, theirs):
    before = snapshot(theirs)

    desk.post(
        reverse("desk:bulk"),
        {"tickets": [ours.pk, theirs.pk], "action": "tag", "tag": "peeked"},
    )

    assert snapshot(theirs) == before
    assert list(ours.tags.values_list("name", flat=True)) == ["peeked"]


# The API: the ticket itself and every verb nested under it.
API_ACTIONS = {
    "reply": {"body": "Let me check"},
    "note": {"body": "Peeking"},
    "assign": {"assignee": None},
    "solve": {},
    "reopen": {},
    "close": {},
}


@pytest.fixture
def api(restricted):
    client = Client()
    client.force_login(restricted)
    return client


def test_another_teams_ticket_is_not_found_over_the_api_like_a_missing_one(api, ours, theirs):
    found = api.get(f"/api/v1/tickets/{ours.pk}/")
    hidden = api.get(f"/api/v1/tickets/{theirs.pk}/")
    nothing = api.get(f"/api/v1/tickets/{missing_ticket_id()}/")

    assert found.status_code == 200
    assert hidden.status_code == nothing.status_code == 404
    assert hidden.json() == nothing.json()
    assert THEIRS_SUBJECT not in hidden.text


@pytest.mark.parametrize("verb", sorted(API_ACTIONS))
def test_another_teams_ticket_cannot_be_acted_on_over_the_api(api, theirs, verb):
    before = snapshot(theirs)

    response = api.post(
        f"/api/v1/tickets/{theirs.pk}/{verb}/", API_ACTIONS[verb], content_type="application/json"
    )
    nothing = api.post(
        f"/api/v1/tickets/{missing_ticket_id()}/{verb}/",
        API_ACTIONS[verb],
        content_type="application/json",
    )

    assert response.status_code == nothing.status_code == 404
    assert response.json() == nothing.json()
    assert snapshot(theirs) == before


def test_another_teams_ticket_is_not_in_the_api_list_or_its_search(api, ours, theirs):
    listed = api.get("/api/v1/tickets/").json()["results"]
    by_customer = api.get("/api/v1/tickets/", {"customer": theirs.customer_id}).json()["results"]
    by_subject = api.get("/api/v1/tickets/", {"search": "Shipping"}).json()["results"]
    by_reference = api.get("/api/v1/tickets/", {"search": theirs.reference}).json()["results"]

    assert [ticket["id"] for ticket in listed] == [ours.pk]
    assert [ticket["id"] for ticket in by_customer] == [ours.pk]
    assert by_subject == by_reference == []


QUEUE_SEARCHES = [
    {"view": "all"},
    {"view": "all", "status": ["open"]},
    {"view": "all", "q": "Shipping"},
    {"view": "all", "q": "Carmen"},  # the customer's name
]


@pytest.mark.parametrize(
    "query",
    QUEUE_SEARCHES,
    ids=lambda query: "&".join(f"{key}={value}" for key, value in query.items()),
)
def test_another_teams_ticket_is_not_in_any_queue_view_or_search(desk, ours, theirs, query):
    page = desk.get(reverse("desk:queue"), query)

    assert page.status_code == 200
    assert THEIRS_SUBJECT not in page.text
    assert theirs.reference not in page.text


def test_searching_the_queue_for_another_teams_reference_finds_nothing(desk, ours, theirs):
    page = desk.get(reverse("desk:queue"), {"view": "all", "q": theirs.reference})

    assert page.status_code == 200
    assert THEIRS_SUBJECT not in page.text
    assert OURS_SUBJECT not in page.text  # a reference finds that ticket or nothing


def test_filtering_the_queue_by_the_other_team_shows_none_of_its_tickets(desk, ours, theirs):
    page = desk.get(reverse("desk:queue"), {"view": "all", "team": theirs.team_id})

    assert THEIRS_SUBJECT not in page.text


def test_the_customer_profile_lists_only_the_tickets_the_agent_may_see(desk, ours, theirs):
    page = desk.get(reverse("customers:detail", args=[theirs.customer_id]))

    assert page.status_code == 200
    assert OURS_SUBJECT in page.text
    assert THEIRS_SUBJECT not in page.text
    assert theirs.reference not in page.text
    assert reverse("desk:ticket_detail", args=[theirs.pk]) not in page.text


def test_the_ticket_sidebar_lists_only_the_customers_tickets_the_agent_may_see(desk, ours, theirs):
    page = desk.get(reverse("desk:ticket_detail", args=[ours.pk]))

    assert THEIRS_SUBJECT not in page.text
    assert theirs.reference not in page.text


def _answer_about(ticket: Ticket, comment: str) -> Response:
    survey = make_survey()
    response = Response.objects.create(
        survey=survey, customer=ticket.customer, ticket=ticket, team=ticket.team
    )
    Answer.objects.create(
        response=response,
        question=survey.questions.get(),
        question_type=Question.Type.NPS,
        score=3,
        text=comment,
    )
    return response


def test_answers_about_another_teams_ticket_are_not_shown_to_a_restricted_agent(
    desk, api, ours, theirs
):
    _answer_about(ours, "Our invoice was wrong")
    _answer_about(theirs, "The parcel never came")

    for page in (
        desk.get(reverse("customers:detail", args=[ours.customer_id])),
        desk.get(reverse("desk:ticket_detail", args=[ours.pk])),
        api.get("/api/v1/responses/"),
        api.get("/api/v1/responses/export.csv"),
        api.get(f"/api/v1/invitations/?ticket={theirs.pk}"),
    ):
        text = page.getvalue().decode() if page.streaming else page.text
        assert page.status_code == 200
        assert "The parcel never came" not in text
        assert theirs.reference not in text
    assert (
        "Our invoice was wrong"
        in desk.get(reverse("customers:detail", args=[ours.customer_id])).text
    )
    assert "Our invoice was wrong" in api.get("/api/v1/responses/").text


# --- Survey tokens ------------------------------------------------------------------------


def make_survey() -> Survey:
    survey = Survey.objects.create(name=f"Survey {Survey.objects.count() + 1}", is_active=True)
    Question.objects.create(
        survey=survey,
        position=0,
        type=Question.Type.NPS,
        text_en="Would you recommend us?",
        text_es="¿Nos recomendarías?",
    )
    return survey


def invitation_for(
    subject: str,
    *,
    status: str = Invitation.Status.SENT,
    expires_in: timedelta = timedelta(days=14),
    survey: Survey | None = None,
) -> Invitation:
    customer = CustomerFactory()
    ticket = ticket_services.ticket_create(customer=customer, subject=subject)
    now = timezone.now()
    return Invitation.objects.create(
        survey=survey or make_survey(),
        customer=customer,
        ticket=ticket,
        status=status,
        skip_reason="fatigue" if status == Invitation.Status.SKIPPED else "",
        language="en",
        send_after=now - timedelta(hours=2),
        sent_at=now - timedelta(hours=1) if status == Invitation.Status.SENT else None,
        expires_at=now + expires_in,
    )


def question_of(invitation: Invitation) -> Question:
    return invitation.survey.questions.get()


@pytest.fixture
def mine():
    return invitation_for("My broken router")


@pytest.fixture
def someone_elses():
    return invitation_for("Their cancelled order")


def test_a_token_opens_its_own_invitation_and_shows_nothing_of_another(mine, someone_elses):
    page = Client().get(reverse("surveys:answer", args=[mine.token]), {"score": "9"})

    assert page.status_code == 200
    assert "My broken router" in page.text
    assert "Their cancelled order" not in page.text
    assert someone_elses.token not in page.text


def test_answers_posted_with_a_token_are_stored_for_that_invitation_only(mine, someone_elses):
    """Another invitation's id, token or question in the form changes nothing of it."""
    data = {
        f"q{question_of(mine).pk}": "9",
        f"q{question_of(someone_elses).pk}": "0",
        "invitation": someone_elses.pk,
        "token": someone_elses.token,
    }

    response = Client().post(reverse("surveys:answer", args=[mine.token]), data)

    assert response.status_code == 302
    stored = Response.objects.get()
    assert stored.invitation == mine
    assert [answer.score for answer in stored.answers.all()] == [9]
    assert not Response.objects.filter(invitation=someone_elses).exists()


def test_a_one_click_score_records_nothing_for_any_invitation(mine, someone_elses):
    for token in (mine.token, someone_elses.token):
        Client().get(reverse("surveys:answer", args=[token]), {"score": "0", "invitation": mine.pk})

    assert not Response.objects.exists()


def test_unsubscribing_with_a_token_unsubscribes_only_its_own_customer(mine, someone_elses):
    client = Client()
    client.post(
        reverse("surveys:unsubscribe", args=[mine.token]),
        {"invitation": someone_elses.pk, "token": someone_elses.token},
    )
    client.post(
        reverse("surveys:unsubscribe", args=[mine.token]),
        {"List-Unsubscribe": "One-Click", "token": someone_elses.token},
    )

    mine.customer.refresh_from_db()
    someone_elses.customer.refresh_from_db()
    assert mine.customer.survey_opt_out
    assert not someone_elses.customer.survey_opt_out


def test_tokens_are_256_random_bits_from_the_secrets_module(monkeypatch):
    drawn = []

    def token_urlsafe(nbytes):
        drawn.append(nbytes)
        return "drawn-from-secrets"

    monkeypatch.setattr(survey_models.secrets, "token_urlsafe", token_urlsafe)
    invitation = Invitation.objects.create(survey=make_survey(), customer=CustomerFactory())

    assert invitation.token == "drawn-from-secrets"
    assert drawn == [32]


def test_every_invitation_gets_a_long_url_safe_token_unrelated_to_the_others():
    survey = make_survey()
    invitations = [
        Invitation.objects.create(survey=survey, customer=CustomerFactory()) for _ in range(20)
    ]
    tokens = [invitation.token for invitation in invitations]

    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert len(token) >= 43
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # Tokens made one after another share no beginning: nothing in them counts up.
    prefixes = {token[:6] for token in tokens}
    assert len(prefixes) == len(tokens)


def altered(token: str) -> str:
    """The token with its last character changed: what a guess close to a real one is."""
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


def public_answer(client: Client, method: str, path: str, token: str) -> tuple:
    """What a visitor can observe, with the token itself blanked from the page."""
    url = reverse(path, args=[token])
    response = client.post(url) if method == "POST" else client.get(url)
    headers = {
        name: response.get(name)
        for name in ("Content-Type", "Content-Language", "X-Robots-Tag", "Cache-Control")
    }
    body = response.content.decode().replace(token, "TOKEN")
    return response.status_code, headers, sorted(response.cookies), body


NEVER_SENT = [
    Invitation.Status.SCHEDULED,
    Invitation.Status.SENDING,
    Invitation.Status.FAILED,
    Invitation.Status.CANCELLED,
    Invitation.Status.SKIPPED,
]


@pytest.mark.parametrize("status", NEVER_SENT)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "surveys:answer"), ("POST", "surveys:answer"), ("GET", "surveys:thanks")],
)
def test_a_token_never_sent_answers_exactly_like_one_that_does_not_exist(status, method, path):
    real = invitation_for("Hidden", status=status).token
    unknown = secrets.token_urlsafe(32)

    seen = public_answer(Client(), method, path, real)

    assert seen[0] == 404
    assert seen == public_answer(Client(), method, path, unknown)


@pytest.mark.parametrize("expires_in", [timedelta(days=14), -timedelta(days=1)])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "surveys:answer"),
        ("POST", "surveys:answer"),
        ("GET", "surveys:thanks"),
        ("GET", "surveys:unsubscribe"),
        ("POST", "surveys:unsubscribe"),
    ],
)
def test_an_altered_token_answers_exactly_like_one_that_does_not_exist(expires_in, method, path):
    """One character off a real token, open or expired, is as unknown as any other."""
    real = invitation_for("Near miss", expires_in=expires_in)
    unknown = secrets.token_urlsafe(32)

    seen = public_answer(Client(), method, path, altered(real.token))

    assert seen[0] == 404
    assert seen == public_answer(Client(), method, path, unknown)
    real.customer.refresh_from_db()
    assert not real.customer.survey_opt_out
    assert not Response.objects.exists()


@pytest.mark.parametrize("token", ["", "short", "a" * 65, "%27%3B--", "../../admin"])
def test_malformed_tokens_are_not_found(client, token):
    response = client.get(f"/s/{token}/")

    assert response.status_code == 404
    assert "Traceback" not in response.text


# --- Rate limits on the public pages ------------------------------------------------------


def test_answers_to_one_invitation_are_rate_limited_and_the_refused_ones_not_stored(mine):
    limit, _window = throttle._limits()["token"]
    client = Client()
    url = reverse("surveys:answer", args=[mine.token])
    field = f"q{question_of(mine).pk}"
    for _attempt in range(limit):
        assert client.post(url, {field: "9"}).status_code == 302

    refused = client.post(url, {field: "0"})

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert [answer.score for answer in Response.objects.get(invitation=mine).answers.all()] == [9]


def test_one_address_posting_to_many_invitations_is_rate_limited():
    ip_limit, _window = throttle._limits()["ip"]
    token_limit, _window = throttle._limits()["token"]
    per_token = max(1, min(token_limit, 5))
    survey = make_survey()
    client = Client()
    statuses = []
    for number in range(ip_limit // per_token + 1):
        invitation = invitation_for(f"Ticket {number}", survey=survey)
        url = reverse("surveys:answer", args=[invitation.token])
        statuses += [client.post(url).status_code for _attempt in range(per_token)]

    assert 429 not in statuses[:ip_limit]
    assert statuses[ip_limit:] and set(statuses[ip_limit:]) == {429}


def test_unsubscribing_is_rate_limited_per_invitation(mine):
    limit, _window = throttle._limits()["token"]
    url = reverse("surveys:unsubscribe", args=[mine.token])
    statuses = [
        Client(REMOTE_ADDR=f"198.51.100.{n}")
        .post(url, {"List-Unsubscribe": "One-Click"})
        .status_code
        for n in range(limit + 1)
    ]

    assert 429 not in statuses[:limit]
    assert statuses[limit] == 429
