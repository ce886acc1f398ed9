"""The canned replies pages: what each agent sees, writes, shares and may not touch."""

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from accounts.tests.factories import agent, manager
from tickets.models import CannedReply

pytestmark = pytest.mark.django_db

LIST = reverse("desk:canned_list")
NEW = reverse("desk:canned_new")


def edit_url(canned: CannedReply) -> str:
    return reverse("desk:canned_edit", args=[canned.pk])


def delete_url(canned: CannedReply) -> str:
    return reverse("desk:canned_delete", args=[canned.pk])


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


@pytest.fixture
def ana():
    return agent(username="ana")


@pytest.fixture
def bea():
    return agent(username="bea")


@pytest.fixture
def lead():
    return manager(username="lead")


def logged_in(client, user):
    client.force_login(user)
    return client


def test_the_list_shows_shared_replies_and_the_agents_own_with_the_placeholders_explained(
    client, ana, bea
):
    CannedReply.objects.create(title="Welcome", body="Hi {{ customer.first_name }}")
    CannedReply.objects.create(title="My sign-off", body="Cheers", owner=ana)
    CannedReply.objects.create(title="Bea's secret", body="Hidden", owner=bea)

    page = soup(logged_in(client, ana).get(LIST))

    titles = [title.get_text(strip=True) for title in page.select("article h2")]
    assert titles == ["My sign-off", "Welcome"]
    placeholders = [code.get_text() for code in page.select("#placeholders-heading ~ div code")]
    for expected in (
        "{{ customer.first_name }}",
        "{{ ticket.reference }}",
        "{{ agent.first_name }}",
    ):
        assert expected in placeholders


def test_an_agent_may_edit_only_their_own_replies_from_the_list(client, ana):
    shared = CannedReply.objects.create(title="Welcome", body="Hi")
    own = CannedReply.objects.create(title="Mine", body="Me", owner=ana)

    page = soup(logged_in(client, ana).get(LIST))

    assert page.select_one(f"a[href='{edit_url(own)}']") is not None
    assert page.select_one(f"a[href='{edit_url(shared)}']") is None
    assert page.select_one(f"form[action='{delete_url(shared)}']") is None


def test_an_agent_creates_a_personal_reply_and_is_not_offered_sharing(client, ana):
    desk = logged_in(client, ana)
    assert soup(desk.get(NEW)).select_one("input[name=shared]") is None

    response = desk.post(NEW, {"title": "Refund", "body": "Refunded {{ ticket.reference }}"})

    assert response.status_code == 302
    canned = CannedReply.objects.get()
    assert (canned.title, canned.owner) == ("Refund", ana)


def test_an_agent_cannot_share_a_reply_by_posting_the_field_anyway(client, ana):
    logged_in(client, ana).post(NEW, {"title": "Sneaky", "body": "x", "shared": "on"})

    assert CannedReply.objects.get().owner == ana


def test_a_manager_can_share_a_reply(client, lead):
    response = logged_in(client, lead).post(
        NEW, {"title": "Holidays", "body": "We are closed", "shared": "on"}
    )

    assert response.status_code == 302
    assert CannedReply.objects.get().owner is None


def test_an_agent_edits_their_own_reply(client, ana):
    own = CannedReply.objects.create(title="Mine", body="Old", owner=ana)

    logged_in(client, ana).post(edit_url(own), {"title": "Mine", "body": "New"})

    own.refresh_from_db()
    assert own.body == "New"


def test_an_agent_cannot_edit_a_shared_reply(client, ana):
    shared = CannedReply.objects.create(title="Welcome", body="Hi")

    response = logged_in(client, ana).post(edit_url(shared), {"title": "Mine now", "body": "x"})

    assert response.status_code == 200
    assert "Only managers and admins can change shared canned replies." in response.content.decode()
    shared.refresh_from_db()
    assert (shared.title, shared.owner) == ("Welcome", None)


def test_an_agent_cannot_see_edit_or_delete_another_agents_reply(client, ana, bea):
    theirs = CannedReply.objects.create(title="Bea's", body="x", owner=bea)
    desk = logged_in(client, ana)

    assert desk.get(edit_url(theirs)).status_code == 404
    assert desk.post(edit_url(theirs), {"title": "Stolen", "body": "y"}).status_code == 404
    assert desk.post(delete_url(theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Bea's"


def test_an_agent_cannot_delete_a_shared_reply(client, ana):
    shared = CannedReply.objects.create(title="Welcome", body="Hi")

    response = logged_in(client, ana).post(delete_url(shared), follow=True)

    assert "Only managers and admins can change shared canned replies." in response.content.decode()
    assert CannedReply.objects.filter(pk=shared.pk).exists()


def test_a_manager_edits_and_deletes_a_shared_reply(client, lead):
    shared = CannedReply.objects.create(title="Welcome", body="Hi")
    desk = logged_in(client, lead)

    form = soup(desk.get(edit_url(shared)))
    assert form.select_one("input[name=shared]").has_attr("checked")
    desk.post(edit_url(shared), {"title": "Welcome!", "body": "Hello", "shared": "on"})
    shared.refresh_from_db()
    assert (shared.title, shared.owner) == ("Welcome!", None)

    desk.post(delete_url(shared))
    assert not CannedReply.objects.exists()


def test_deleting_only_answers_post(client, ana):
    own = CannedReply.objects.create(title="Mine", body="x", owner=ana)

    assert logged_in(client, ana).get(delete_url(own)).status_code == 405
    assert CannedReply.objects.filter(pk=own.pk).exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(LIST)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
