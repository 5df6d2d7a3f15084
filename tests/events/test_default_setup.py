"""The embedded default (SQLite, no REDIS_URL, eager Celery): events stay in the
outbox, are sequenced and visible, and nothing errors."""

import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_without_redis_events_stay_in_the_outbox(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "merp.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    manage("migrate", "--noinput")
    script = (
        "from businessobjects import services\n"
        "from businessobjects.models import Company, Partner\n"
        "from events.models import OutboxEvent\n"
        "c = Company.objects.create(name='C')\n"
        "p = services.create(Partner, data={'name': 'P'}, company=c)\n"
        "services.update(p, data={'name': 'Q'})\n"
        "rows = OutboxEvent.objects.order_by('id')\n"
        "print([(r.position, r.sent_at) for r in rows])\n"
    )
    assert manage("shell", "-c", script).strip().splitlines()[-1] == (
        "[(1, None), (2, None)]"
    )
    output = manage("merp_publish_outbox")
    assert "2 events stay in the outbox" in output
