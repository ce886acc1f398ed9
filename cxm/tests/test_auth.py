from django.urls import reverse

from accounts.tests.factories import agent


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_is_public_and_translated(client, db):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200
    assert "Iniciar sesión" in response.content.decode()


def test_staff_log_in_with_their_password(client, db):
    agent(username="maria", password="a-long-passphrase")
    response = client.post(reverse("login"), {"username": "maria", "password": "a-long-passphrase"})
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user.username == "maria"


def test_a_wrong_password_shows_an_error_and_logs_nobody_in(client, db):
    agent(username="maria", password="a-long-passphrase")
    response = client.post(reverse("login"), {"username": "maria", "password": "wrong"})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert "correct username and password" in response.content.decode()


def test_the_language_switch_changes_the_interface_language(client, db):
    response = client.post(reverse("set_language"), {"language": "es", "next": "/login/"})
    assert response.status_code == 302
    assert "Iniciar sesión" in client.get(reverse("login")).content.decode()
