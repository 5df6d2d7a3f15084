"""A page of 50 partners filtered by a decimal custom field vs a native column.

Seeds N partners over 100 companies, each with a ``credit_limit`` decimal custom
field (bulk INSERT ... SELECT, outside the timing), and a copy of those partners
with ``credit_limit`` as a native indexed column (``bench_ext_native``). Then
times, for a random company and threshold, the first page (50 rows, newest
first) of ``?ext__credit_limit__gte=<x>``:

- ``framework``: the list queryset with the extension filter backend applied,
  exactly as the API builds and runs it (definitions from the cache, the page
  inside ``extensions.filters.index_walk``);
- ``framework+values``: the same page plus the prefetch of its custom values;
- ``native``: the same query on the native column, as a queryset of an
  unmanaged model over ``bench_ext_native``;
- ``framework-sql`` / ``native-sql``: both queries compiled once and run on a
  cursor: the database's cost of each storage model, without Python.

Two threshold mixes: ``broad`` (uniform over the value range: half the rows
match on average) and ``narrow`` (about the top 1%). Sizes: 10k and 100k;
``--full`` adds 1M. Run by hand: ``python -m bench ext_filter [--full]``.
"""

import argparse
import random
import time
import uuid
from types import SimpleNamespace

from django.db import connection, transaction

from .harness import Report, p50, ratio

COMPANIES = 100
PAGE = 50
MAX_VALUE = 100_000
NATIVE = "bench_ext_native"
WARMUP = 5


def _seed(size: int):
    from django.contrib.contenttypes.models import ContentType

    from businessobjects.models import Company, Partner
    from extensions import services as ext

    tag = f"bench-ext-{uuid.uuid4().hex[:8]}"
    companies = Company.objects.bulk_create(
        [Company(name=f"{tag}-{i:03d}") for i in range(COMPANIES)]
    )
    for company in companies:
        ext.definition_create(
            company=company,
            model="partner",
            name="credit_limit",
            field_type="decimal",
            decimal_places=2,
        )
    ids = [c.pk for c in companies]
    per_company = size // COMPANIES
    content_type = ContentType.objects.get_for_model(Partner).pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        # Seeding only: the rows are benchmark fixtures, not business writes, so
        # they skip the services (no history, no events) for speed.
        cursor.execute(
            """
            INSERT INTO businessobjects_partner
                (company_id, name, email, phone, is_active, created_at, updated_at,
                 version)
            SELECT c, 'Partner ' || g, 'p' || g || '@bench.example', '', true,
                   now(), now(), 1
            FROM unnest(%s::bigint[]) AS c, generate_series(1, %s) AS g
            """,
            [ids, per_company],
        )
        cursor.execute("ANALYZE businessobjects_partner")
        cursor.execute(
            """
            INSERT INTO extensions_extensionvalue
                (company_id, definition_id, content_type_id, object_id,
                 value_decimal)
            SELECT p.company_id, d.id, %s, p.id,
                   round((random() * %s)::numeric, 2)
            FROM businessobjects_partner p
            JOIN extensions_fielddefinition d
              ON d.company_id = p.company_id AND d.name = 'credit_limit'
            WHERE p.company_id = ANY(%s)
            """,
            [content_type, MAX_VALUE, ids],
        )
        # Fresh statistics, or the join below may be planned as a nested loop.
        cursor.execute("ANALYZE businessobjects_partner")
        cursor.execute("ANALYZE extensions_extensionvalue")
        cursor.execute(f"DROP TABLE IF EXISTS {NATIVE}")
        cursor.execute(
            f"""
            CREATE TABLE {NATIVE} AS
            SELECT p.*, v.value_decimal AS credit_limit
            FROM businessobjects_partner p
            JOIN extensions_extensionvalue v
              ON v.object_id = p.id AND v.company_id = p.company_id
            WHERE p.company_id = ANY(%s)
            """,
            [ids],
        )
        # The indexes a developer would give a native column (and Partner has).
        cursor.execute(f"ALTER TABLE {NATIVE} ADD PRIMARY KEY (id)")
        cursor.execute(f"CREATE INDEX ON {NATIVE} (company_id, id DESC)")
        cursor.execute(f"CREATE INDEX ON {NATIVE} (company_id, credit_limit)")
    with connection.cursor() as cursor:
        for table in (
            "businessobjects_partner",
            "extensions_extensionvalue",
            NATIVE,
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return companies


def _cleanup(companies) -> None:
    ids = [c.pk for c in companies]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {NATIVE}")
        cursor.execute(
            "DELETE FROM extensions_extensionvalue WHERE company_id = ANY(%s)", [ids]
        )
        cursor.execute(
            "DELETE FROM extensions_fielddefinition WHERE company_id = ANY(%s)", [ids]
        )
        cursor.execute(
            "DELETE FROM businessobjects_partner WHERE company_id = ANY(%s)", [ids]
        )
        cursor.execute("DELETE FROM businessobjects_company WHERE id = ANY(%s)", [ids])


def _native_model():
    """An unmanaged model over the native table (the developer's alternative)."""
    from django.apps import apps
    from django.db import models

    try:
        return apps.get_model("businessobjects", "BenchNativePartner")
    except LookupError:
        pass

    class BenchNativePartner(models.Model):  # noqa: DJ008 (never printed)
        company_id = models.BigIntegerField()
        name = models.CharField(max_length=255)
        email = models.CharField(max_length=254)
        phone = models.CharField(max_length=50)
        is_active = models.BooleanField()
        created_at = models.DateTimeField()
        updated_at = models.DateTimeField()
        version = models.PositiveIntegerField()
        credit_limit = models.DecimalField(max_digits=30, decimal_places=10)

        class Meta:
            app_label = "businessobjects"
            managed = False
            db_table = NATIVE

    return BenchNativePartner


def _cases(companies):
    from django.http import QueryDict

    from businessobjects import selectors
    from businessobjects.models import Partner
    from extensions import services as ext
    from extensions.filters import ExtensionFilterBackend, index_walk

    backend = ExtensionFilterBackend()
    view = SimpleNamespace(action="list")
    native_model = _native_model()

    def _filtered(company, threshold):
        request = SimpleNamespace(
            query_params=QueryDict(f"ext__credit_limit__gte={threshold}"),
            company=company,
        )
        queryset = selectors.list_objects(Partner, company=company)
        queryset = backend.filter_queryset(request, queryset, view).order_by("-id")
        return queryset, request

    def framework_queryset(company, threshold):
        return _filtered(company, threshold)[0]

    def native_queryset(company, threshold):
        return native_model.objects.filter(
            company_id=company.pk, credit_limit__gte=threshold
        ).order_by("-id")

    def framework(company, threshold):
        # As the API runs a filtered page in id order (extensions.filters).
        queryset, request = _filtered(company, threshold)
        with index_walk(request, queryset):
            return list(queryset[:PAGE])

    def framework_values(company, threshold):
        page = framework(company, threshold)
        ext.prefetch(page)
        return page

    def native(company, threshold):
        return list(native_queryset(company, threshold)[:PAGE])

    def precompiled(build, walk=False):
        # Every pick is compiled before the timing, so only the database and
        # the driver are timed.
        statements = {}

        def compile_all(picks):
            for company, threshold in picks:
                query = build(company, threshold)[:PAGE].query
                statements[company.pk, threshold] = query.sql_with_params()

        def run_sql(company, threshold):
            sql, params = statements[company.pk, threshold]
            if not walk:
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall()
            request = SimpleNamespace(merp_extension_filters=True)
            with index_walk(request, build(company, threshold)):
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall()

        run_sql.prepare = compile_all
        return run_sql

    return framework_queryset, {
        "framework": framework,
        "framework+values": framework_values,
        "native": native,
        "framework-sql": precompiled(framework_queryset, walk=True),
        "native-sql": precompiled(native_queryset),
    }


def _measure(cases: dict, picks: list) -> dict[str, list[float]]:
    """Time every case on the same (company, threshold) picks, interleaved.

    Interleaving keeps a shared machine's load swings from favouring the case
    that happened to run while it was quiet.
    """
    for fn in cases.values():
        if hasattr(fn, "prepare"):
            fn.prepare(picks)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for index, pick in enumerate(picks):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn(*pick)
            elapsed = time.perf_counter() - start
            if index >= WARMUP:
                samples[name].append(elapsed)
    return samples


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ext_filter")
    parser.add_argument("--full", action="store_true", help="also 1M partners")
    parser.add_argument(
        "--sizes", help="comma-separated partner counts (default 10000,100000)"
    )
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print query plans")
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded rows afterwards"
    )
    args = parser.parse_args(argv)
    if connection.vendor != "postgresql":
        raise SystemExit("bench ext_filter needs PostgreSQL (BENCH_DATABASE_URL).")
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else [10_000, 100_000] + ([1_000_000] if args.full else [])
    )
    mixes = {
        "broad": lambda rng: rng.randrange(0, MAX_VALUE),
        "narrow": lambda rng: rng.randrange(int(MAX_VALUE * 0.985), MAX_VALUE),
    }
    report = Report("ext_filter")
    for size in sizes:
        print(f"seeding {size} partners over {COMPANIES} companies ...", flush=True)
        companies = _seed(size)
        try:
            framework_queryset, cases = _cases(companies)
            for mix, threshold_of in mixes.items():
                rng = random.Random(f"{size}-{mix}")
                picks = [
                    (rng.choice(companies), threshold_of(rng))
                    for _ in range(args.repeats + WARMUP)
                ]
                if args.explain:
                    print(framework_queryset(*picks[0])[:PAGE].explain(analyze=True))
                timings = _measure(cases, picks)
                for name, samples in timings.items():
                    native = "native-sql" if name.endswith("-sql") else "native"
                    report.add(
                        name,
                        samples,
                        partners=size,
                        mix=mix,
                        ratio_vs_native=ratio(p50(samples), p50(timings[native])),
                    )
        finally:
            if not args.keep:
                _cleanup(companies)
    report.emit()
