"""A database where every text a customer, an agent or an admin can write carries an
attack, and the pages that show each of them. Shared by the XSS and CSP tests.

Each payload is labelled, so a test can tell that a page really showed the field (a
page that shows nothing is not proof of escaping): escaped, the payload reads back as
the very same text; unescaped, the parser would have made tags of it.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from bs4 import BeautifulSoup
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory, agent
from customers.models import Customer, CustomerEvent
from customers.services import customer_event_create
from surveys.models import Invitation, Question, Response, Survey
from surveys.services.responses import AnswerInput, response_record
from tickets.models import CannedReply, Message, Team, Ticket
from tickets.services.canned import canned_reply_save
from tickets.services.lifecycle import (
    ticket_add_note,
    ticket_create,
    ticket_reply,
    ticket_solve,
)
from tickets.tests.factories import TeamFactory

PASSWORD = "a-long-passphrase"


def payload(label: str) -> str:
    """A script, an attribute break-out, a textarea break-out and template syntax: under
    100 characters (a team's name) for labels up to 19."""
    return (
        f"<script>alert('{label}')</script>\"><img src=x onerror=alert(1)></textarea>{{{{ 7*7 }}}}"
    )


def short_payload(label: str) -> str:
    """For 60-character fields (category, segment)."""
    return f"\"><img src=x onerror=alert('{label}')>"


JAVASCRIPT_LINK = "javascript:alert(document.cookie)"
# A valid address (a quoted local part may hold < > ( ) ' = /), so it can be emailed too.
HOSTILE_EMAIL = "\"<script>alert('email')</script><img/src=x/onerror=alert(1)>\"@example.com"


@dataclass
class HostileWorld:
    admin: User
    agent: User
    team: Team
    customer: Customer
    ticket: Ticket
    reply: Message
    note: Message
    canned: CannedReply
    survey: Survey
    text_question: Question
    invitation: Invitation
    response: Response
    texts: dict[str, str] = field(default_factory=dict)
    outbox_key: str = ""


def build_world() -> HostileWorld:
    texts = {
        "agent": payload("agent"),
        "team": payload("team"),
        "customer": payload("customer"),
        "segment": short_payload("segment"),
        "category": short_payload("category"),
        "subject": payload("subject"),
        "first_message": payload("first message"),
        "reply": f"{JAVASCRIPT_LINK}\n{payload('reply')}",
        "note": payload("note"),
        "event": payload("event note"),
        "canned_title": payload("canned title"),
        "canned_body": payload("canned body")
        + " {{ customer.first_name }} {{ ticket.subject }} {{ agent.first_name }}",
        "survey": payload("survey"),
        "question": payload("question"),
        "text_question": payload("text question"),
        "comment": f"{JAVASCRIPT_LINK}\n{payload('comment')}",
        # Never stored: sent in query strings, for pages that echo them.
        "query": payload("query"),
    }
    admin = UserFactory(
        username="root", password=PASSWORD, is_staff=True, is_superuser=True, first_name="Root"
    )
    desk_agent = agent(username="ana", password=PASSWORD, first_name=texts["agent"])
    team = TeamFactory(name=texts["team"], members=[desk_agent])
    customer = Customer.objects.create(
        external_id="HOSTILE-1",
        name=texts["customer"],
        email=HOSTILE_EMAIL,
        language="en",
        segment=texts["segment"],
        stage=Customer.Stage.CUSTOMER,
        became_customer_at=timezone.now() - timedelta(days=400),
    )
    customer.full_clean()  # the hostile address is a valid one
    customer_event_create(
        customer=customer,
        channel="web",
        kind=CustomerEvent.Kind.VISIT,
        note=texts["event"],
    )
    ticket = ticket_create(
        customer=customer,
        subject=texts["subject"],
        body=texts["first_message"],
        category=texts["category"],
        team=team,
        assignee=desk_agent,
    )
    reply = ticket_reply(ticket=ticket, author=desk_agent, body=texts["reply"])
    note = ticket_add_note(ticket=ticket, author=desk_agent, body=texts["note"])
    canned = canned_reply_save(
        actor=admin, title=texts["canned_title"], body=texts["canned_body"], shared=True
    )
    # Solved before the survey exists, so the invitation below is the only one.
    ticket_solve(ticket=ticket, actor=desk_agent)
    survey = Survey.objects.create(name=texts["survey"], is_active=True)
    Question.objects.create(
        survey=survey,
        position=0,
        type=Question.Type.NPS,
        text_en=texts["question"],
        text_es=texts["question"],
    )
    text_question = Question.objects.create(
        survey=survey,
        position=1,
        type=Question.Type.TEXT,
        required=False,
        text_en=texts["text_question"],
        text_es=texts["text_question"],
    )
    now = timezone.now()
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        status=Invitation.Status.SENT,
        language="en",
        send_after=now - timedelta(hours=1),
        sent_at=now - timedelta(hours=1),
        expires_at=now + timedelta(days=14),
    )
    nps = survey.questions.get(type=Question.Type.NPS)
    response = response_record(
        invitation=invitation,
        answers={
            nps.pk: AnswerInput(score=2),
            text_question.pk: AnswerInput(text=texts["comment"]),
        },
    )
    ticket.refresh_from_db()
    return HostileWorld(
        admin=admin,
        agent=desk_agent,
        team=team,
        customer=customer,
        ticket=ticket,
        reply=reply,
        note=note,
        canned=canned,
        survey=survey,
        text_question=text_question,
        invitation=invitation,
        response=response,
        texts=texts,
    )


@dataclass(frozen=True)
class Page:
    """A page to render: its path, who asks for it (None: nobody logged in), and which
    of the world's texts it must show."""

    path: str
    user: str | None
    shows: tuple[str, ...] = ()


def hostile_pages(world: HostileWorld) -> list[Page]:
    ticket, customer, survey = world.ticket, world.customer, world.survey
    token = world.invitation.token
    question = world.text_question
    query = world.texts["query"]
    everything_on_the_ticket = (
        "subject",
        "first_message",
        "reply",
        "note",
        "customer",
        "segment",
        "category",
        "team",
        "agent",
        "event",
        "canned_title",
        "question",
        "comment",
    )
    filters = ("team", "agent", "segment", "category")
    return [
        Page("/desk/", "ana", ("customer", "agent")),
        Page("/desk/?view=all", "root", ("subject", "customer", "team", "agent")),
        Page(f"/desk/?{urlencode({'view': 'all', 'q': query})}", "root", ("query",)),
        Page(f"/desk/tickets/{ticket.pk}/", "ana", everything_on_the_ticket),
        Page(f"/desk/tickets/{ticket.pk}/?canned={world.canned.pk}", "ana", ("canned_title",)),
        Page("/desk/notifications/", "ana", ("survey",)),
        Page("/desk/canned/", "ana", ("canned_title", "canned_body")),
        Page(f"/desk/canned/{world.canned.pk}/edit/", "root", ("canned_title", "canned_body")),
        Page("/customers/", "ana", ("customer", "segment")),
        Page(f"/customers/?{urlencode({'q': query})}", "ana", ("query",)),
        Page(
            f"/customers/{customer.pk}/",
            "ana",
            ("customer", "segment", "subject", "event", "question", "comment"),
        ),
        Page(f"/customers/{customer.pk}/edit/", "ana", ("customer", "segment")),
        Page("/analytics/", "root", filters),
        Page("/analytics/trends/", "root", filters),
        Page("/analytics/drivers/", "root", ("comment", "customer", *filters)),
        Page("/analytics/at-risk/", "root", ("customer", "segment")),
        Page("/analytics/drill/nps/", "root", ("customer", "comment", *filters)),
        Page("/analytics/drill/first_response_time/", "root", ("customer", "subject")),
        Page("/analytics/breakdowns/?by=team", "root", ("team",)),
        Page("/analytics/breakdowns/?by=agent", "root", ("agent",)),
        Page("/analytics/breakdowns/?by=category", "root", ("category",)),
        Page("/analytics/breakdowns/?by=segment", "root", ("segment",)),
        Page("/surveys/builder/", "root", ("survey",)),
        Page(f"/surveys/builder/{survey.pk}/", "root", ("survey", "question", "text_question")),
        Page(f"/surveys/builder/{survey.pk}/questions/{question.pk}/", "root", ("text_question",)),
        Page(
            f"/surveys/builder/{survey.pk}/preview/en/page/", "root", ("question", "text_question")
        ),
        Page(f"/surveys/builder/{survey.pk}/preview/en/email/", "root", ("survey",)),
        Page(f"/s/{token}/", None, ("subject", "question", "text_question", "comment")),
        Page(f"/s/{token}/?{urlencode({'score': query, 'lang': query})}", None, ("question",)),
        Page(f"/s/{token}/thanks/", None),
        Page(f"/s/{token}/unsubscribe/", None),
        Page(f"/login/?{urlencode({'next': query})}", None),
        Page("/admin/customers/customer/", "root", ("customer", "segment")),
        Page(f"/admin/customers/customer/{customer.pk}/change/", "root", ("customer", "segment")),
        Page("/admin/tickets/ticket/", "root", ("subject", "customer", "team", "category")),
        Page(
            f"/admin/tickets/ticket/{ticket.pk}/change/",
            "root",
            ("subject", "first_message", "reply", "note"),
        ),
        Page("/admin/surveys/response/", "root", ("customer", "subject", "survey")),
    ]


# --- What "inert" means ----------------------------------------------------------------

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "srcdoc", "data", "xlink:href")
DATA_SCRIPT_TYPES = ("application/json", "application/ld+json")


def live_markup(html: str) -> list[str]:
    """What in this HTML would run: inline scripts, on* handler attributes, javascript:
    URLs. External scripts (src) and json_script data blocks are fine."""
    soup = BeautifulSoup(html, "html.parser")
    found = []
    for script in soup.find_all("script"):
        if script.get("src"):
            continue
        if (script.get("type") or "").lower() in DATA_SCRIPT_TYPES:
            continue
        found.append(f"inline script: {str(script)[:120]}")
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            if name.lower().startswith("on"):
                found.append(f"<{element.name} {name}=…>")
            text = " ".join(value) if isinstance(value, list) else str(value)
            compact = "".join(text.split()).lower()
            if name.lower() in URL_ATTRIBUTES and compact.startswith("javascript:"):
                found.append(f"<{element.name} {name}={text[:60]!r}>")
    return found


def shown_texts(html: str) -> str:
    """Everything a reader could see or a form could hold, as plain text: the text
    nodes and the attribute values, unescaped, one per line."""
    soup = BeautifulSoup(html, "html.parser")
    parts = [soup.get_text("\n")]
    for element in soup.find_all(True):
        for value in element.attrs.values():
            parts.append(" ".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)
