"""Production settings pass Django's deployment checklist (`check --deploy`) with no
warning: HTTPS redirect, HSTS, secure and HTTP-only cookies, a strong SECRET_KEY, DEBUG
off. Run as an operator would, in a process of its own with production settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings


def deploy_check(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="cxm.settings.production",
        DEBUG="false",  # whatever a developer's .env says
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="cxm.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'cxm.sqlite3'}",
        CXM_VAR_DIR=str(tmp_path / "var"),
    )
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deployment_checklist_without_a_warning(tmp_path):
    result = deploy_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    # The one silenced check is HSTS preload, a commitment a deployment opts into.
    assert "(1 silenced)" in result.stdout


@pytest.mark.parametrize(
    ("setting", "warning"),
    [
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
    ],
)
def test_the_checklist_would_catch_a_deployment_that_turned_protection_off(
    tmp_path, setting, warning
):
    result = deploy_check(tmp_path, **setting)

    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


def test_production_refuses_to_start_with_a_weak_secret_key(tmp_path):
    result = deploy_check(tmp_path, SECRET_KEY="too-short")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
