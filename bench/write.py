"""Single writes through the API with audit and events on, off, and plain ORM.

Each write is a full request through the test client (token authentication,
middleware, DRF, the services): ``POST /api/partners/`` with a name and a
``credit_limit`` custom field, and ``PATCH /api/partners/{id}/`` of the name.
Cases:

- ``on``: AUDIT_ENABLED and EVENT_PUBLISHING_ENABLED on (history row, outbox
  event and its sequencing after commit, as in production);
- ``off``: both off (the same request, the row and custom-field value only);
- ``plain ORM``: ``Partner.objects.create(...)`` / ``save()`` without the API,
  the services or custom fields: what the whole stack costs on top.

The cases alternate write by write, so load swings on a shared machine hit all
alike. Target (issue 8): API writes with audit and events on within 2x of the
same writes with both off.
"""

import argparse
import time
import uuid

from django.conf import settings
from django.db import connection
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .harness import Report, delete_companies, p50, ratio

OFF = {"AUDIT_ENABLED": False, "EVENT_PUBLISHING_ENABLED": False}
WARMUP = 20


def _setup():
    from django.contrib.auth import get_user_model

    from businessobjects.models import Company, Membership
    from extensions.services import definition_create

    suffix = uuid.uuid4().hex[:8]
    company = Company.objects.create(name=f"bench-write-{suffix}")
    definition_create(
        company=company,
        model="partner",
        name="credit_limit",
        field_type="decimal",
        decimal_places=2,
    )
    user = get_user_model().objects.create_user(f"bench-{suffix}", password="x")
    Membership.objects.create(user=user, company=company, role="admin", is_default=True)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}"
    )
    return company, user, client


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench write")
    parser.add_argument("--full", action="store_true", help="2000 writes per case")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (2000 if args.full else 500)
    from events import relay

    # Writers sequence their events after commit: start without a backlog that
    # the first writes would sequence for others, and with the outbox's
    # statistics current (another benchmark may have just emptied it).
    relay.sequence_outbox()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_outboxevent")
    company, user, client = _setup()
    try:
        return _run(company, client, repeats)
    finally:
        delete_companies([company.pk])


def _run(company, client, repeats: int) -> dict:
    from businessobjects.models import Partner

    counter = iter(range(10**9))
    targets = {
        setting: Partner.objects.create(company=company, name=f"target-{setting}")
        for setting in ("on", "off", "plain")
    }

    def api_create():
        i = next(counter)
        response = client.post(
            "/api/partners/",
            {"name": f"W{i}", "extensions": {"credit_limit": f"{i % 1000}.00"}},
            format="json",
        )
        assert response.status_code == 201, response.content

    def plain_create():
        Partner.objects.create(company=company, name=f"W{next(counter)}")

    def api_update(setting):
        def update():
            response = client.patch(
                f"/api/partners/{targets[setting].pk}/",
                {"name": f"U{next(counter)}"},
                format="json",
            )
            assert response.status_code == 200, response.content

        return update

    def plain_update():
        target = targets["plain"]
        target.name = f"U{next(counter)}"
        target.version += 1
        target.save()

    cases = {
        "create_on": (api_create, None),
        "create_off": (api_create, OFF),
        "create_plain": (plain_create, OFF),
        "update_on": (api_update("on"), None),
        "update_off": (api_update("off"), OFF),
        "update_plain": (plain_update, OFF),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for index in range(repeats + WARMUP):
        for name, (write, overrides) in cases.items():
            context = (
                override_settings(MERP={**settings.MERP, **overrides})
                if overrides
                else None
            )
            if context:
                context.enable()
            try:
                start = time.perf_counter()
                write()
                elapsed = time.perf_counter() - start
            finally:
                if context:
                    context.disable()
            if index >= WARMUP:
                samples[name].append(elapsed)

    report = Report("write")
    found = []
    for op in ("create", "update"):
        on, off, plain = (p50(samples[f"{op}_{k}"]) for k in ("on", "off", "plain"))
        report.add(f"api {op}, audit+events on", samples[f"{op}_on"])
        report.add(
            f"api {op}, audit+events off",
            samples[f"{op}_off"],
            on_vs_off=ratio(on, off),
        )
        report.add(
            f"plain ORM {op}",
            samples[f"{op}_plain"],
            on_vs_plain=ratio(on, plain),
        )
        found.append(
            {
                "target": f"api {op}: audit+events on / off <= 2",
                "value": ratio(on, off),
                "met": ratio(on, off) <= 2,
            }
        )
    report.emit()
    return {"targets": found}
