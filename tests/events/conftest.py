"""Fixtures for the events tests: the events' Redis, in-thread and subprocess Celery
workers, dedicated redis-servers, and waiting helpers (no timed assertions: a
deadline only turns a hang into a failure)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection

from businessobjects import redisclient
from events import outbox, streams
from merp.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, *, timeout: float = 60, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def events_redis() -> redis.Redis:
    """The events' Redis (REDIS_URL), its database emptied for the test.

    The same database holds the Celery broker queue, so stale forwarding tasks of
    earlier tests go too.
    """
    if not streams.is_configured():
        pytest.fail("The events tests need Redis: run them with REDIS_URL set.")
    client = streams.get_client()
    # On a Redis Cluster (make test-cluster) the broker stays on REDIS_URL.
    broker = None
    if redisclient.is_cluster(client) and settings.REDIS_URL:
        broker = redis.Redis.from_url(settings.REDIS_URL)
    for each in (client, broker):
        if each is not None:
            each.flushdb()
    yield client
    for each in (client, broker):
        if each is not None:
            each.flushdb()
    if broker is not None:
        broker.close()


@pytest.fixture
def broker_redis(events_redis) -> redis.Redis:
    """The Celery broker's Redis (the events' one, unless those are on a cluster)."""
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    yield client
    client.close()


def stream_entries(client: redis.Redis, stream: str) -> list[tuple[str, dict]]:
    return client.xrange(stream)


@pytest.fixture
def celery_worker_thread(events_redis, transactional_db):
    """A real Celery worker (celery.contrib.testing) in a thread of this process."""
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker


def database_url() -> str:
    """The URL of the test database, for subprocesses."""
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    auth = f"{user}:{s['PASSWORD']}" if s.get("PASSWORD") else user
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(),
        PYTHONUNBUFFERED="1",
    )
    if "REDIS_URL" in extra:
        # All of Redis on that server, also when the suite runs its events and
        # cache on a Redis Cluster (make test-cluster).
        extra.setdefault("MERP_EVENT_REDIS_URL", extra["REDIS_URL"])
        extra.setdefault("CACHE_REDIS_URL", extra["REDIS_URL"])
    env.update(extra)
    return env


class WorkerProcess:
    """``celery -A merp worker`` (optionally with embedded beat) as a subprocess."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        beat: bool = False,
        pool: str = "solo",
        concurrency: int = 1,
        **env: str,
    ):
        self.log_path = tmp_path / f"worker-{time.monotonic_ns()}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "merp",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            f"--hostname=test-{time.monotonic_ns()}@%h",
        ]
        if beat:
            command += ["--beat", f"--schedule={tmp_path / 'beat-schedule'}"]
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=subprocess_env(**env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its children (no shutdown, no acks)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def worker_process(tmp_path, events_redis, transactional_db):
    started: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:
        worker = WorkerProcess(tmp_path, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A dedicated redis-server this test may stop and start (never the shared one)."""

    def __init__(self, tmp_path: Path, *, persistent: bool = False):
        self.port = free_port()
        self.dir = tmp_path
        # Persistent: an fsync'ed append-only file, so even SIGKILL loses nothing
        # acknowledged (streams, the broker's queue and its unacked tasks).
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *(
                    ("--appendonly", "yes", "--appendfsync", "always")
                    if self.persistent
                    else ("--appendonly", "no")
                ),
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def up():
            try:
                return probe.ping()
            except redis.ConnectionError:
                return False

        wait_for(up, timeout=20, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, clients see their connections drop."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture
def redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed on PATH for the outage tests.")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def persistent_redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed on PATH for the outage tests.")
    server = RedisServer(tmp_path, persistent=True)
    server.start()
    yield server
    server.stop()


def reset_celery_connections() -> None:
    """Forget this process's broker pools, so the next publish takes the pool of
    the current broker URL (kombu keeps one per URL; closing one would break it
    for every later user of that URL)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # The commit-time kick's own connections and its pause after a failure.
    for pool in list(outbox._kick_pools.values()):
        with contextlib.suppress(Exception):
            pool.force_close_all()
    outbox._kick_pools.clear()
    outbox._kick_paused_until = 0.0


@pytest.fixture
def all_redis_on(settings):
    """Point this process's Redis uses (Celery broker, event streams, cache) at
    ``server``, as REDIS_URL=server.url would at start-up; restored afterwards."""
    saved = celery_app.conf.broker_url

    def point(server) -> None:
        settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": server.url}
        default = settings.CACHES["default"]
        options = {
            key: value
            for key, value in default.get("OPTIONS", {}).items()
            if key != "CONNECTION_FACTORY"  # the cluster's (make test-cluster)
        }
        settings.CACHES = {
            "default": {
                **default,
                "LOCATION": server.url,
                "BACKEND": "django_redis.cache.RedisCache",
                "OPTIONS": options,
            }
        }
        celery_app.conf.broker_url = server.url
        reset_celery_connections()

    yield point
    celery_app.conf.broker_url = saved
    reset_celery_connections()


@pytest.fixture
def table_share_lock(transactional_db):
    """Hold ``LOCK TABLE events_outboxevent IN SHARE MODE`` from another connection.

    SELECT ... FOR UPDATE passes (ROW SHARE) but the relay's UPDATE that marks rows
    sent waits (ROW EXCLUSIVE): a relay under this lock is stopped exactly between
    XADD and commit, i.e. mid-batch.
    """
    holder: dict = {}

    def acquire():
        conn = psycopg.connect(database_url(), autocommit=False)
        conn.execute("LOCK TABLE events_outboxevent IN SHARE MODE")
        holder["conn"] = conn

    def release():
        conn = holder.pop("conn", None)
        if conn is not None:
            conn.rollback()
            conn.close()

    acquire.release = release
    yield acquire
    release()


def lock_waiters() -> int:
    """Backends waiting on a lock while marking outbox rows sent."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE%%events_outboxevent%%sent_at%%'"
        ).fetchone()[0]
