"""CXM_SURVEY_RATE_LIMITS: the public survey pages' rate limits, set from the environment
(how bench/load_survey.py lets 50 clients on one address answer)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from cxm.settings.base import survey_rate_limits
from surveys import throttle

REPO = Path(__file__).resolve().parents[2]


def test_each_scope_reads_as_a_count_per_window_of_seconds():
    assert survey_rate_limits({"ip": "5000/60", "token": "3/600"}) == {
        "ip": (5000, 60),
        "token": (3, 600),
    }


def test_a_scope_left_out_keeps_the_throttle_default(settings):
    settings.CXM_SURVEY_RATE_LIMITS = survey_rate_limits({"ip": "5000/60"})

    assert throttle._limits() == {"ip": (5000, 60), "token": throttle.DEFAULT_LIMITS["token"]}


@pytest.mark.parametrize(
    "value",
    [{"ip": "5000"}, {"ip": "5000/"}, {"ip": "many/60"}, {"ip": "-1/60"}, {"user": "5/60"}],
)
def test_a_malformed_limit_stops_the_settings_with_a_clear_message(value):
    with pytest.raises(ImproperlyConfigured, match="CXM_SURVEY_RATE_LIMITS"):
        survey_rate_limits(value)


def test_the_environment_variable_reaches_the_setting():
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cxm.settings.test",
        "CXM_SURVEY_RATE_LIMITS": "ip=5000/60,token=3/600",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(sorted(settings.CXM_SURVEY_RATE_LIMITS.items()))",
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('ip', (5000, 60)), ('token', (3, 600))]"
