"""What the customer finds in the survey email: the first question inline with one
link per answer, their language, the company's name, a way out, and headers nobody
can inject into."""

import email
import email.policy
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from surveys import services
from surveys.models import Invitation, Question, Survey
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

BASE = "https://cx.example.com"


@pytest.fixture(autouse=True)
def _public_address(settings):
    settings.CXM_BASE_URL = BASE
    settings.CXM_COMPANY_NAME = "Tiendas Sol"


def invitation_for(
    question_type: str,
    *,
    language: str = "en",
    name: str = "Ana Martín",
    scale: tuple[int, int] | None = None,
    reversed_scale: bool = False,
    ticket_subject: str = "Invoice download fails",
) -> Invitation:
    survey = Survey.objects.create(name=f"Survey {Survey.objects.count() + 1}", is_active=True)
    Question.objects.create(
        survey=survey,
        type=question_type,
        text_en="How was it?",
        text_es="¿Qué tal fue?",
        scale_min=scale[0] if scale else None,
        scale_max=scale[1] if scale else None,
        reversed=reversed_scale,
    )
    customer = CustomerFactory(name=name, language=language, email="ana@example.com")
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=TicketFactory(customer=customer, subject=ticket_subject),
        language=language,
        expires_at=timezone.now() + timedelta(days=14),
    )


def html_of(message) -> str:
    return next(body for body, mimetype in message.alternatives if mimetype == "text/html")


def score_links(text: str, token: str) -> list[int]:
    return [int(score) for score in re.findall(rf"{BASE}/s/{token}/\?score=(-?\d+)", text)]


@pytest.mark.parametrize(
    ("question_type", "scores"),
    [
        (Question.Type.NPS, list(range(0, 11))),
        (Question.Type.CSAT, list(range(1, 6))),
        (Question.Type.CES, list(range(1, 8))),
    ],
)
def test_the_email_has_one_link_per_score_in_html_and_text(question_type, scores):
    invitation = invitation_for(question_type)

    message = services.invitation_email(invitation)

    assert score_links(message.body, invitation.token) == scores
    assert score_links(html_of(message), invitation.token) == scores


def test_a_custom_reversed_effort_scale_links_every_score_and_names_its_ends():
    invitation = invitation_for(Question.Type.CES, scale=(1, 10), reversed_scale=True)

    message = services.invitation_email(invitation)

    assert score_links(html_of(message), invitation.token) == list(range(1, 11))
    assert "1 = very easy · 10 = very difficult" in message.body


def test_nps_scores_are_explained_at_both_ends():
    message = services.invitation_email(invitation_for(Question.Type.NPS))

    assert "0 = not at all likely · 10 = extremely likely" in message.body
    assert "0 = not at all likely · 10 = extremely likely" in html_of(message)


def test_a_yes_no_question_offers_yes_and_no_links():
    invitation = invitation_for(Question.Type.YES_NO)

    html = html_of(services.invitation_email(invitation))

    assert re.search(rf'href="{BASE}/s/{invitation.token}/\?score=1"[^>]*>Yes</a>', html)
    assert re.search(rf'href="{BASE}/s/{invitation.token}/\?score=0"[^>]*>No</a>', html)


def test_a_survey_starting_with_free_text_links_to_the_page():
    invitation = invitation_for(Question.Type.TEXT)

    message = services.invitation_email(invitation)

    assert score_links(message.body, invitation.token) == []
    assert f'href="{BASE}/s/{invitation.token}/"' in html_of(message)


def test_the_email_speaks_the_customer_language():
    invitation = invitation_for(Question.Type.CSAT, language="es")

    message = services.invitation_email(invitation)

    assert "¿Qué tal fue?" in message.body
    assert "How was it?" not in message.body
    assert '<html lang="es">' in html_of(message)


def test_the_email_names_the_company_and_the_ticket():
    invitation = invitation_for(Question.Type.CSAT)
    reference = invitation.ticket.reference

    message = services.invitation_email(invitation)

    assert "Tiendas Sol" in message.subject
    assert reference in message.subject
    for body in (message.body, html_of(message)):
        assert "Tiendas Sol" in body
        assert "Invoice download fails" in body
        assert "Hello Ana," in body


def test_the_email_has_a_visible_unsubscribe_link_and_the_one_click_headers():
    invitation = invitation_for(Question.Type.NPS)
    unsubscribe = f"{BASE}/s/{invitation.token}/unsubscribe/"

    message = services.invitation_email(invitation)
    headers = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)

    assert unsubscribe in message.body
    assert f'href="{unsubscribe}"' in html_of(message)
    assert headers["List-Unsubscribe"].strip() == f"<{unsubscribe}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_reminder_says_it_is_one():
    invitation = invitation_for(Question.Type.CSAT)

    message = services.invitation_email(invitation, reminder=True)

    assert message.subject.startswith("Reminder")
    assert "A few days ago we asked for your opinion" in message.body


def test_a_name_with_line_breaks_cannot_add_headers(settings):
    settings.CXM_COMPANY_NAME = "Sol\r\nBcc: spy@example.com"
    invitation = invitation_for(Question.Type.CSAT, name="Ana\r\nBcc: evil@example.com\r\n")

    raw = services.invitation_email(invitation).message().as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert parsed["Bcc"] is None
    assert parsed.get_all("To") == ['"Ana Bcc: evil@example.com" <ana@example.com>']
    assert "\n" not in str(parsed["Subject"])
    header_block = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in header_block


def test_html_in_a_ticket_subject_is_shown_as_text():
    invitation = invitation_for(Question.Type.CSAT, ticket_subject='<img src=x onerror="x()">')

    html = html_of(services.invitation_email(invitation))

    assert "<img src=x" not in html
    assert "&lt;img src=x" in html
