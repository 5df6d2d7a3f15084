"""Shared benchmark plumbing: a real PostgreSQL database, timing, reporting.

Benchmarks run against PostgreSQL (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/merp_bench``) and Redis (``BENCH_REDIS_URL``,
default ``redis://127.0.0.1:6379/15``), never the test database. Results print as a
table and append as JSON lines to ``bench/results/<name>.jsonl`` (git-ignored).
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/merp_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def setup_django() -> None:
    """Point Django at the benchmark database (created and migrated if needed)."""
    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("REDIS_URL", os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    # Cached custom-field definitions are keyed by company id: two benchmark
    # databases sharing a Redis db must not read each other's.
    name = db_url.rsplit("/", 1)[-1].split("?")[0]
    os.environ.setdefault("CACHE_KEY_PREFIX", f"merp-bench-{name}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merp.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    _create_database(db_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _create_database(url: str) -> None:
    import environ
    import psycopg

    config = environ.Env.db_url_config(url)
    dsn = (
        f"host={config['HOST'] or '127.0.0.1'} port={config['PORT'] or 5432} "
        f"user={config['USER'] or 'postgres'} dbname=postgres"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


def measure(
    fn: Callable[[], object], *, repeats: int = 20, warmup: int = 3
) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times; seconds each."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Report:
    """Collect rows, then print a table and append JSON lines."""

    def __init__(self, name: str):
        self.name = name
        self.rows: list[dict] = []

    def add(self, case: str, samples: list[float] | None = None, **fields) -> dict:
        row = {"bench": self.name, "case": case, **fields}
        if samples is not None:
            row.update(
                p50_ms=round(p50(samples) * 1000, 3),
                p95_ms=round(p95(samples) * 1000, 3),
                n=len(samples),
            )
        self.rows.append(row)
        return row

    def emit(self) -> None:
        columns: list[str] = []
        for row in self.rows:
            columns += [key for key in row if key not in columns and key != "bench"]
        widths = {
            c: max(len(c), *(len(_fmt(r.get(c))) for r in self.rows)) for c in columns
        }
        print()
        print(f"== {self.name} ==")
        print("  ".join(c.ljust(widths[c]) for c in columns))
        for row in self.rows:
            print("  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with (RESULTS / f"{self.name}.jsonl").open("a") as out:
            for row in self.rows:
                out.write(json.dumps({"at": stamp, **row}) + "\n")
        sys.stdout.flush()


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("inf")


# Tables holding a company's rows, children first.
COMPANY_TABLES = (
    "events_outboxevent",
    "extensions_historicalextensionvalue",
    "extensions_extensionvalue",
    "extensions_fielddefinition",
    "businessobjects_historicaladdress",
    "businessobjects_address",
    "businessobjects_historicalcontact",
    "businessobjects_contact",
    "businessobjects_historicalpartner",
    "businessobjects_partner",
    "businessobjects_membership",
)


def member_of(companies, username: str):
    """The bench user ``username``, a member of every company in ``companies``."""
    from django.contrib.auth import get_user_model

    from businessobjects.models import Membership

    user, _ = get_user_model().objects.get_or_create(username=username)
    have = set(
        Membership.objects.filter(user=user, company__in=companies).values_list(
            "company_id", flat=True
        )
    )
    Membership.objects.bulk_create(
        [
            Membership(user=user, company=c, role="member")
            for c in companies
            if c.pk not in have
        ]
    )
    return user


def delete_companies(company_ids: list[int]) -> None:
    """Delete what a benchmark wrote for its companies (bench fixtures, so SQL)."""
    from django.db import connection, transaction

    if not company_ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for table in COMPANY_TABLES:
            cursor.execute(
                f"DELETE FROM {table} WHERE company_id = ANY(%s)", [company_ids]
            )
        cursor.execute(
            "DELETE FROM businessobjects_company WHERE id = ANY(%s)", [company_ids]
        )
    with connection.cursor() as cursor:
        for table in ("businessobjects_partner", "extensions_extensionvalue"):
            cursor.execute(f"ANALYZE {table}")
