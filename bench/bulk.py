"""Bulk create through the services (history + outbox + custom-field values)
against plain ``bulk_create`` without any of them.

Both sides start from the same input, rows as dicts (an import), and the same
acting user: plain builds ``Partner`` instances and calls
``Partner.objects.bulk_create(batch_size=1000)``; the service path validates
each row, writes the partners, their ``credit_limit`` custom-field values, one
history row per partner and per value, and one outbox event per partner, in one
transaction, then sequences the first batch of events after commit. The two
runs alternate (plain, service, plain, service, ...) and the medians are
compared; the companies written are deleted afterwards.

Target (issue 8): the service path reaches at least half the rows per second of
plain ``bulk_create``.
"""

import argparse
import statistics
import time
import uuid

from .harness import Report, delete_companies, ratio


def _rows(n: int, with_extensions: bool) -> list[dict]:
    rows = []
    for i in range(n):
        row = {"name": f"Bulk partner {i}", "email": f"b{i}@bulk.example.com"}
        if with_extensions:
            row["extensions"] = {"credit_limit": f"{(i % 1000) * 10}.00"}
        rows.append(row)
    return rows


def run(argv: list[str]) -> dict:
    from django.contrib.auth import get_user_model

    from businessobjects import services
    from businessobjects.models import Company, Partner
    from extensions.services import definition_create

    parser = argparse.ArgumentParser(prog="python -m bench bulk")
    parser.add_argument("--full", action="store_true", help="3 runs each")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.rows
    runs = args.runs or (3 if args.full else 1)
    user, _ = get_user_model().objects.get_or_create(username="bench-bulk")
    report = Report("bulk")
    companies: list[int] = []
    plain_times, service_times = [], []
    try:
        for _ in range(runs):
            tag = uuid.uuid4().hex[:6]
            plain_company = Company.objects.create(name=f"bench-bulk-plain-{tag}")
            company = Company.objects.create(name=f"bench-bulk-svc-{tag}")
            companies += [plain_company.pk, company.pk]
            definition_create(
                company=company,
                model="partner",
                name="credit_limit",
                field_type="decimal",
                decimal_places=2,
            )
            rows = _rows(n, False)
            start = time.perf_counter()
            Partner.objects.bulk_create(
                [
                    Partner(
                        company=plain_company, created_by=user, updated_by=user, **row
                    )
                    for row in rows
                ],
                batch_size=1000,
            )
            plain_times.append(time.perf_counter() - start)

            rows = _rows(n, True)
            start = time.perf_counter()
            services.bulk_create(Partner, rows=rows, company=company, user=user)
            service_times.append(time.perf_counter() - start)
            del rows
    finally:
        delete_companies(companies)

    plain, service = statistics.median(plain_times), statistics.median(service_times)
    report.add(
        "plain bulk_create",
        rows=n,
        runs=runs,
        seconds=round(plain, 2),
        rows_per_s=round(n / plain),
    )
    report.add(
        "services.bulk_create (history+outbox+custom field)",
        rows=n,
        runs=runs,
        seconds=round(service, 2),
        rows_per_s=round(n / service),
        throughput_vs_plain=ratio(plain, service),
    )
    report.emit()
    share = ratio(plain, service)
    return {
        "targets": [
            {
                "target": "bulk create rows/s, services / plain >= 0.5",
                "value": share,
                "met": share >= 0.5,
            }
        ]
    }
