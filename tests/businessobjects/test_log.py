"""Structured logging: each line of a request carries its correlation id and company."""

import copy
import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from businessobjects.context import use_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log():
    """Configure logging exactly as LOG_FORMAT=json does, into a buffer."""
    stream = io.StringIO()
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["formatter"] = "json"
    config["handlers"]["console"]["stream"] = stream
    logging.config.dictConfig(config)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.django_db
def test_request_lines_carry_correlation_company_and_user(
    json_log, api, admin_a, company_a
):
    client = api(admin_a, company_a)
    ok = client.get("/api/partners/", HTTP_X_CORRELATION_ID="corr-ok-1")
    missing = client.get("/api/partners/999999/", HTTP_X_CORRELATION_ID="corr-404")
    assert (ok.status_code, missing.status_code) == (200, 404)

    access = [line for line in json_log() if line["logger"] == "merp.request"]
    assert [(a["correlation_id"], a["status"]) for a in access] == [
        ("corr-ok-1", 200),
        ("corr-404", 404),
    ]
    for line in access:
        assert line["company_id"] == company_a.pk
        assert line["user_id"] == admin_a.pk
        assert line["level"] == "INFO" and line["timestamp"].endswith("+00:00")
        assert line["method"] == "GET" and "duration_ms" in line
    # Django's own 4xx warning is written after the middleware has finished.
    warning = next(line for line in json_log() if line["logger"] == "django.request")
    assert warning["correlation_id"] == "corr-404"
    assert "request" not in warning


def test_lines_outside_a_request(json_log):
    logging.getLogger("merp.test").warning("plain %s", "line")
    with use_context(company=None, correlation_id="job-7"):
        logging.getLogger("merp.test").info("in a job", extra={"rows": 3})
    plain, job = json_log()
    assert plain["message"] == "plain line"
    assert plain["correlation_id"] is None and plain["company_id"] is None
    assert job["correlation_id"] == "job-7" and job["rows"] == 3


def test_health_probes_are_not_logged(json_log):
    from django.test import Client

    assert Client().get("/health/").status_code == 200
    assert [line for line in json_log() if line["logger"] == "merp.request"] == []


@pytest.mark.parametrize(
    ("log_format", "check"),
    [
        ("json", lambda out: json.loads(out)["correlation_id"] == "cli-1"),
        ("text", lambda out: "WARNING merp.cli [cli-1] hello" in out),
    ],
)
def test_log_format_env(log_format, check):
    code = (
        "import django, logging; django.setup()\n"
        "from businessobjects.context import use_context\n"
        "with use_context(correlation_id='cli-1'):\n"
        "    logging.getLogger('merp.cli').warning('hello')\n"
    )
    env = {
        **os.environ,
        "LOG_FORMAT": log_format,
        "DJANGO_SETTINGS_MODULE": "merp.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert check(result.stderr.strip()), result.stderr


def test_unknown_log_format_is_refused():
    env = {**os.environ, "LOG_FORMAT": "xml", "DJANGO_SETTINGS_MODULE": "merp.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "LOG_FORMAT must be text or json" in result.stderr
