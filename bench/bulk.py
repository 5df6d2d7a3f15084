"""Bulk create through the services (history + outbox + custom-field values)
against plain ``bulk_create`` without any of them.

Target (issue 8): the service path reaches at least half the rows per second of
plain ``bulk_create``.
"""

import argparse
import time
import uuid

from .harness import Report, ratio


def _rows(n: int, with_extensions: bool) -> list[dict]:
    rows = []
    for i in range(n):
        row = {"name": f"Bulk partner {i}", "email": f"b{i}@bulk.example.com"}
        if with_extensions:
            row["extensions"] = {"credit_limit": f"{(i % 1000) * 10}.00"}
        rows.append(row)
    return rows


def _define_credit_limit(company) -> bool:
    """Define the decimal custom field when the extensions app provides it."""
    try:
        from extensions.services import define_field
    except ImportError:
        return False
    define_field(
        company=company, model="partner", name="credit_limit", field_type="decimal"
    )
    return True


def run(argv: list[str]) -> None:
    from django.db import connection

    from businessobjects import services
    from businessobjects.models import Company, Partner

    parser = argparse.ArgumentParser(prog="python -m bench bulk")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.rows or 100_000
    report = Report("bulk")

    plain_company = Company.objects.create(
        name=f"bench-bulk-plain-{uuid.uuid4().hex[:6]}"
    )
    instances = [Partner(company=plain_company, **row) for row in _rows(n, False)]
    start = time.perf_counter()
    Partner.objects.bulk_create(instances, batch_size=1000)
    plain = time.perf_counter() - start

    company = Company.objects.create(name=f"bench-bulk-svc-{uuid.uuid4().hex[:6]}")
    with_ext = _define_credit_limit(company)
    rows = _rows(n, with_ext)
    start = time.perf_counter()
    services.bulk_create(Partner, rows=rows, company=company)
    service = time.perf_counter() - start

    report.add(
        "plain bulk_create",
        rows=n,
        seconds=round(plain, 2),
        rows_per_s=round(n / plain),
    )
    report.add(
        "services.bulk_create (history+outbox"
        + ("+custom field)" if with_ext else ")"),
        rows=n,
        seconds=round(service, 2),
        rows_per_s=round(n / service),
        throughput_vs_plain=ratio(plain, service),
    )
    report.emit()
    share = ratio(plain, service)
    print(
        f"target: service >= 0.5x plain rows/s -> {share} "
        f"({'met' if share >= 0.5 else 'NOT met'})"
    )
    connection.close()
