"""Login throttling (django-axes): five wrong passwords for one username from one
address lock that pair out for 15 minutes, on the login page, the admin's login and the
API token endpoint; the right password does not get through meanwhile, and other users
and other addresses are not affected."""

from datetime import timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import admin, agent

PASSWORD = "the-right-passphrase"
LIMIT = 5


@pytest.fixture
def ana(db):
    return agent(username="ana", password=PASSWORD)


def client_at(address: str, **extra) -> Client:
    return Client(REMOTE_ADDR=address, **extra)


def log_in(client: Client, username: str, password: str, path: str = "/login/"):
    return client.post(path, {"username": username, "password": password})


def fail(client: Client, username: str, times: int, path: str = "/login/") -> None:
    for _attempt in range(times):
        response = log_in(client, username, "a-wrong-guess", path)
        assert not response.wsgi_request.user.is_authenticated


def logged_in(response) -> bool:
    return response.status_code == 302 and response.wsgi_request.user.is_authenticated


def test_four_wrong_passwords_still_let_the_right_one_in(ana):
    client = client_at("203.0.113.7")
    fail(client, "ana", LIMIT - 1)

    assert logged_in(log_in(client, "ana", PASSWORD))


def test_the_fifth_wrong_password_locks_the_account_out_with_a_friendly_page(ana):
    client = client_at("203.0.113.7")
    fail(client, "ana", LIMIT - 1)

    response = log_in(client, "ana", "a-wrong-guess")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) == 15 * 60
    page = BeautifulSoup(response.content, "html.parser")
    assert page.h1.get_text(strip=True) == "Too many attempts"
    text = page.select_one("[data-locked-out]").get_text(" ", strip=True)
    assert "Try again in 15 minutes." in text
    assert page.find("a", href="/login/")


def test_a_locked_out_account_is_refused_even_with_the_right_password(ana):
    client = client_at("203.0.113.7")
    fail(client, "ana", LIMIT)

    response = log_in(client, "ana", PASSWORD)

    assert response.status_code == 429
    assert not response.wsgi_request.user.is_authenticated
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_speaks_spanish_to_a_spanish_browser(ana):
    client = client_at("203.0.113.7", HTTP_ACCEPT_LANGUAGE="es")
    fail(client, "ana", LIMIT)

    response = log_in(client, "ana", PASSWORD)

    assert response.status_code == 429
    page = BeautifulSoup(response.content, "html.parser")
    assert page.html["lang"] == "es"
    assert page.h1.get_text(strip=True) == "Demasiados intentos"


def test_the_lockout_ends_after_the_fifteen_minute_cool_off(ana):
    client = client_at("203.0.113.7")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail(client, "ana", LIMIT)
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        # Still locked; and this try does not push the end of the lockout further away.
        assert log_in(client, "ana", PASSWORD).status_code == 429
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert logged_in(log_in(client, "ana", PASSWORD))


def test_a_successful_login_forgets_the_earlier_failures(ana):
    client = client_at("203.0.113.7")
    fail(client, "ana", LIMIT - 1)
    assert logged_in(log_in(client, "ana", PASSWORD))
    client.post("/logout/")

    fail(client, "ana", LIMIT - 1)  # would lock out had the first four been kept

    assert logged_in(log_in(client, "ana", PASSWORD))


def test_a_lockout_does_not_affect_other_users_from_the_same_address(ana):
    agent(username="bruno", password=PASSWORD)
    attacker = client_at("203.0.113.7")
    fail(attacker, "ana", LIMIT)

    assert logged_in(log_in(client_at("203.0.113.7"), "bruno", PASSWORD))


def test_a_lockout_does_not_affect_the_same_user_from_another_address(ana):
    fail(client_at("203.0.113.7"), "ana", LIMIT)

    assert logged_in(log_in(client_at("198.51.100.20"), "ana", PASSWORD))


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(ana, settings):
    settings.CXM_TRUSTED_PROXIES = 0
    for attempt in range(LIMIT):
        forged = client_at("203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}")
        log_in(forged, "ana", "a-wrong-guess")

    forged = client_at("203.0.113.7", HTTP_X_FORWARDED_FOR="10.0.0.99")
    assert log_in(forged, "ana", PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_lockout_follows_the_customer_address(ana, settings):
    """One proxy in front: every request connects from it, and the address it appends to
    X-Forwarded-For is the one counted, so one attacker does not lock out the office."""
    settings.CXM_TRUSTED_PROXIES = 1
    proxy = "10.0.0.1"
    attacker = client_at(proxy, HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.7")
    fail(attacker, "ana", LIMIT)
    assert log_in(attacker, "ana", PASSWORD).status_code == 429

    colleague = client_at(proxy, HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert logged_in(log_in(colleague, "ana", PASSWORD))


def test_the_admin_login_is_throttled_too(db):
    admin(username="root", password=PASSWORD)
    client = client_at("203.0.113.7")
    fail(client, "root", LIMIT, path="/admin/login/")

    response = log_in(client, "root", PASSWORD, path="/admin/login/")

    assert response.status_code == 429
    assert not response.wsgi_request.user.is_authenticated


def token(client: Client, username: str, password: str):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password})


def test_the_api_token_endpoint_locks_out_after_five_wrong_passwords(ana):
    client = client_at("203.0.113.7")
    for _attempt in range(LIMIT - 1):
        assert token(client, "ana", "a-wrong-guess").status_code == 400

    assert token(client, "ana", "a-wrong-guess").status_code == 429
    response = token(client, "ana", PASSWORD)

    assert response.status_code == 429
    assert "token" not in response.json()
    assert response.json()["detail"] == "Too many failed logins. Try again in 15 minutes."
    assert token(client_at("198.51.100.20"), "ana", PASSWORD).status_code == 200


def test_the_token_and_login_page_share_one_failure_count(ana):
    client = client_at("203.0.113.7")
    fail(client, "ana", LIMIT - 1)
    assert token(client, "ana", "a-wrong-guess").status_code == 429

    assert log_in(client, "ana", PASSWORD).status_code == 429


def test_the_token_endpoint_rate_limit_counts_the_connecting_address_not_a_forged_one(db):
    """Twenty tries a minute per address, whatever username: rotating usernames or
    X-Forwarded-For values does not buy more guesses (CXM_TRUSTED_PROXIES is 0)."""
    statuses = [
        token(
            client_at("203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.{n}.1"), f"user{n}", "guess"
        ).status_code
        for n in range(21)
    ]

    assert statuses[:20] == [400] * 20
    assert statuses[20] == 429
    assert token(client_at("198.51.100.20"), "user0", "guess").status_code == 400


def test_code_that_logs_in_without_a_request_is_not_counted_or_blocked(ana):
    """A shell, a command or a test client logs in with no request, so no address:
    django-axes is not asked, and the lockout of a web address does not reach it."""
    fail(client_at("203.0.113.7"), "ana", LIMIT)

    assert Client().login(username="ana", password=PASSWORD)
