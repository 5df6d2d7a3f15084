"""M-ERP against the hand-written Django/DRF app, over real HTTP.

Starts gunicorn for M-ERP (``merp.wsgi``) and for the hand-written baseline
(``bench.handwritten.wsgi``, see its package docstring), 2 sync workers each,
``DEBUG=false``, ``CONN_MAX_AGE=60``, on free loopback ports, and drives both with
a ``requests`` session, the same token-authenticated user shape (a member of
every data-set company, ``X-Company-ID`` per request) and the same requests,
interleaved round by round in a shuffled order. Cases:

- list filtered by a custom field, ``?ext__credit_limit__gte=<x>``, page
  numbers, broad (half the rows match) and narrow (the top 1.5%), on random
  companies of the ``bench list`` data set (same rows, same ids in both apps:
  the first pages are checked to be equal);
- the same with ``&cursor=`` for M-ERP, against the hand-written page-number
  page;
- the limit: a minimal Django view over a native indexed column (no DRF, no
  membership, no count), served by the hand-written app's gunicorn;
- create with a custom-field value (``POST``), update of one field (``PATCH``).

Then the SQL statements per request of each app, counted in-process in a
separate pass (``bench.http_count``), never during the timing. Servers run in
their own process groups and are stopped on exit, also on errors and signals.
The hand-written app's database is ``BENCH_HANDWRITTEN_DATABASE_URL`` (default:
the benchmark database's name with ``_handwritten``), created, migrated and
seeded by COPY from the M-ERP data set outside the timing and kept.
"""

import argparse
import atexit
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .harness import RESULTS, Report, delete_companies, p50, p95, ratio

ROOT = Path(__file__).resolve().parent.parent
SIZES = [100_000]
FULL_SIZES = [1_000_000]
WARMUP = 10
USERNAME = "bench-http"
WRITE_COMPANY = "bench-http-write"
STARTUP_TIMEOUT = 90

# (label, M-ERP case, hand-written case): ratio = M-ERP p50 / hand-written p50.
LIST_ROWS = [
    ("list {mix}, page numbers", "merp page", "hw page"),
    ("list {mix}, M-ERP ?cursor= vs hand-written page", "merp cursor", "hw page"),
]
WRITE_ROWS = [
    ("create with a custom-field value", "merp create", "hw create"),
    ("update of one field (PATCH)", "merp update", "hw update"),
]


# -- the hand-written app's database --------------------------------------------


def handwritten_url() -> str:
    explicit = os.environ.get("BENCH_HANDWRITTEN_DATABASE_URL")
    if explicit:
        return explicit
    base, _, rest = os.environ["DATABASE_URL"].rpartition("/")
    name, sep, query = rest.partition("?")
    return f"{base}/{name}_handwritten{sep}{query}"


def _dsn(url: str) -> str:
    import environ

    config = environ.Env.db_url_config(url)
    return (
        f"host={config['HOST'] or '127.0.0.1'} port={config['PORT'] or 5432} "
        f"user={config['USER'] or 'postgres'} dbname={config['NAME']}"
        + (f" password={config['PASSWORD']}" if config.get("PASSWORD") else "")
    )


def _hw_env(url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.handwritten.settings",
        DATABASE_URL=url,
        DEBUG="false",
        CONN_MAX_AGE="60",
    )
    return env


def prepare_handwritten(url: str) -> None:
    """Create (if missing) and migrate the hand-written app's database."""
    from .harness import _create_database

    _create_database(url)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=_hw_env(url),
        check=True,
    )


def seed_handwritten(url: str, size: int, companies: list) -> None:
    """Copy the M-ERP data set of ``size`` into the hand-written tables (kept).

    Same companies, partner ids and values: each partner's ``credit_limit`` goes
    to its ``custom_fields`` JSONB and to the native table of the limit view.
    """
    import psycopg
    from django.db import connection

    from .list import NATIVE

    ids = [c.pk for c in companies]
    with psycopg.connect(_dsn(url), autocommit=True) as dst:
        dst.execute(
            "CREATE TABLE IF NOT EXISTS bench_http_dataset "
            "(size integer PRIMARY KEY, company_ids bigint[] NOT NULL)"
        )
        found = dst.execute(
            "SELECT company_ids FROM bench_http_dataset WHERE size = %s", [size]
        ).fetchone()
        if found and list(found[0]) == ids:
            print(f"  reusing the hand-written {size}-partner data set", flush=True)
            return
        print(f"  copying {size} partners to the hand-written app ...", flush=True)
        started = time.perf_counter()
        stale = list(found[0]) if found else []
        with dst.transaction():
            _delete_hw_write_company(dst)  # its ids may collide with the new set
            for table in (
                "handwritten_nativepartner",
                "handwritten_historicalpartner",
                "handwritten_partner",
                "handwritten_membership",
            ):
                dst.execute(
                    f"DELETE FROM {table} WHERE company_id = ANY(%s)", [stale + ids]
                )
            dst.execute(
                "DELETE FROM handwritten_company WHERE id = ANY(%s) OR name = ANY(%s)",
                [stale + ids, [c.name for c in companies]],
            )
            dst.execute("DELETE FROM bench_http_dataset WHERE size = %s", [size])
            with dst.cursor().copy(
                "COPY handwritten_company (id, name) FROM STDIN"
            ) as copy:
                for company in companies:
                    copy.write_row((company.pk, company.name))
            columns = (
                "id, company_id, name, email, phone, is_active, created_at, "
                "updated_at, credit_limit"
            )
            connection.ensure_connection()
            source = connection.connection  # the M-ERP benchmark database
            with (
                source.cursor().copy(
                    f"COPY (SELECT {columns} FROM {NATIVE} "
                    f"WHERE company_id = ANY(%s)) TO STDOUT",
                    [ids],
                ) as out,
                dst.cursor().copy(
                    f"COPY handwritten_nativepartner ({columns}) FROM STDIN"
                ) as into,
            ):
                for block in out:
                    into.write(block)
            dst.execute(
                "INSERT INTO handwritten_partner (id, company_id, name, email, "
                "phone, is_active, created_at, updated_at, custom_fields) "
                "SELECT id, company_id, name, email, phone, is_active, created_at, "
                "updated_at, jsonb_build_object('credit_limit', credit_limit::text) "
                "FROM handwritten_nativepartner WHERE company_id = ANY(%s)",
                [ids],
            )
            for table in ("handwritten_company", "handwritten_partner"):
                dst.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST((SELECT max(id) FROM {table}), 1))"
                )
            dst.execute(
                "INSERT INTO bench_http_dataset (size, company_ids) VALUES (%s, %s)",
                [size, ids],
            )
        for table in ("handwritten_partner", "handwritten_nativepartner"):
            dst.execute(f"VACUUM ANALYZE {table}")
    print(f"  copied in {time.perf_counter() - started:.1f} s", flush=True)


# -- users, tokens, the write company -------------------------------------------


def merp_fixtures(companies: list) -> tuple[str, object, object]:
    """The M-ERP user (member of every data-set company), its token, the write
    company (admin, with the ``credit_limit`` definition) and a partner to patch."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from businessobjects import services
    from businessobjects.models import Company, Membership, Partner
    from extensions.services import definition_create

    stale = list(
        Company.objects.filter(name=WRITE_COMPANY).values_list("pk", flat=True)
    )
    delete_companies(stale)  # left by an interrupted run
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    write = Company.objects.create(name=WRITE_COMPANY)
    definition_create(
        company=write,
        model="partner",
        name="credit_limit",
        field_type="decimal",
        decimal_places=2,
    )
    have = set(Membership.objects.filter(user=user).values_list("company", flat=True))
    Membership.objects.bulk_create(
        [
            Membership(user=user, company=c, role="admin")
            for c in [*companies, write]
            if c.pk not in have
        ]
    )
    token, _ = Token.objects.get_or_create(user=user)
    target = services.create(Partner, data={"name": "target"}, company=write, user=user)
    return token.key, write, target


def hw_fixtures(url: str, companies: list, key: str) -> tuple[int, int]:
    """The same user shape in the hand-written app (same token key); the write
    company's id and a partner to patch. Bench fixtures: plain SQL."""
    import psycopg

    ids = [c.pk for c in companies]
    with psycopg.connect(_dsn(url), autocommit=True) as db, db.transaction():
        _delete_hw_write_company(db)
        user_id = db.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined) "
            "VALUES ('!', false, %s, '', '', '', false, true, now()) "
            "ON CONFLICT (username) DO UPDATE SET is_active = true RETURNING id",
            [USERNAME],
        ).fetchone()[0]
        db.execute("DELETE FROM authtoken_token WHERE user_id = %s", [user_id])
        db.execute(
            "INSERT INTO authtoken_token (key, created, user_id) "
            "VALUES (%s, now(), %s)",
            [key, user_id],
        )
        write_id = db.execute(
            "INSERT INTO handwritten_company (name) VALUES (%s) RETURNING id",
            [WRITE_COMPANY],
        ).fetchone()[0]
        db.execute(
            "INSERT INTO handwritten_membership (user_id, company_id, role) "
            "SELECT %s, c, 'admin' FROM unnest(%s::bigint[]) AS c "
            "ON CONFLICT DO NOTHING",
            [user_id, [*ids, write_id]],
        )
        target = db.execute(
            "INSERT INTO handwritten_partner (company_id, name, email, phone, "
            "is_active, custom_fields, created_at, updated_at) "
            "VALUES (%s, 'target', '', '', true, '{}', now(), now()) RETURNING id",
            [write_id],
        ).fetchone()[0]
    return write_id, target


def _delete_hw_write_company(db) -> None:
    found = db.execute(
        "SELECT id FROM handwritten_company WHERE name = %s", [WRITE_COMPANY]
    ).fetchone()
    if found is None:
        return
    for table in (
        "handwritten_outbox",
        "handwritten_historicalpartner",
        "handwritten_partner",
        "handwritten_membership",
    ):
        db.execute(f"DELETE FROM {table} WHERE company_id = %s", [found[0]])
    db.execute("DELETE FROM handwritten_company WHERE id = %s", [found[0]])


def cleanup_handwritten(url: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(url), autocommit=True) as db, db.transaction():
        _delete_hw_write_company(db)


# -- servers --------------------------------------------------------------------


class Servers:
    """gunicorn processes in their own process groups, stopped on exit."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        atexit.register(self.stop)

    def start(self, name: str, module: str, env: dict, workers: int) -> str:
        port = _free_port()
        RESULTS.mkdir(exist_ok=True)
        log = (RESULTS / f"http-{name}.log").open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                module,
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.bench_name = name
        proc.bench_log = log.name
        self.procs.append(proc)
        return f"http://127.0.0.1:{port}"

    def wait_ready(self, urls: dict[str, str]) -> None:
        import requests

        deadline = time.monotonic() + STARTUP_TIMEOUT
        for proc in self.procs:
            url = urls[proc.bench_name]
            while True:
                if proc.poll() is not None:
                    raise SystemExit(
                        f"gunicorn {proc.bench_name} exited ({proc.returncode}); "
                        f"see {proc.bench_log}:\n{_tail(proc.bench_log)}"
                    )
                try:
                    # Any answer will do (401): a worker has booted.
                    requests.get(f"{url}/api/partners/", timeout=30)
                    break
                except (requests.ConnectionError, requests.Timeout):
                    if time.monotonic() > deadline:
                        raise SystemExit(
                            f"gunicorn {proc.bench_name} not ready after "
                            f"{STARTUP_TIMEOUT} s; see {proc.bench_log}"
                        ) from None
                    time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def _signal_group(proc, sig) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


# Ports handed out in this run: a server started moments ago may not listen yet.
_taken_ports: set[int] = set()


def _free_port() -> int:
    """A free loopback port: from ``BENCH_HTTP_PORTS`` (``8830-8849``) when set, so
    that benchmarks run side by side on one machine stay in their own ranges, else
    one the kernel picks."""
    ports = os.environ.get("BENCH_HTTP_PORTS", "").strip()
    if not ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    first, _, last = ports.partition("-")
    for port in range(int(first), int(last or first) + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port not in _taken_ports:
                _taken_ports.add(port)
                return port
    raise SystemExit(f"BENCH_HTTP_PORTS={ports}: no free port left")


def _tail(path: str, lines: int = 20) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


_signalled: list[int] = []


def _terminate(signum, frame):
    # Raised wherever the main thread is; if that is a finalizer, Python only
    # prints the exception and goes on, so the rounds check the flag too.
    _signalled.append(signum)
    raise SystemExit(128 + signum)


# -- requests -------------------------------------------------------------------


class App:
    """One app's base URL and keep-alive session with the user's token."""

    def __init__(self, base: str, key: str):
        import requests

        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {key}"

    def call(self, method: str, path: str, company: int, *, params=None, body=None):
        response = self.session.request(
            method,
            self.base + path,
            params=params,
            json=body,
            headers={"X-Company-ID": str(company)},
        )
        if response.status_code >= 400:
            raise AssertionError(
                f"{method} {path} {params or ''}: {response.status_code} "
                f"{response.text[:300]}"
            )
        return response


def list_cases(merp: App, hw: App) -> dict:
    api = "/api/partners/"

    def ids(response):
        return [row["id"] for row in response.json()["results"]]

    def case(app, path, extra):
        return lambda c, t: app.call(
            "GET", path, c, params={"ext__credit_limit__gte": t, **extra}
        )

    return {
        "merp page": case(merp, api, {}),
        "merp cursor": case(merp, api, {"cursor": ""}),
        "hw page": case(hw, api, {}),
        "limit": case(hw, "/limit/partners/", {}),
        "_ids": ids,
    }


def write_cases(merp: App, hw: App, merp_ids, hw_ids) -> dict:
    """``merp_ids``/``hw_ids``: (write company id, partner id to patch)."""
    counter = iter(range(10**9))

    def create(app, company):
        def run():
            i = next(counter)
            body = {"name": f"H{i}", "extensions": {"credit_limit": f"{i % 1000}.50"}}
            response = app.call("POST", "/api/partners/", company, body=body)
            assert response.status_code == 201, response.text[:300]

        return run

    def update(app, company, pk):
        return lambda: app.call(
            "PATCH", f"/api/partners/{pk}/", company, body={"name": f"U{next(counter)}"}
        )

    return {
        "merp create": create(merp, merp_ids[0]),
        "hw create": create(hw, hw_ids[0]),
        "merp update": update(merp, *merp_ids),
        "hw update": update(hw, *hw_ids),
    }


def interleave(
    cases: dict, rounds: int, rng, args_of=None, warmup: int = WARMUP
) -> dict[str, list]:
    """Each round runs every case once, in a shuffled order; seconds per case.
    The first ``warmup`` rounds are not recorded."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for index in range(rounds + warmup):
        if _signalled:
            raise SystemExit(128 + _signalled[0])
        rng.shuffle(names)
        args = args_of(index) if args_of else ()
        for name in names:
            start = time.perf_counter()
            cases[name](*args)
            elapsed = time.perf_counter() - start
            if index >= warmup:
                samples[name].append(elapsed)
    return samples


def check_same_pages(cases: dict, picks: list) -> None:
    """Both apps and the limit view answer the same rows; same counts."""
    ids = cases["_ids"]
    for company, threshold in picks[:3]:
        page = cases["merp page"](company, threshold).json()
        hw = cases["hw page"](company, threshold).json()
        expected = [row["id"] for row in page["results"]]
        assert expected == [row["id"] for row in hw["results"]], (company, threshold)
        assert page["count"] == hw["count"], (page["count"], hw["count"])
        assert expected == ids(cases["merp cursor"](company, threshold))
        assert expected == ids(cases["limit"](company, threshold))
        assert (
            page["results"][0]["extensions"] == hw["results"][0]["extensions"]
            if expected
            else True
        )


# -- statements per request -----------------------------------------------------


def count_statements(url, key, companies, merp_ids, hw_ids) -> dict:
    """``{app: {case: [sql, ...]}}`` from one request of each case, in-process."""
    from .http_count import capture

    company = companies[0].pk
    threshold = 50_000

    def spec(write_company, target):
        api = "/api/partners/"
        query = f"?ext__credit_limit__gte={threshold}"
        auth = {"Authorization": f"Token {key}"}
        return [
            {
                "case": "list, page numbers",
                "method": "GET",
                "path": api + query,
                "headers": {**auth, "X-Company-ID": str(company)},
            },
            {
                "case": "list, ?cursor=",
                "method": "GET",
                "path": api + query + "&cursor=",
                "headers": {**auth, "X-Company-ID": str(company)},
            },
            {
                "case": "create",
                "method": "POST",
                "path": api,
                "headers": {**auth, "X-Company-ID": str(write_company)},
                "body": {"name": "count", "extensions": {"credit_limit": "12.50"}},
            },
            {
                "case": "update",
                "method": "PATCH",
                "path": f"{api}{target}/",
                "headers": {**auth, "X-Company-ID": str(write_company)},
                "body": {"name": "counted"},
            },
        ]

    merp_spec = spec(*merp_ids)
    found = {"merp": capture(merp_spec)}
    hw_spec = [s for s in spec(*hw_ids) if "cursor" not in s["path"]]
    done = subprocess.run(
        [sys.executable, "-m", "bench.http_count"],
        cwd=ROOT,
        env=_hw_env(url),
        input=json.dumps(hw_spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"counting the hand-written app failed:\n{done.stderr}")
    found["hw"] = json.loads(done.stdout)
    return found


# -- the run --------------------------------------------------------------------


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench http")
    parser.add_argument("--full", action="store_true", help="1M partners")
    parser.add_argument("--sizes", help="comma-separated partner counts (100000)")
    parser.add_argument("--rounds", type=int, help="list rounds per mix (100)")
    parser.add_argument("--writes", type=int, help="write rounds (200)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="rounds (10)")
    parser.add_argument("--show-sql", action="store_true", help="print statements")
    args = parser.parse_args(argv)
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench http needs PostgreSQL (BENCH_DATABASE_URL).")
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else (FULL_SIZES if args.full else SIZES)
    )
    rounds = args.rounds or (200 if args.full else 100)
    writes = args.writes or (500 if args.full else 200)
    previous = {
        sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)
    }
    url = handwritten_url()
    prepare_handwritten(url)
    servers = Servers()
    write_company = None
    try:
        return _run(args, sizes, rounds, writes, url, servers)
    finally:
        servers.stop()
        from businessobjects.models import Company

        write_company = list(
            Company.objects.filter(name=WRITE_COMPANY).values_list("pk", flat=True)
        )
        delete_companies(write_company)
        cleanup_handwritten(url)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args, sizes, rounds, writes, url, servers) -> dict:
    from . import list as list_bench

    datasets = {}
    for size in sizes:
        companies = list_bench.dataset(size)
        seed_handwritten(url, size, companies)
        datasets[size] = companies
    every = [c for companies in datasets.values() for c in companies]
    key, merp_write, merp_target = merp_fixtures(every)
    hw_write, hw_target = hw_fixtures(url, every, key)
    merp_ids, hw_ids = (merp_write.pk, merp_target.pk), (hw_write, hw_target)

    merp_env = dict(os.environ)
    merp_env.update(
        DJANGO_SETTINGS_MODULE="merp.settings",
        DEBUG="false",
        CONN_MAX_AGE="60",
        LOG_LEVEL="WARNING",
    )
    urls = {
        "merp": servers.start("merp", "merp.wsgi", merp_env, args.workers),
        "hw": servers.start(
            "handwritten", "bench.handwritten.wsgi", _hw_env(url), args.workers
        ),
    }
    urls["handwritten"] = urls["hw"]
    servers.wait_ready(urls)
    merp, hw = App(urls["merp"], key), App(urls["hw"], key)
    print(
        f"  gunicorn up: M-ERP {urls['merp']}, hand-written {urls['hw']} "
        f"({args.workers} workers each)",
        flush=True,
    )

    report = Report("http")
    found: dict[str, dict[str, float]] = {}
    for size, companies in datasets.items():
        cases = list_cases(merp, hw)
        ids = cases.pop("_ids")
        for mix, threshold_of in list_bench.MIXES.items():
            rng = random.Random(f"http-{size}-{mix}")
            picks = [
                (rng.choice(companies).pk, threshold_of(rng))
                for _ in range(rounds + args.warmup)
            ]
            check_same_pages({**cases, "_ids": ids}, picks)
            samples = interleave(
                cases, rounds, rng, lambda i, p=picks: p[i], args.warmup
            )
            for label, merp_case, hw_case in LIST_ROWS:
                found[label.format(mix=mix)] = _row(
                    report, label.format(mix=mix), size, samples, merp_case, hw_case
                )
            limit = samples["limit"]
            report.add(
                f"list {mix}, the limit: native column, plain view",
                partners=size,
                hw_p50_ms=round(p50(limit) * 1000, 2),
                hw_p95_ms=round(p95(limit) * 1000, 2),
                n=len(limit),
            )
    samples = interleave(
        write_cases(merp, hw, merp_ids, hw_ids),
        writes,
        random.Random("http-writes"),
        warmup=args.warmup,
    )
    for label, merp_case, hw_case in WRITE_ROWS:
        found[label] = _row(report, label, None, samples, merp_case, hw_case)

    servers.stop()
    statements = count_statements(url, key, datasets[sizes[0]], merp_ids, hw_ids)
    counts = {}
    for case in statements["merp"]:
        merp_n = len(statements["merp"][case])
        hw_case = "list, page numbers" if "cursor" in case else case
        hw_n = len(statements["hw"][hw_case])
        counts[case] = (merp_n, hw_n)
        report.add(f"statements: {case}", merp_sql=merp_n, hw_sql=hw_n)
    report.emit()
    if args.show_sql:
        for app, cases in statements.items():
            for case, sqls in cases.items():
                print(f"\n-- {app}, {case}: {len(sqls)} statements")
                for sql in sqls:
                    print(f"   {sql[:240]}")
    return {"targets": _targets(found, counts, max(sizes))}


def _row(report, label, size, samples, merp_case, hw_case) -> dict:
    merp, hw = samples[merp_case], samples[hw_case]
    value = ratio(p50(merp), p50(hw))
    report.add(
        label,
        partners=size,
        merp_p50_ms=round(p50(merp) * 1000, 2),
        merp_p95_ms=round(p95(merp) * 1000, 2),
        hw_p50_ms=round(p50(hw) * 1000, 2),
        hw_p95_ms=round(p95(hw) * 1000, 2),
        ratio=value,
        n=len(merp),
    )
    return value


def _targets(found: dict, counts: dict, size: int) -> list[dict]:
    targets = []
    for label, value in found.items():
        limit = 0.8 if "cursor" in label else (1.0 if "list" in label else 1.25)
        targets.append(
            {
                "target": f"http {label}, M-ERP / hand-written ({size // 1000}k) "
                f"<= {limit}",
                "value": value,
                "met": value <= limit,
            }
        )
    for case in ("create", "update"):
        merp_n, hw_n = counts[case]
        targets.append(
            {
                "target": f"http {case}: statements M-ERP <= hand-written ({hw_n}) + 2",
                "value": merp_n,
                "met": merp_n <= hw_n + 2,
            }
        )
    return targets
