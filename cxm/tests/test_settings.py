"""Production settings, loaded the way a server loads them: in a fresh process."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3J9v-xQ2pL7mW4zR8tY1nB6cF0hD5sG-aE3uI9oP2lK7jH4vN8bT6yU1wE5rZ0qX"


def _run_production(command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run manage.py with production settings and exactly the variables given.

    Every variable the settings read is set explicitly (empty when not given), so neither
    the developer's shell nor a local .env file can change the outcome.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "DATABASE_URL"}
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "cxm.settings.production",
            "CXM_VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": "",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "cxm.example.com",
            "CELERY_BROKER_URL": "",
            "EMAIL_URL": "",
            "EMAIL_HOST": "",
        }
    )
    environment.update(env)
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "manage.py", *command],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deployment_checklist_with_sensible_values(tmp_path):
    result = _run_production(
        ["check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        SECRET_KEY=STRONG_KEY,
        CSRF_TRUSTED_ORIGINS="https://cxm.example.com",
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_deployment_checklist_still_catches_an_unsafe_choice(tmp_path):
    # The check above is only worth something if the checklist runs with our settings:
    # turning HTTPS redirection off must make it fail.
    result = _run_production(
        ["check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        SECRET_KEY=STRONG_KEY,
        SECURE_SSL_REDIRECT="false",
    )

    assert result.returncode != 0
    assert "security.W008" in result.stderr


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        pytest.param(
            {},
            "SECRET_KEY must be set to a random value of at least 50 characters",
            id="no-secret-key",
        ),
        pytest.param(
            {"SECRET_KEY": "too-short-secret"},
            "SECRET_KEY must be set to a random value of at least 50 characters",
            id="short-secret-key",
        ),
        pytest.param(
            {"SECRET_KEY": "a" * 64},
            "SECRET_KEY must be set to a random value of at least 50 characters",
            id="long-but-not-random-secret-key",
        ),
        pytest.param(
            {"SECRET_KEY": "insecure-local-development-key-not-for-production"},
            "SECRET_KEY must be set to a random value of at least 50 characters",
            id="the-local-development-key",
        ),
        pytest.param(
            {"SECRET_KEY": STRONG_KEY, "DEBUG": "true"},
            "DEBUG must be off in production",
            id="debug-on",
        ),
    ],
)
def test_production_settings_refuse_to_start_with_an_insecure_configuration(
    tmp_path, environment, message
):
    result = _run_production(["check"], tmp_path, **environment)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def _variables_read_by_settings() -> set[str]:
    reads = re.compile(
        r"\.(?:str|bool|int|float|list|dict|json|db|db_url|email_url|url|path)\(\s*\"([A-Z][A-Z0-9_]*)\""
    )
    return {
        name
        for module in (REPO / "cxm" / "settings").glob("*.py")
        for name in reads.findall(module.read_text())
    }


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_environment_variable_the_settings_read_is_documented(document):
    variables = _variables_read_by_settings()
    text = (REPO / document).read_text()

    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "CXM_VAR_DIR"} <= variables
    assert sorted(name for name in variables if name not in text) == []
