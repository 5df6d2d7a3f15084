"""The load test: locust against the production processes, then no lost event.

The production install of the end-to-end suite (a venv from requirements.txt
alone), scaled out on one machine: gunicorn with several workers, two Celery
worker processes and beat, all through PgBouncer in transaction pooling mode,
a streaming replica (behind a PgBouncer of its own) for the list reads, Redis
db ``MERP_LOAD_REDIS_URL``. Locust (loadtest/locustfile.py) runs many
concurrent clients for a bounded time: list pages, custom-field filters,
detail reads, creates (each read back at once through a list filter, which
read-your-writes must answer), updates and history. While it runs, a sampler records
the CPU of each process role and what PostgreSQL's backends wait on.

Then every write must have produced exactly one event, and every outbox event
must be in its Redis stream exactly once. The figures (requests/s, p50/p99,
errors, CPU per role) are printed and written to ``MERP_LOAD_REPORT``; they
are measurements for docs/scaling.md, never assertions.
"""

import contextlib
import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg
import pytest
import redis

from tests.e2e.conftest import Process, _process_env, prod_venv, wait_for

from .engines import pgbouncer, streaming_replica, through

assert prod_venv  # a fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
USERS = int(os.environ.get("MERP_LOAD_USERS", "50"))
SECONDS = int(os.environ.get("MERP_LOAD_SECONDS", "60"))
WEB_WORKERS = int(os.environ.get("MERP_LOAD_WEB_WORKERS", "4"))
WEB_PORT = int(os.environ.get("MERP_LOAD_WEB_PORT", "8850"))
PGBOUNCER_PORT = int(os.environ.get("MERP_LOAD_PGBOUNCER_PORT", "6441"))
REDIS_URL = os.environ.get("MERP_LOAD_REDIS_URL", "redis://127.0.0.1:6379/7")
# A streaming replica for the list reads, behind a PgBouncer of its own.
REPLICA = os.environ.get("MERP_LOAD_REPLICA", "1") == "1"
REPLICA_PORT = int(os.environ.get("MERP_LOAD_REPLICA_PORT", "5441"))
REPLICA_PGBOUNCER_PORT = int(os.environ.get("MERP_LOAD_REPLICA_PGBOUNCER_PORT", "6442"))
REPORT = Path(os.environ.get("MERP_LOAD_REPORT", ROOT / ".scale" / "load.json"))
CLIENTS = 10  # users (tokens) the simulated clients share

SETUP = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from businessobjects.models import Company, Membership
company = Company.objects.create(name="Load Company")
tokens = []
for i in range(%d):
    user = get_user_model().objects.create_user(f"load{i}")
    role = "admin" if i == 0 else "member"
    Membership.objects.create(user=user, company=company, role=role, is_default=True)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps({"company": company.pk, "tokens": tokens}))
"""


def _database_url() -> str:
    base = urlsplit(os.environ.get("DATABASE_URL", ""))
    assert base.scheme in ("postgres", "postgresql"), "needs DATABASE_URL=postgres://"
    return urlunsplit(base._replace(path=f"{base.path}_load"))


@pytest.fixture(scope="module")
def database() -> str:
    url = _database_url()
    name = urlsplit(url).path.lstrip("/")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(prod_venv, database, tmp_path_factory):
    """gunicorn, two Celery workers and beat through PgBouncer, ready."""
    tmp = tmp_path_factory.mktemp("load")
    redis.Redis.from_url(REDIS_URL).flushdb()
    with contextlib.ExitStack() as engines:
        bouncer = engines.enter_context(pgbouncer(PGBOUNCER_PORT))
        env = _process_env(prod_venv, through(bouncer, database), REDIS_URL, tmp)
        env["DATABASE_POOLER"] = "pgbouncer"
        replica = None
        if REPLICA:
            replica = engines.enter_context(streaming_replica(REPLICA_PORT))
            replica_bouncer = engines.enter_context(
                pgbouncer(REPLICA_PGBOUNCER_PORT, upstream=replica)
            )
            env["DATABASE_REPLICA_URL"] = through(replica_bouncer, database)

        def manage(*args: str) -> str:
            run = subprocess.run(
                [prod_venv / "bin" / "python", "manage.py", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert run.returncode == 0, f"manage.py {args}: {run.stdout}{run.stderr}"
            return run.stdout

        manage("migrate", "--noinput")
        manage("collectstatic", "--noinput")
        # The last line: the shell prints its auto-imports first.
        output = manage("shell", "-c", SETUP % CLIENTS)
        setup = json.loads(output.strip().splitlines()[-1])
        bin_ = prod_venv / "bin"
        worker = (bin_ / "celery", "-A", "merp", "worker", "--concurrency", "1")
        commands = {
            "web": [
                *(bin_ / "gunicorn", "merp.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}"),
                *("--workers", WEB_WORKERS, "--timeout", "120"),
            ],
            "worker1": [*worker, "--hostname", "load1@%h"],
            "worker2": [*worker, "--hostname", "load2@%h"],
            "beat": [
                *(bin_ / "celery", "-A", "merp", "beat"),
                *("--schedule", tmp / "celerybeat-schedule"),
            ],
        }
        processes = {
            name: Process(name, args, env=env, log=tmp / f"{name}.log")
            for name, args in commands.items()
        }
        base_url = f"http://127.0.0.1:{WEB_PORT}"
        try:

            def ready():
                for process in processes.values():
                    assert process.popen.poll() is None, process.output[-4000:]
                try:
                    answer = httpx.get(f"{base_url}/health/ready/", timeout=10)
                except httpx.TransportError:
                    return False
                return answer.status_code == 200

            wait_for(ready, "/health/ready/ 200", timeout=180)
            admin = {"Authorization": f"Token {setup['tokens'][0]}"}
            for field in (
                {"name": "tier", "field_type": "integer"},
                {"name": "region", "field_type": "string"},
            ):
                answer = httpx.post(
                    f"{base_url}/api/custom-fields/",
                    json={"model": "partner", **field},
                    headers=admin,
                    timeout=30,
                )
                assert answer.status_code == 201, answer.text
            yield {
                "base_url": base_url,
                "database": database,
                "tokens": setup["tokens"],
                "processes": processes,
                "tmp": tmp,
                "replica": replica and through(replica, database),
            }
        finally:
            for process in processes.values():
                process.stop()


class Sampler(threading.Thread):
    """CPU per process role and PostgreSQL waits, once a second."""

    def __init__(self, roles: dict, database: str):
        super().__init__(daemon=True)
        self.roles = roles  # role -> callable returning pids
        self.database = urlsplit(database).path.lstrip("/")
        self.primary = urlunsplit(urlsplit(database)._replace(path="/postgres"))
        self.stop = threading.Event()
        self.cpu: dict[str, list[float]] = {role: [] for role in roles}
        self.machine: list[float] = []
        self.active: list[int] = []
        self.waits: Counter = Counter()
        self._procs: dict[int, psutil.Process] = {}

    def _cpu(self, pids) -> float:
        total = 0.0
        for pid in pids:
            try:
                proc = self._procs.get(pid)
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # starts its measurement
                    continue
                total += proc.cpu_percent(None)
            except psutil.Error:
                self._procs.pop(pid, None)
        return total

    def run(self) -> None:
        psutil.cpu_percent(None)
        with psycopg.connect(self.primary, autocommit=True) as conn:
            while not self.stop.wait(1.0):
                rows = conn.execute(
                    "SELECT pid, state, wait_event_type, wait_event "
                    "FROM pg_stat_activity WHERE datname = %s",
                    [self.database],
                ).fetchall()
                active = [r for r in rows if r[1] == "active"]
                self.active.append(len(active))
                for _, _, kind, event in active:
                    self.waits[f"{kind}:{event}" if kind else "CPU (no wait)"] += 1
                backends = [r[0] for r in rows]
                for role, pids in self.roles.items():
                    found = backends if role == "postgres" else pids()
                    self.cpu[role].append(self._cpu(found))
                self.machine.append(psutil.cpu_percent(None))

    def summary(self) -> dict:
        def mean(values):
            values = values[2:] or values  # the first samples only start counting
            return round(sum(values) / len(values), 1) if values else 0.0

        # Percent of one core, like top; the machine's busy cores the same way.
        by_role = {role: mean(v) for role, v in self.cpu.items()}
        machine = mean(self.machine) * psutil.cpu_count()
        return {
            "machine_cpu_percent_of_one_core": round(machine, 1),
            "cpu_percent_by_role": {
                **by_role,
                "other processes": round(max(machine - sum(by_role.values()), 0), 1),
            },
            "postgres_active_backends": mean(self.active),
            "postgres_active_waits": dict(self.waits.most_common(8)),
        }


def _tree(process: Process):
    def pids():
        try:
            root = psutil.Process(process.popen.pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.Error:
            return []

    return pids


def _named(name: str, needle: str = ""):
    def pids():
        return [
            p.pid
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == name and needle in " ".join(p.info["cmdline"] or ())
        ]

    return pids


def _named_tree(name: str, needle: str):
    def pids():
        found = []
        for pid in _named(name, needle)():
            try:
                children = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                continue
            found.extend([pid, *(c.pid for c in children)])
        return found

    return pids


def _replica_transactions(url: str | None) -> int:
    """Transactions the replica ran in the load test's database so far."""
    if url is None:
        return 0
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()[0]


def _run_locust(stack, tmp: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MERP_LOAD_TOKENS": ",".join(stack["tokens"]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        [
            Path(sys.executable).parent / "locust",
            *("-f", ROOT / "loadtest" / "locustfile.py", "--headless"),
            *("--users", str(USERS), "--spawn-rate", str(max(USERS // 2, 1))),
            *("--run-time", f"{SECONDS}s", "--stop-timeout", "30"),
            *("--host", stack["base_url"], "--csv", tmp / "locust", "--only-summary"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
    )


def _stats(tmp: Path) -> dict:
    with (tmp / "locust_stats.csv").open() as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}

    def figures(row):
        return {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "requests_per_s": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"]),
            "p99_ms": float(row["99%"]),
        }

    return {name: figures(row) for name, row in rows.items()}


def _outbox(database: str) -> tuple[int, int, dict[str, str]]:
    with psycopg.connect(database) as conn:
        unsent = conn.execute(
            "SELECT count(*) FROM events_outboxevent WHERE sent_at IS NULL"
        ).fetchone()[0]
        rows = conn.execute("SELECT event_id::text, stream FROM events_outboxevent")
        events = dict(rows.fetchall())
    return unsent, len(events), events


def _event_types(database: str) -> dict[str, int]:
    with psycopg.connect(database) as conn:
        return dict(
            conn.execute(
                "SELECT event_type, count(*) FROM events_outboxevent GROUP BY 1"
            ).fetchall()
        )


def _history_types(database: str) -> dict[str, int]:
    kinds = {"+": "partner.created", "~": "partner.updated", "-": "partner.deleted"}
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT history_type, count(*) FROM businessobjects_historicalpartner "
            "GROUP BY 1"
        ).fetchall()
    return {kinds[kind]: n for kind, n in rows}


def _stream_event_ids(streams: set[str]) -> list[str]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    ids = []
    for stream in streams:
        start = "-"
        while True:
            batch = client.xrange(stream, min=start, count=5000)
            ids.extend(fields["event_id"] for _, fields in batch)
            if len(batch) < 5000:
                break
            start = f"({batch[-1][0]}"
    return ids


def test_load_with_no_error_and_no_lost_event(stack):
    tmp = stack["tmp"]
    _, events_before, _ = _outbox(stack["database"])
    processes = stack["processes"]
    sampler = Sampler(
        {
            "gunicorn": _tree(processes["web"]),
            "celery workers": lambda: (
                _tree(processes["worker1"])() + _tree(processes["worker2"])()
            ),
            "celery beat": _tree(processes["beat"]),
            "postgres": lambda: [],  # this database's backends (pg_stat_activity)
            "pgbouncer": _named("pgbouncer", "merp-pgbouncer-"),
            "postgres replica": _named_tree("postgres", "merp-replica-"),
            "redis": _named("redis-server", ":6379"),
            "locust": _named("locust"),
        },
        stack["database"],
    )
    replica_before = _replica_transactions(stack["replica"])
    sampler.start()
    started = time.monotonic()
    locust = _run_locust(stack, tmp)
    elapsed = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    replica_transactions = _replica_transactions(stack["replica"]) - replica_before
    assert (tmp / "locust_stats.csv").exists(), locust.stdout + locust.stderr
    stats = _stats(tmp)
    total = stats["Aggregated"]
    writes = sum(
        stats[name]["requests"] - stats[name]["failures"]
        for name in ("create", "update")
        if name in stats
    )

    # The relay drains the outbox; then compare it with the streams.
    def drained():
        unsent, _, _ = _outbox(stack["database"])
        return unsent == 0

    wait_for(drained, "the outbox to drain", timeout=180)
    _, events_after, events = _outbox(stack["database"])
    in_streams = _stream_event_ids(set(events.values()))
    counted = Counter(in_streams)
    report = {
        "users": USERS,
        "seconds": SECONDS,
        "web_workers": WEB_WORKERS,
        "replica": bool(stack["replica"]),
        "replica_transactions": replica_transactions,
        "celery_workers": 2,
        "cpu_cores": psutil.cpu_count(),
        "wall_seconds": round(elapsed, 1),
        "total": total,
        "by_request": {k: v for k, v in stats.items() if k != "Aggregated"},
        "writes": writes,
        "events_written": events_after - events_before,
        "events_by_type": _event_types(stack["database"]),
        "history_rows_by_type": _history_types(stack["database"]),
        "events_lost": len(set(events) - set(counted)),
        "events_duplicated": sum(n - 1 for n in counted.values() if n > 1),
        "events_unknown_in_streams": len(set(counted) - set(events)),
        **sampler.summary(),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))
    print("\nLoad test figures:\n" + json.dumps(report, indent=2))

    assert total["requests"] > 0, locust.stdout + locust.stderr
    if stack["replica"]:  # the list reads did go there
        assert replica_transactions > 0
    assert total["failures"] == 0, (tmp / "locust_failures.csv").read_text()
    # Every committed write has its event: the history (written in the same
    # transaction) counts them. Locust saw fewer when it stopped clients with a
    # request in flight that the server still completed.
    assert report["events_by_type"] == report["history_rows_by_type"]
    assert writes <= report["events_written"]
    assert report["events_lost"] == 0
    assert report["events_duplicated"] == 0
    assert report["events_unknown_in_streams"] == 0
