"""The Content-Security-Policy header, and the pages that make it possible: every page
we render carries the policy and holds no inline script and no on* handler attribute,
so the policy forbids both without breaking anything. (tests/e2e/test_csp.py proves it
in Chromium, charts included.)"""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from cxm.lib.csp import HEADER, policy_for
from surveys.models import Invitation
from tickets.services.email import reply_email_build

from .hostile import PASSWORD, build_world, hostile_pages, live_markup

# Routes that draw no page of their own: POST-only actions (they redirect), JSON, or a
# redirect to a page. A new route must be added to pages() or here, with its reason.
NOT_PAGES = {
    "home": "redirects to the queue",
    "healthz": "JSON",
    "logout": "POST only",
    "set_language": "POST only",
    "desk:bulk": "POST only",
    "desk:availability": "POST only",
    "desk:notifications_read": "POST only",
    "desk:ticket_reply": "POST only",
    "desk:ticket_note": "POST only",
    "desk:ticket_properties": "POST only",
    "desk:ticket_solve": "POST only",
    "desk:ticket_reopen": "POST only",
    "desk:ticket_close": "POST only",
    "desk:message_retry": "POST only",
    "desk:canned_delete": "POST only",
    "survey_builder:question_move": "POST only",
    "survey_builder:question_delete": "POST only",
    "survey_builder:send_test": "POST only",
    "survey_builder:campaign_run": "POST only",
}
# Served by Django or a package, not from our templates (tests/e2e checks them live).
THIRD_PARTY_PREFIXES = ("admin/", "api/")


@pytest.fixture
def world(db, settings, tmp_path):
    """The hostile world, with one email kept in the outbox so its page can be shown."""
    settings.EMAIL_BACKEND = "cxm.lib.mail.OutboxBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    world = build_world()
    reply_email_build(world.reply).send()
    [world.outbox_key] = [path.stem for path in tmp_path.glob("*.eml")]
    return world


def client_for(world, username: str | None) -> Client:
    client = Client()
    if username is not None:
        client.force_login(world.admin if username == "root" else world.agent)
    return client


def pages(world) -> list[tuple[str, str | None, int]]:
    """(path, user, expected status): the hostile world's pages and the rest, forms and
    error pages included."""
    survey = world.survey
    shown = [(page.path, page.user, 200) for page in hostile_pages(world)]
    return [
        *shown,
        ("/login/", None, 200),
        ("/desk/tickets/new/", "ana", 200),
        ("/desk/canned/new/", "ana", 200),
        ("/customers/new/", "ana", 200),
        ("/analytics/glossary/", "root", 200),
        ("/surveys/builder/new/", "root", 200),
        (f"/surveys/builder/{survey.pk}/questions/new/", "root", 200),
        ("/desk/outbox/", "root", 200),
        (f"/desk/outbox/{world.outbox_key}/", "root", 200),
        ("/desk/tickets/999999/", "ana", 404),
        ("/analytics/", "ana", 403),
        ("/s/" + "x" * 43 + "/", None, 404),
    ]


def assert_no_inline_code(response, where: str) -> None:
    assert response[HEADER] == policy_for(urlsplit(where).path), where
    assert live_markup(response.content.decode()) == [], where


def test_every_page_carries_the_policy_and_no_inline_script_or_handler(world):
    for path, user, status in pages(world):
        response = client_for(world, user).get(path)
        assert response.status_code == status, path
        assert_no_inline_code(response, path)


def test_the_public_survey_pages_in_every_state_have_no_inline_code(world, settings):
    client = Client()
    token = world.invitation.token
    settings.CXM_SURVEY_RATE_LIMITS = {"ip": (1, 600), "token": (1, 600)}
    question = world.survey.questions.first()
    client.post(f"/s/{token}/", {f"q{question.pk}": "9"})
    too_many = client.post(f"/s/{token}/", {f"q{question.pk}": "9"})
    assert too_many.status_code == 429
    assert_no_inline_code(too_many, f"/s/{token}/")

    Invitation.objects.filter(pk=world.invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    closed = client.get(f"/s/{token}/")
    assert "This survey has closed" in closed.content.decode()
    assert_no_inline_code(closed, f"/s/{token}/")


def test_the_locked_out_page_has_no_inline_code(world):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _attempt in range(5):
        client.post("/login/", {"username": "ana", "password": "wrong"})

    locked = client.post("/login/", {"username": "ana", "password": PASSWORD})

    assert locked.status_code == 429
    assert_no_inline_code(locked, "/login/")


def routes(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), ":".join(filter(None, [namespace, pattern.name]))


def test_every_route_that_draws_a_page_is_in_the_list_above(world):
    """A new page fails this test until pages() renders it (or NOT_PAGES says why not)."""
    ours = {
        name
        for route, name in routes(get_resolver().url_patterns)
        if not route.startswith(THIRD_PARTY_PREFIXES)
    }
    rendered = {resolve(urlsplit(path).path).view_name for path, _user, _status in pages(world)}

    assert ours - rendered - set(NOT_PAGES) == set()
    assert set(NOT_PAGES) <= ours  # no stale entry
    assert not rendered & set(NOT_PAGES)


def test_the_policy_forbids_inline_script_and_style_plugins_framing_and_foreign_sources(world):
    response = client_for(world, "ana").get("/desk/")

    assert response[HEADER] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    )


def directives_of(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response[HEADER].split(";") if part.strip())


def test_the_chart_pages_allow_plotlys_two_style_elements_by_hash_only(world):
    directives = directives_of(client_for(world, "root").get("/analytics/trends/"))

    sources = directives["style-src"].split()
    assert sources[0] == "'self'"
    assert len(sources) == 3 and all(source.startswith("'sha256-") for source in sources[1:])
    assert directives["script-src"] == "'self'"
    assert directives["style-src-attr"] == "'unsafe-inline'"  # a chart's height


@pytest.mark.parametrize("page", ["outbox", "builder preview"])
def test_pages_that_show_an_email_allow_its_style_attributes_and_nothing_more(world, page):
    path = {
        "outbox": f"/desk/outbox/{world.outbox_key}/",
        "builder preview": f"/surveys/builder/{world.survey.pk}/preview/en/email/",
    }[page]
    directives = directives_of(client_for(world, "root").get(path))

    assert directives["style-src-attr"] == "'unsafe-inline'"
    assert directives["style-src"] == "'self'"
    assert directives["script-src"] == "'self'"


def test_json_answers_and_redirects_carry_the_policy_too(world):
    assert HEADER in Client().get("/healthz/")
    assert HEADER in client_for(world, "ana").get("/")
    assert HEADER in client_for(world, "ana").get("/api/v1/customers/")


def test_the_api_docs_load_their_start_up_code_from_a_file_and_only_they_allow_inline_style(
    world,
):
    client = client_for(world, "root")
    docs = client.get("/api/docs/")

    assert docs.status_code == 200
    assert live_markup(docs.content.decode()) == []
    assert "style-src 'self' 'unsafe-inline'" in docs[HEADER]
    assert "script-src 'self';" in docs[HEADER]
    scripts = [tag["src"] for tag in BeautifulSoup(docs.content, "html.parser").find_all("script")]
    start_up = next(src for src in scripts if "script" in urlsplit(src).query)
    code = client.get(start_up)
    assert code.status_code == 200
    assert code["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in code.content
    assert directives_of(client.get("/api/schema/"))["style-src"] == "'self'"
