"""AUDIT_ENABLED=false turns every history write off, and nothing else."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from businessobjects import services
from businessobjects.models import Partner
from events.models import OutboxEvent
from tests.testapp.models import Product
from tests.utils import override_merp

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@override_merp(AUDIT_ENABLED=False)
def test_no_history_on_any_service_path(company_a, admin_a):
    partner = services.create(Partner, data={"name": "A"}, company=company_a)
    services.update(partner, data={"name": "B"}, reason="ignored")
    products = services.bulk_create(
        Product, rows=[{"sku": "S1", "name": "N"}], company=company_a
    )
    services.bulk_update(
        Product, rows=[{"id": products[0].pk, "name": "M"}], company=company_a
    )
    services.delete(partner)
    assert not Partner.history.exists()
    assert not Product.history.exists()
    # Only history is off: the writes and their events happened.
    assert Product.objects.get().name == "M"
    assert sorted(OutboxEvent.objects.values_list("event_type", flat=True)) == [
        "partner.created",
        "partner.deleted",
        "partner.updated",
        "product.created",
        "product.updated",
    ]


@override_merp(AUDIT_ENABLED=False)
def test_no_history_through_api_and_admin(api, client, admin_a, company_a):
    pk = api(admin_a).post("/api/partners/", {"name": "A"}, format="json").json()["id"]
    client.force_login(admin_a)
    client.post(
        f"/admin/businessobjects/partner/{pk}/change/", {"name": "B", "is_active": "on"}
    )
    client.post(f"/admin/businessobjects/partner/{pk}/delete/", {"post": "yes"})
    assert not Partner.objects.exists()
    assert not Partner.history.exists()


@override_merp(AUDIT_ENABLED=False)
def test_a_direct_save_or_delete_writes_no_history_either(company_a):
    # Even when simple-history's own switch was left on (a project that sets only
    # AUDIT_ENABLED): AUDIT_ENABLED is the one switch.
    with override_settings(SIMPLE_HISTORY_ENABLED=True):
        partner = services.create(Partner, data={"name": "A"}, company=company_a)
        partner.name = "side door"
        partner.save()
        services.delete(partner)
    assert not Partner.history.exists()


def test_history_resumes_when_enabled_again(company_a):
    with override_merp(AUDIT_ENABLED=False):
        partner = services.create(Partner, data={"name": "A"}, company=company_a)
    services.update(partner, data={"name": "B"})
    assert [r.history_type for r in partner.history.all()] == ["~"]


@pytest.mark.parametrize(("value", "expected"), [("false", "False"), ("", "True")])
def test_environment_variable(value, expected):
    env = {k: v for k, v in os.environ.items() if k != "AUDIT_ENABLED"}
    if value:
        env["AUDIT_ENABLED"] = value
    env["DJANGO_SETTINGS_MODULE"] = "merp.settings"
    code = (
        "import django; django.setup();"
        "from django.conf import settings;"
        "from businessobjects.conf import merp_settings;"
        "print(merp_settings.AUDIT_ENABLED, settings.SIMPLE_HISTORY_ENABLED)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert output == [expected, expected]
