"""The OpenAPI description integrators read: valid, warning-free, and browsable offline."""

import re
from io import StringIO

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client


def test_the_openapi_schema_generates_and_validates_without_warnings(tmp_path):
    schema_file = tmp_path / "schema.yml"

    # --fail-on-warn turns any warning (an unresolved type, a name collision) into an error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file), stderr=StringIO()
    )

    schema = yaml.safe_load(schema_file.read_text())
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/auth/token/",
        "/api/v1/customers/",
        "/api/v1/customers/{customer_id}/",
        "/api/v1/purchases/",
        "/api/v1/purchases/{purchase_id}/",
        "/api/v1/events/",
        "/api/v1/events/{event_id}/",
        "/api/v1/tickets/",
        "/api/v1/tickets/{ticket_id}/",
        "/api/v1/tickets/{ticket_id}/reply/",
        "/api/v1/tickets/{ticket_id}/note/",
        "/api/v1/tickets/{ticket_id}/assign/",
        "/api/v1/tickets/{ticket_id}/solve/",
        "/api/v1/tickets/{ticket_id}/reopen/",
        "/api/v1/tickets/{ticket_id}/close/",
    } <= set(schema["paths"])


def test_the_schema_documents_no_delete_and_token_auth():
    schema_text = StringIO()
    call_command("spectacular", stdout=schema_text, stderr=StringIO())
    schema = yaml.safe_load(schema_text.getvalue())

    methods = {
        method for path in schema["paths"].values() for method in path if method != "parameters"
    }
    assert "delete" not in methods
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


@pytest.mark.django_db
def test_the_schema_is_served_as_openapi_3():
    response = Client().get("/api/schema/")

    assert response.status_code == 200
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")


@pytest.mark.django_db
def test_the_api_docs_render_from_local_static_files_only():
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # The start-up code, a file of its own (no inline script: CSP), loads the schema.
    assert '<script src="/api/docs/?script="></script>' in html
    assert "/api/schema/" in Client().get("/api/docs/?script=").content.decode()
    # Nothing is fetched from another host: the docs work without internet.
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", html)
    # (Not a bare "cdn" substring check: a random CSRF token can contain those letters.)
    assert not re.search(r"""["'][^"']*\bcdn[./][^"']*["']""", html, re.IGNORECASE)
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}")


def test_every_operation_documents_the_errors_it_can_answer():
    schema_text = StringIO()
    call_command("spectacular", stdout=schema_text, stderr=StringIO())
    schema = yaml.safe_load(schema_text.getvalue())

    def statuses(path: str, method: str) -> set[str]:
        return set(schema["paths"][path][method]["responses"])

    # Anyone may ask for a token, but not too often.
    assert statuses("/api/v1/auth/token/", "post") == {"200", "400", "429"}
    # A list has filters (400) and pages (404 past the end); every operation but the
    # token's needs credentials (401) and a role that allows it (403).
    assert statuses("/api/v1/tickets/", "get") == {"200", "400", "401", "403", "404"}
    assert statuses("/api/v1/tickets/{ticket_id}/", "get") == {"200", "401", "403", "404"}
    assert statuses("/api/v1/tickets/{ticket_id}/close/", "post") == {
        "200",
        "400",
        "401",
        "403",
        "404",
    }
    assert statuses("/api/v1/kpis/", "get") == {"200", "400", "401", "403"}
    refused = schema["paths"]["/api/v1/customers/"]["post"]["responses"]["400"]
    assert refused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "detail" in schema["components"]["schemas"]["Error"]["properties"]
