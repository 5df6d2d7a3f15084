"""10k single-object updates through the service, with history and with
AUDIT_ENABLED=false (events on in both): what the audit trail costs per write.

Updates run in alternating blocks (history on, then off, ...) so that drift on a
shared machine (caches, autovacuum, other load) falls on both sides alike.
"""

import argparse
import time
import uuid

from django.conf import settings
from django.test import override_settings

from .harness import Report, ratio


def run(argv: list[str]) -> None:
    from django.contrib.auth import get_user_model

    from businessobjects import services
    from businessobjects.models import Company, Membership, Partner

    parser = argparse.ArgumentParser(prog="python -m bench audit_updates")
    parser.add_argument("-n", "--updates", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--block", type=int, default=1000)
    args = parser.parse_args(argv)

    suffix = uuid.uuid4().hex[:8]
    company = Company.objects.create(name=f"bench-audit-{suffix}")
    user = get_user_model().objects.create_user(f"bench-audit-{suffix}")
    Membership.objects.create(user=user, company=company, role="admin")
    partners = services.bulk_create(
        Partner,
        rows=[{"name": f"A{i}"} for i in range(args.objects)],
        company=company,
        user=user,
    )
    counter = iter(range(10**9))

    def updates(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            i = next(counter)
            services.update(
                partners[i % len(partners)], data={"name": f"U{i}"}, user=user
            )
        return time.perf_counter() - start

    history = Partner.history.filter(company_id=company.pk)
    updates(200)  # warm-up: connections, caches, serializer builds
    with override_settings(MERP={**settings.MERP, "AUDIT_ENABLED": False}):
        updates(200)
    rows_before = history.count()

    seconds = {"on": 0.0, "off": 0.0}
    remaining = args.updates
    while remaining:
        block = min(args.block, remaining)
        seconds["on"] += updates(block)
        with override_settings(MERP={**settings.MERP, "AUDIT_ENABLED": False}):
            seconds["off"] += updates(block)
        remaining -= block
    written = history.count() - rows_before
    assert written == args.updates, f"expected {args.updates} history rows, {written}"

    n = args.updates
    report = Report("audit_updates")
    for key, label in (("on", "history on"), ("off", "AUDIT_ENABLED=false")):
        report.add(
            f"{n} service updates, {label}",
            total_s=round(seconds[key], 2),
            per_update_ms=round(seconds[key] / n * 1000, 3),
            updates_per_s=round(n / seconds[key]),
        )
    report.rows[0]["ratio_on_vs_off"] = ratio(seconds["on"], seconds["off"])
    report.emit()
    print(
        f"history on: {seconds['on']:.2f}s, off: {seconds['off']:.2f}s, "
        f"ratio {ratio(seconds['on'], seconds['off'])} "
        f"({written} history rows written with history on, none with it off)"
    )
