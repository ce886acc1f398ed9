"""The production stack, checked by reading it: there is no Docker engine in CI.

docker-compose.yml and the Dockerfile name modules, commands and settings of this
repository; these tests fail when a rename leaves them pointing at nothing.
"""

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.core.management import get_commands

REPO = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3J9v-xQ2pL7mW4zR8tY1nB6cF0hD5sG-aE3uI9oP2lK7jH4vN8bT6yU1wE5rZ0qX"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    instructions: list[str] = []
    pending = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}".strip()
        if pending.endswith("\\"):
            pending = pending[:-1]
        else:
            instructions.append(pending)
            pending = ""
    return instructions


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_compose_describes_the_production_stack(services):
    assert set(services) == {"migrate", "web", "worker", "beat", "postgres", "redis"}


def test_web_serves_the_wsgi_application_with_gunicorn(services):
    command = _command(services["web"])

    assert command[0] == "gunicorn"
    module_name, _, attribute = command[1].partition(":")
    assert (module_name, attribute) == ("cxm.wsgi", "application")
    application = getattr(importlib.import_module(module_name), attribute)
    assert callable(application)


@pytest.mark.parametrize(("service", "role"), [("worker", "worker"), ("beat", "beat")])
def test_celery_services_run_the_project_celery_app(services, service, role):
    command = _command(services[service])

    assert command[:2] == ["celery", "-A"]
    assert command[3] == role
    app = find_app(command[2])
    assert isinstance(app, Celery)
    assert app.main == "cxm"


def test_exactly_one_process_runs_beat(services):
    # Two schedulers would send every periodic task twice.
    running_beat = [
        name
        for name, service in services.items()
        if "beat" in _command(service) or any(arg in {"-B", "--beat"} for arg in _command(service))
    ]

    assert running_beat == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_migrations_run_once_before_the_application_starts(services):
    command = _command(services["migrate"])

    assert command[:3] == ["python", "manage.py", "migrate"]
    assert "migrate" in get_commands()
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        assert depends_on["postgres"] == {"condition": "service_healthy"}
        assert depends_on["redis"] == {"condition": "service_healthy"}


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        ("web", "urllib.request.urlopen"),
        ("web", "http://127.0.0.1:8000/healthz/"),
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
        ("worker", "celery -A cxm inspect ping"),
    ],
)
def test_long_running_services_have_health_checks(services, service, probe):
    assert probe in _healthcheck_command(services[service])


def test_web_health_check_probes_the_health_endpoint_that_exists():
    from django.urls import resolve

    assert resolve("/healthz/").url_name == "healthz"


def test_the_database_lives_in_a_declared_volume(compose, services):
    volumes = services["postgres"]["volumes"]
    data_volume = next(v.split(":")[0] for v in volumes if v.endswith("/var/lib/postgresql/data"))

    assert data_volume in compose["volumes"]


def test_application_services_use_production_settings_and_a_required_secret(services):
    for name in ("migrate", "web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "cxm.settings.production"
        # ${VAR:?message} makes `docker compose up` stop with the message when it is unset.
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
        assert environment["ALLOWED_HOSTS"].startswith("${ALLOWED_HOSTS:?")
        assert "DEBUG" not in environment
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"


def test_every_settings_module_named_by_the_stack_exists(services, dockerfile):
    named = {
        service["environment"]["DJANGO_SETTINGS_MODULE"]
        for service in services.values()
        if "DJANGO_SETTINGS_MODULE" in service.get("environment", {})
    }
    for instruction in dockerfile:
        for word in instruction.replace("\\", " ").split():
            if word.startswith("DJANGO_SETTINGS_MODULE="):
                named.add(word.partition("=")[2])

    assert named >= {"cxm.settings.production", "cxm.settings.local"}
    for module in named:
        # find_spec, not import: production settings refuse to load without a secret.
        assert importlib.util.find_spec(module) is not None, module


def test_every_variable_compose_reads_is_in_the_env_example():
    compose_text = (REPO / "docker-compose.yml").read_text()
    env_example = (REPO / ".env.example").read_text()
    variables = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))

    assert {"SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD"} <= variables
    assert sorted(name for name in variables if f"# {name}=" not in env_example) == []


def test_the_image_is_python_3_11_slim_and_runs_as_an_unprivileged_user(dockerfile):
    assert dockerfile[0] == "FROM python:3.11-slim"
    users = [
        instruction.split()[1] for instruction in dockerfile if instruction.startswith("USER ")
    ]
    assert users
    assert users[-1] not in {"root", "0"}


def test_the_image_installs_the_project_as_make_run_does(dockerfile):
    makefile = (REPO / "Makefile").read_text()
    install = next(i for i in dockerfile if "--no-build-isolation" in i)

    assert '"setuptools>=65,<81"' in install
    assert '"setuptools>=65,<81"' in makefile
    assert "--no-build-isolation -e ." in install


def test_static_files_collected_at_build_time_are_the_ones_production_serves(tmp_path):
    """The image collects static files with local settings (production ones need the
    real secret); that is only right while both agree on what to collect and where."""
    probe = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps({'root': str(settings.STATIC_ROOT), 'url': settings.STATIC_URL,"
        "'storages': settings.STORAGES, 'apps': settings.INSTALLED_APPS,"
        "'dirs': [str(d) for d in settings.STATICFILES_DIRS]}))"
    )

    def static_settings(module: str) -> dict[str, Any]:
        environment = {
            key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}
        }
        environment |= {
            "DJANGO_SETTINGS_MODULE": module,
            "SECRET_KEY": STRONG_KEY,
            "DEBUG": "false",
            "CXM_VAR_DIR": str(tmp_path / "var"),
        }
        result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-c", probe],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout)

    assert static_settings("cxm.settings.local") == static_settings("cxm.settings.production")
