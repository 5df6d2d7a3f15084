"""Single writes through the API with audit and events on, off, and plain ORM.

Targets (issue 8): API writes with audit and events on within 2x of the same
writes with both off. The plain ``Model.objects.create`` / ``save()`` rows show
what the whole HTTP + DRF + service stack costs on top of the ORM.
"""

import argparse
import uuid

from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .harness import Report, measure, p50, ratio

OFF = {"AUDIT_ENABLED": False, "EVENT_PUBLISHING_ENABLED": False}


def _setup():
    from django.contrib.auth import get_user_model

    from businessobjects.models import Company, Membership

    suffix = uuid.uuid4().hex[:8]
    company = Company.objects.create(name=f"bench-write-{suffix}")
    user = get_user_model().objects.create_user(f"bench-{suffix}", password="x")
    Membership.objects.create(user=user, company=company, role="admin", is_default=True)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}"
    )
    return company, user, client


def run(argv: list[str]) -> None:
    from businessobjects.models import Partner

    parser = argparse.ArgumentParser(prog="python -m bench write")
    parser.add_argument("--full", action="store_true", help="more repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (2000 if args.full else 500)
    company, user, client = _setup()
    report = Report("write")
    counter = iter(range(10**9))

    def api_create():
        response = client.post(
            "/api/partners/", {"name": f"W{next(counter)}"}, format="json"
        )
        assert response.status_code == 201, response.content

    def plain_create():
        Partner.objects.create(company=company, name=f"W{next(counter)}")

    target = Partner.objects.create(company=company, name="target")

    def api_update():
        response = client.patch(
            f"/api/partners/{target.pk}/", {"name": f"U{next(counter)}"}, format="json"
        )
        assert response.status_code == 200, response.content

    def plain_update():
        target.name = f"U{next(counter)}"
        target.version += 1
        target.save()

    results = {}
    results["create_on"] = measure(api_create, repeats=repeats)
    with override_settings(**OFF):
        results["create_off"] = measure(api_create, repeats=repeats)
        results["create_plain"] = measure(plain_create, repeats=repeats)
    results["update_on"] = measure(api_update, repeats=repeats)
    with override_settings(**OFF):
        results["update_off"] = measure(api_update, repeats=repeats)
        target.refresh_from_db()
        results["update_plain"] = measure(plain_update, repeats=repeats)

    for op in ("create", "update"):
        on, off, plain = (p50(results[f"{op}_{k}"]) for k in ("on", "off", "plain"))
        report.add(f"api {op}, audit+events on", results[f"{op}_on"])
        report.add(
            f"api {op}, audit+events off",
            results[f"{op}_off"],
            ratio_on_vs_off=ratio(on, off),
        )
        report.add(
            f"plain ORM {op}",
            results[f"{op}_plain"],
            ratio_on_vs_plain=ratio(on, plain),
        )
    report.emit()
    on_off = max(
        ratio(p50(results["create_on"]), p50(results["create_off"])),
        ratio(p50(results["update_on"]), p50(results["update_off"])),
    )
    print(f"target: on/off <= 2.0 -> {on_off} ({'met' if on_off <= 2 else 'NOT met'})")
