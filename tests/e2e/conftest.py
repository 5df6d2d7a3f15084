"""The production install, as DESIGN.md's "Production processes" defines it.

A virtualenv built from requirements.txt alone (cached in .e2e/, keyed by the
file's hash), a PostgreSQL database and a redis-server of its own, the release
step (migrate, collectstatic), then gunicorn, a Celery worker and Celery beat as
separate processes with DEBUG=false. The tests talk to them only over HTTP and
Redis, as a client would. No timed assertions: deadlines only turn a hang into a
failure.
"""

import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".e2e"
REQUIREMENTS = ROOT / "requirements.txt"
COMPANY = "E2E Company"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 120.0):
    """Poll ``condition`` until it returns a truthy value (a readiness wait)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _venv_key() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def prod_venv() -> Path:
    """A virtualenv with requirements.txt and nothing else (no dev packages)."""
    venv = CACHE / f"venv-{_venv_key()}"
    done = venv / ".complete"
    CACHE.mkdir(exist_ok=True)
    # Parallel sessions (xdist, two checkouts' CI) build it once.
    with open(CACHE / "venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = subprocess.run(
                [
                    venv / "bin" / "python",
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    REQUIREMENTS,
                ],
                capture_output=True,
                text=True,
            )
            assert install.returncode == 0, install.stdout + install.stderr
            done.touch()
            for stale in CACHE.glob("venv-*"):
                if stale != venv:
                    shutil.rmtree(stale, ignore_errors=True)
    return venv


@pytest.fixture(scope="session")
def e2e_database() -> str:
    """A PostgreSQL database of this session's own, dropped afterwards."""
    base = urlsplit(os.environ.get("DATABASE_URL", ""))
    if base.scheme not in ("postgres", "postgresql"):
        pytest.skip("the end-to-end suite needs DATABASE_URL=postgres://...")
    name = f"merp_e2e_{os.getpid()}"
    maintenance = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(base._replace(path=f"/{name}"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def e2e_redis(tmp_path_factory) -> str:
    """A redis-server of this session's own: broker, cache and streams."""
    port = free_port()
    server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path_factory.mktemp("redis")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(url, socket_connect_timeout=0.5)

    def answers():
        try:
            return probe.ping()
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, f"redis-server on port {port}", timeout=30)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list, *, env: dict, log: Path):
        self.name = name
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            [str(a) for a in args],
            cwd=ROOT,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        # Children left behind in the group (gunicorn's or Celery's workers).
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._file.close()


@dataclass
class Stack:
    base_url: str
    redis_url: str
    username: str
    password: str
    company_id: int
    env: dict
    venv: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(
            f"----- {name} -----\n{p.output[-4000:]}"
            for name, p in self.processes.items()
        )

    def manage(self, *args: str) -> str:
        run = subprocess.run(
            [str(self.venv / "bin" / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"manage.py {args}: {run.stdout}{run.stderr}"
        return run.stdout

    def token(self) -> str:
        answer = httpx.post(
            f"{self.base_url}/api/auth/token/",
            json={"username": self.username, "password": self.password},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]


def _process_env(venv: Path, database_url: str, redis_url: str, tmp: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")
        and not k.startswith(("MERP_", "CELERY_", "PYTEST", "COV_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="merp.settings",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        STATIC_ROOT=str(tmp / "static"),
        # Beat sends the outbox sweep often enough for a test to see it.
        MERP_EVENT_SWEEP_INTERVAL="3",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@pytest.fixture(scope="session")
def stack(prod_venv, e2e_database, e2e_redis, tmp_path_factory) -> Stack:
    """The release step, then gunicorn, worker and beat, ready (health/ready 200)."""
    tmp = tmp_path_factory.mktemp("e2e")
    env = _process_env(prod_venv, e2e_database, e2e_redis, tmp)
    port = free_port()
    stack = Stack(
        base_url=f"http://127.0.0.1:{port}",
        redis_url=e2e_redis,
        username="e2e_admin",
        password=f"E2e-{secrets.token_urlsafe(16)}",
        company_id=0,
        env=env,
        venv=prod_venv,
    )
    # The Procfile's release process.
    stack.manage("migrate", "--noinput")
    stack.manage("collectstatic", "--noinput")
    stack.company_id = int(stack.manage("merp_company", "create", COMPANY).strip())
    stack.manage(
        "merp_user",
        "create",
        stack.username,
        "--password",
        stack.password,
        "--company",
        COMPANY,
        "--role",
        "admin",
    )
    bin_ = prod_venv / "bin"
    commands = {
        "web": [bin_ / "gunicorn", "merp.wsgi", "--bind", f"127.0.0.1:{port}"],
        "worker": [bin_ / "celery", "-A", "merp", "worker", "--loglevel", "INFO"],
        "beat": [
            *(bin_ / "celery", "-A", "merp", "beat", "--loglevel", "INFO"),
            *("--schedule", tmp / "celerybeat-schedule"),
        ],
    }
    for name, args in commands.items():
        stack.processes[name] = Process(name, args, env=env, log=tmp / f"{name}.log")
    try:

        def ready():
            for process in stack.processes.values():
                if process.popen.poll() is not None:
                    raise AssertionError(
                        f"{process.name} exited with {process.popen.returncode}:\n"
                        f"{stack.logs()}"
                    )
            try:
                answer = httpx.get(f"{stack.base_url}/health/ready/", timeout=10)
            except httpx.TransportError:
                return False
            return answer.status_code == 200

        try:
            wait_for(ready, "/health/ready/ 200", timeout=180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.logs()}") from None
        yield stack
    finally:
        for process in stack.processes.values():
            process.stop()
