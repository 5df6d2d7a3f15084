"""Run the project's real processes (gunicorn, Celery, make run) against the test DB."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 90.0):
    """Poll ``condition`` until it returns a truthy value (a readiness wait)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.3)


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture
def process_env(transactional_db, settings):
    """Environment for a child process: the test database, the venv on PATH.

    Transactional: what the child commits is visible here and flushed afterwards.
    """
    assert connection.settings_dict["NAME"].startswith("test_")
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "merp.settings",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


class Process:
    def __init__(self, args, *, env, cwd, log: Path, shell=False):
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            shell=shell,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop it and children
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def group_commands(self) -> str:
        ps = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-g", str(self.popen.pid)],
            capture_output=True,
            text=True,
        )
        # Shells only carry the recipe's text; zombies are gone already, only not
        # yet reaped by whoever adopted them.
        return "\n".join(
            line
            for line in ps.stdout.splitlines()
            if "<defunct>" not in line
            and not line.split()[0].endswith(("/sh", "/bash", "make"))
        )

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._file.close()


@pytest.fixture
def start_process(tmp_path):
    started: list[Process] = []

    def start(args, *, env, cwd=ROOT, shell=False) -> Process:
        process = Process(
            args,
            env=env,
            cwd=cwd,
            shell=shell,
            log=tmp_path / f"process-{len(started)}.log",
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
