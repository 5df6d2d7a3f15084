"""``python -m bench http`` on a clean database: it runs, and leaves nothing running.

Not a timing test (nothing here asserts a duration): a tiny data set, one round,
to check that the benchmark creates and seeds its databases, serves both apps,
finds the same pages in both, counts statements, and stops both gunicorns, also
when it is interrupted.
"""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

UP = re.compile(r"gunicorn up: M-ERP (http://\S+), hand-written (http://\S+) ")


def _env() -> dict:
    base, _, name = os.environ["DATABASE_URL"].rpartition("/")
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        BENCH_DATABASE_URL=f"{base}/{name.split('?')[0]}_httpsmoke",
        BENCH_REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15",
        CACHE_KEY_PREFIX=f"merp-httpsmoke-{os.getpid()}",
    )
    env.pop("BENCH_HANDWRITTEN_DATABASE_URL", None)
    return env


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


COMMAND = [sys.executable, "-m", "bench", "http", "--sizes", "1000", "--warmup", "0"]


def test_bench_http_runs_and_stops_its_servers():
    done = subprocess.run(
        [*COMMAND, "--rounds", "2", "--writes", "2"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for row in (
        "list broad, page numbers",
        "list narrow, M-ERP ?cursor= vs hand-written page",
        "the limit: native column",
        "create with a custom-field value",
        "update of one field (PATCH)",
        "statements: create",
        "statements: update",
    ):
        assert row in out, out
    merp, handwritten = UP.search(out).groups()
    assert _refused(merp) and _refused(handwritten)


def test_bench_http_stops_its_servers_when_terminated():
    proc = subprocess.Popen(
        [*COMMAND, "--rounds", "100000", "--writes", "1"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if UP.search(line):
                break
        found = UP.search("".join(lines))
        assert found, "".join(lines)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, "".join(lines) + rest
    merp, handwritten = found.groups()
    assert _refused(merp) and _refused(handwritten)
