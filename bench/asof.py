"""As-of list pages (``?as_of=``) against the live list pages they mirror.

``GET /api/partners/?as_of=<instant>`` rebuilds each object of the page from the
history tables (the newest history row per object up to the instant, custom
fields from the values' history); the live page reads the tables themselves.
Both run through the whole Django/DRF stack (test client: middleware, session
auth, company, filters, pagination, JSON). Data sets of 10k and 100k partners
(``--full``: also 1M) over 100 companies; every partner has a history row of
its creation and a ``credit_limit`` decimal custom field (value row and value
history); every other partner was renamed and got a new credit limit later (a
second history row each). The instant lies halfway through those updates, so
an as-of page mixes objects changed since and objects unchanged.

Cases, each timed on the same random company picks, interleaved:

- ``live`` / ``as_of``: the default page (page numbers, so with ``COUNT(*)``);
- ``live, cursor`` / ``as_of, cursor``: ``?cursor=`` pages (no count);
- ``live, ext filter`` / ``as_of, ext filter``: ``ext__credit_limit__gte``.

Each ``as_of`` case prints ``vs_live``, its p50 over the live case's; target: at
most 3 at the largest size. Seeding uses COPY, outside the timing, and is kept
for the next run (``--reseed`` drops it).
"""

import argparse
import json
import random
import time
from datetime import timedelta

from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from .harness import Report, member_of, p50, ratio

COMPANIES = 100
MAX_VALUE = 100_000
WARMUP = 5
SIZES = [10_000, 100_000]
FULL_SIZES = [*SIZES, 1_000_000]
DATASETS = "bench_asof_dataset"
TABLES = (
    "extensions_historicalextensionvalue",
    "extensions_extensionvalue",
    "extensions_fielddefinition",
    "businessobjects_historicalpartner",
    "businessobjects_partner",
    "businessobjects_membership",
)


def _prefix(size: int) -> str:
    return f"bench-asof-{size}-"


def _ensure_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {DATASETS} (
                size integer PRIMARY KEY,
                company_ids bigint[] NOT NULL,
                moment timestamptz NOT NULL
            )
            """
        )


def _dataset(size: int):
    from businessobjects.models import Company

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT company_ids, moment FROM {DATASETS} WHERE size = %s", [size]
        )
        found = cursor.fetchone()
    if found is None:
        return None
    companies = list(Company.objects.filter(pk__in=found[0]).order_by("pk"))
    return (companies, found[1]) if len(companies) == COMPANIES else None


def _drop(size: int) -> None:
    from businessobjects.models import Company

    ids = list(
        Company.objects.filter(name__startswith=_prefix(size)).values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DATASETS} WHERE size = %s", [size])
        if not ids:
            return
        # Bench fixtures only: these rows never went through the services.
        for table in TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE company_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM businessobjects_company WHERE id = ANY(%s)", [ids])


def _copy(cursor, model, rows: list[dict]) -> None:
    """COPY ``rows`` (dicts by column) into ``model``'s table."""
    columns = list(rows[0])
    table = model._meta.db_table
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _seed(size: int):
    """Seed ``size`` partners with history over 100 companies; return the
    companies and the as-of instant."""
    from django.contrib.contenttypes.models import ContentType

    from businessobjects.db import allocate_ids
    from businessobjects.models import Company, Partner
    from extensions import services as ext
    from extensions.models import ExtensionValue

    _drop(size)
    started = time.perf_counter()
    rng = random.Random(size)
    per_company = size // COMPANIES
    base = timezone.now() - timedelta(seconds=3 * per_company)
    # Creations over per_company seconds, then the updates over as many.
    moment = base + timedelta(seconds=per_company * 1.5 - 0.5)
    content_type = ContentType.objects.get_for_model(Partner).pk
    with transaction.atomic():
        companies = Company.objects.bulk_create(
            [Company(name=f"{_prefix(size)}{i:03d}") for i in range(COMPANIES)]
        )
        definitions = [
            ext.definition_create(
                company=company,
                model="partner",
                name="credit_limit",
                field_type="decimal",
                decimal_places=2,
            )
            for company in companies
        ]
        partner_ids = allocate_ids(Partner, per_company * COMPANIES)
        value_ids = allocate_ids(ExtensionValue, per_company * COMPANIES)
        index = 0
        # One company at a time: 1M partners never sit in memory at once.
        for company, definition in zip(companies, definitions, strict=True):
            partners, history, values, value_history = [], [], [], []
            for n in range(per_company):
                pk, value_id = partner_ids[index], value_ids[index]
                index += 1
                created = base + timedelta(seconds=n)
                name, email = f"Partner {n}", f"p{n}@c{company.pk}.bench.example"
                limit = f"{rng.randrange(0, MAX_VALUE * 100) / 100:.2f}"
                row = {
                    "id": pk,
                    "company_id": company.pk,
                    "name": name,
                    "email": email,
                    "phone": "",
                    "is_active": True,
                    "created_at": created,
                    "created_by_id": None,
                    "updated_by_id": None,
                    "version": 1,
                }
                value = {
                    "id": value_id,
                    "company_id": company.pk,
                    "definition_id": definition.pk,
                    "content_type_id": content_type,
                    "object_id": pk,
                    "value_decimal": limit,
                }
                changes = {"name": {"old": None, "new": name}}
                history.append(_history(row, created, "+", changes))
                value_history.append(_history(value, created, "+", {}))
                if n % 2 == 0:
                    updated = base + timedelta(seconds=per_company + n)
                    new_limit = f"{rng.randrange(0, MAX_VALUE * 100) / 100:.2f}"
                    changes = {
                        "name": {"old": name, "new": f"{name} (renamed)"},
                        "extensions.credit_limit": {"old": limit, "new": new_limit},
                    }
                    row = {**row, "name": f"{name} (renamed)", "version": 2}
                    value = {**value, "value_decimal": new_limit}
                    history.append(_history(row, updated, "~", changes))
                    value_history.append(_history(value, updated, "~", {}))
                else:
                    updated = created
                partners.append({**row, "updated_at": updated})
                values.append(value)
            with connection.cursor() as cursor:
                _copy(cursor, Partner, partners)
                _copy(cursor, Partner.history.model, history)
                _copy(cursor, ExtensionValue, values)
                _copy(cursor, ExtensionValue.history.model, value_history)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {DATASETS} (size, company_ids, moment) "
                "VALUES (%s, %s, %s)",
                [size, [c.pk for c in companies], moment],
            )
    with connection.cursor() as cursor:
        for table in TABLES[:5]:
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"  seeded {size} partners with history in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return companies, moment


def _history(row: dict, when, history_type: str, changes: dict) -> dict:
    return {
        **row,
        "history_date": when,
        "history_type": history_type,
        "history_user_id": None,
        "history_change_reason": None,
        "correlation_id": "bench-asof",
        "changes": json.dumps(changes),
    }


def dataset(size: int):
    _ensure_table()
    found = _dataset(size)
    if found is not None:
        print(f"  reusing the {size}-partner as-of data set", flush=True)
        return found
    print(f"  seeding {size} partners with history ...", flush=True)
    return _seed(size)


def _cases(client: Client, moment) -> dict:
    def get(company, params: dict) -> list:
        response = client.get(
            "/api/partners/", params, headers={"X-Company-ID": str(company.pk)}
        )
        assert response.status_code == 200, response.content[:500]
        return response.json()["results"]

    as_of = {"as_of": moment.isoformat()}
    return {
        "live": lambda c, t: get(c, {}),
        "as_of": lambda c, t: get(c, as_of),
        "live, cursor": lambda c, t: get(c, {"cursor": ""}),
        "as_of, cursor": lambda c, t: get(c, {**as_of, "cursor": ""}),
        "live, ext filter": lambda c, t: get(c, {"ext__credit_limit__gte": t}),
        "as_of, ext filter": lambda c, t: get(
            c, {**as_of, "ext__credit_limit__gte": t}
        ),
    }


def _check(cases: dict, picks: list) -> None:
    """The as-of page is the state then: renamed only for updates before it."""
    company, _ = picks[0]
    live, then = cases["live"](company, 0), cases["as_of"](company, 0)
    assert [r["id"] for r in live] == [r["id"] for r in then]
    # The newest partners were renamed after the instant: not yet then.
    assert sum(r["version"] for r in then) < sum(r["version"] for r in live)
    assert all(r["name"].endswith("(renamed)") == (r["version"] == 2) for r in then)


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench asof")
    parser.add_argument("--full", action="store_true", help="also 1M partners")
    parser.add_argument(
        "--sizes", help="comma-separated partner counts (default 10000,100000)"
    )
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--reseed", action="store_true", help="reseed the data sets")
    parser.add_argument("--explain", action="store_true", help="print query plans")
    args = parser.parse_args(argv)
    if connection.vendor != "postgresql":
        raise SystemExit("bench asof needs PostgreSQL (BENCH_DATABASE_URL).")
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else (FULL_SIZES if args.full else SIZES)
    )
    report = Report("asof")
    ratios: dict[int, dict[str, float]] = {}
    with override_settings(DEBUG=False):
        for size in sizes:
            if args.reseed:
                _drop(size)
            companies, moment = dataset(size)
            client = Client()
            client.force_login(member_of(companies, "bench-asof"))
            cases = _cases(client, moment)
            rng = random.Random(f"asof-{size}")
            picks = [
                (rng.choice(companies), rng.randrange(0, MAX_VALUE))
                for _ in range(args.repeats + WARMUP)
            ]
            _check(cases, picks)
            if args.explain:
                _explain(picks[0][0], moment)
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for index, pick in enumerate(picks):
                for name, fn in cases.items():
                    start = time.perf_counter()
                    fn(*pick)
                    if index >= WARMUP:
                        samples[name].append(time.perf_counter() - start)
            for name, timings in samples.items():
                fields = {"partners": size}
                if name.startswith("as_of"):
                    live = name.replace("as_of", "live", 1)
                    value = ratio(p50(timings), p50(samples[live]))
                    fields["vs_live"] = value
                    ratios.setdefault(size, {})[name] = value
                report.add(name, timings, **fields)
    report.emit()
    largest = max(sizes)
    return {
        "targets": [
            {
                "target": f"{name} / live ({largest // 1000}k) <= 3",
                "value": value,
                "met": value <= 3,
            }
            for name, value in ratios[largest].items()
        ]
    }


def _explain(company, moment) -> None:
    from audit import asof
    from businessobjects.models import Partner

    rows = asof.state_at(Partner, company=company, moment=moment)
    print(rows.order_by("-id")[:50].explain(analyze=True))
    print(rows.order_by().values("history_id").explain(analyze=True))
