"""merp_doctor: one line per check, fix hints, exit status."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from businessobjects import diagnostics
from tests.utils import override_merp

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "DEBUG": False,
    "SECRET_KEY": "k7Jx3-production-secret-9f2cWq0LmZt8vYbN4rHs6uPe1aDg5",
    "ALLOWED_HOSTS": ["erp.example.com"],
}


def doctor(*args) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("merp_doctor", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def lines_by_check(output: str) -> dict[str, str]:
    return {
        line.split()[1]: line.split()[0]
        for line in output.splitlines()
        if line[:4] in ("PASS", "WARN", "FAIL")
    }


@pytest.mark.django_db
def test_healthy_installation_passes_every_check(eager_celery):
    with override_settings(**SAFE):
        output, error = doctor()
    assert error is None, output
    statuses = lines_by_check(output)
    assert set(statuses) == {
        "database",
        "migrations",
        "tables",
        "business",
        "redis",
        "celery",
        "outbox",
        "settings",
    }
    assert set(statuses.values()) == {"PASS"}
    assert output.rstrip().endswith("merp_doctor: 8 PASS, 0 WARN, 0 FAIL")


@pytest.mark.django_db
def test_warnings_do_not_fail_unless_strict(eager_celery):
    with override_settings(DEBUG=True):
        output, error = doctor()
        assert error is None
        assert lines_by_check(output)["settings"] == "WARN"
        assert "[businessobjects.W001] fix: Set DEBUG=false" in output
        output, error = doctor("--strict")
    assert error is not None and error.returncode == 1


@pytest.mark.django_db
def test_stopped_redis_fails_with_hint(eager_celery):
    with override_merp(REDIS_URL="redis://127.0.0.1:1/0"):
        output, error = doctor()
    assert error is not None and error.returncode == 1
    assert "1 FAIL" in str(error)
    assert lines_by_check(output)["redis"] == "FAIL"
    assert "[businessobjects.E013] fix: Start Redis" in output


@pytest.mark.django_db
def test_missing_worker_fails():
    # The test settings have REDIS_URL, so Celery is configured; no worker runs.
    output, error = doctor()
    assert error is not None
    assert lines_by_check(output)["celery"] == "FAIL"
    assert "no worker answered" in output


@pytest.mark.django_db
def test_worker_answering_passes(monkeypatch, celery_worker_app):
    probe = lambda: diagnostics.celery_workers(celery_worker_app)  # noqa: E731
    monkeypatch.setattr(diagnostics, "DIAGNOSTICS", [("celery", probe)])
    output, error = doctor()
    assert error is None, output
    assert "PASS  celery  1 worker(s) answered" in output


def test_unreachable_database_fails_in_a_real_process():
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/merp",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "merp_doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    statuses = lines_by_check(result.stdout)
    assert statuses["database"] == "FAIL"
    assert statuses["migrations"] == "FAIL"
    assert "[businessobjects.E010] fix: Check DATABASE_URL" in result.stdout
    assert "FAIL" in result.stderr
