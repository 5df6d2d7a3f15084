"""Every write path leaves history: API, admin, service calls, bulk create, bulk
update, management commands; each row with user, company, correlation id and
change reason."""

from io import StringIO

import pytest
from django.core.management import call_command

from businessobjects import services
from businessobjects.context import use_context
from businessobjects.models import Company, Partner
from events.models import OutboxEvent
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


def test_api_create_update_delete(api, admin_a, company_a):
    client = api(admin_a)
    headers = {"HTTP_X_CORRELATION_ID": "req-1", "HTTP_X_CHANGE_REASON": "onboarding"}
    created = client.post("/api/partners/", {"name": "Acme"}, format="json", **headers)
    assert created.status_code == 201
    pk = created.json()["id"]
    patched = client.patch(
        f"/api/partners/{pk}/",
        {"email": "a@acme.test"},
        format="json",
        HTTP_X_CORRELATION_ID="req-2",
        HTTP_X_CHANGE_REASON="new mailbox",
    )
    assert patched.status_code == 200
    deleted = client.delete(
        f"/api/partners/{pk}/",
        HTTP_X_CORRELATION_ID="req-3",
        HTTP_X_CHANGE_REASON="duplicate",
    )
    assert deleted.status_code == 204

    rows = list(Partner.history.filter(id=pk).order_by("history_id"))
    assert [
        (r.history_type, r.history_user, r.company_id, r.correlation_id) for r in rows
    ] == [
        ("+", admin_a, company_a.pk, "req-1"),
        ("~", admin_a, company_a.pk, "req-2"),
        ("-", admin_a, company_a.pk, "req-3"),
    ]
    assert [r.history_change_reason for r in rows] == [
        "onboarding",
        "new mailbox",
        "duplicate",
    ]
    assert rows[1].changes == {"email": {"old": "", "new": "a@acme.test"}}
    # The history row and the event of one write share the correlation id.
    assert OutboxEvent.objects.get(event_type="partner.updated").correlation_id == (
        "req-2"
    )


def test_api_without_correlation_header_gets_a_fresh_id(api, admin_a):
    response = api(admin_a).post("/api/partners/", {"name": "A"}, format="json")
    echoed = response["X-Correlation-ID"]
    assert len(echoed) == 36
    assert Partner.history.get(id=response.json()["id"]).correlation_id == echoed


def test_admin_add_change_delete(client, admin_a, company_a):
    client.force_login(admin_a)
    added = client.post(
        "/admin/businessobjects/partner/add/",
        {"company": company_a.pk, "name": "Admin Co", "is_active": "on"},
        HTTP_X_CORRELATION_ID="adm-1",
    )
    assert added.status_code == 302
    partner = Partner.objects.get(name="Admin Co")
    changed = client.post(
        f"/admin/businessobjects/partner/{partner.pk}/change/",
        {"name": "Admin Co 2", "email": "", "phone": "", "is_active": "on"},
        HTTP_X_CORRELATION_ID="adm-2",
    )
    assert changed.status_code == 302
    removed = client.post(
        f"/admin/businessobjects/partner/{partner.pk}/delete/",
        {"post": "yes"},
        HTTP_X_CORRELATION_ID="adm-3",
    )
    assert removed.status_code == 302
    rows = list(Partner.history.filter(id=partner.pk).order_by("history_id"))
    assert [(r.history_type, r.correlation_id) for r in rows] == [
        ("+", "adm-1"),
        ("~", "adm-2"),
        ("-", "adm-3"),
    ]
    assert {(r.history_user, r.company_id) for r in rows} == {(admin_a, company_a.pk)}
    assert rows[1].changes == {"name": {"old": "Admin Co", "new": "Admin Co 2"}}


def test_service_calls_take_user_and_correlation_from_context(company_a, admin_a):
    with use_context(user=admin_a, company=company_a, correlation_id="job-7"):
        partner = services.create(Partner, data={"name": "Ctx"}, reason="import")
        services.update(partner, data={"phone": "1"})
        services.delete(partner, reason="cleanup")
    rows = list(Partner.history.filter(id=partner.pk).order_by("history_id"))
    assert [
        (r.history_type, r.history_user, r.correlation_id, r.history_change_reason)
        for r in rows
    ] == [
        ("+", admin_a, "job-7", "import"),
        ("~", admin_a, "job-7", None),
        ("-", admin_a, "job-7", "cleanup"),
    ]


def test_bulk_create_records_user_company_correlation_and_reason(company_a, admin_a):
    with use_context(correlation_id="bulk-1"):
        created = services.bulk_create(
            Product,
            rows=[{"sku": f"S{i}", "name": f"N{i}"} for i in range(5)],
            company=company_a,
            user=admin_a,
            reason="catalogue load",
        )
    rows = Product.history.filter(id__in=[p.pk for p in created])
    assert rows.count() == 5
    assert set(
        rows.values_list(
            "history_type",
            "history_user",
            "company",
            "correlation_id",
            "history_change_reason",
        )
    ) == {("+", admin_a.pk, company_a.pk, "bulk-1", "catalogue load")}


def test_bulk_update_records_user_company_correlation_and_reason(company_a, admin_a):
    products = services.bulk_create(
        Product,
        rows=[{"sku": f"S{i}", "name": f"N{i}"} for i in range(3)],
        company=company_a,
    )
    with use_context(correlation_id="bulk-2"):
        services.bulk_update(
            Product,
            rows=[{"id": p.pk, "price": "2.50"} for p in products],
            company=company_a,
            user=admin_a,
            reason="price list 2025",
        )
    rows = Product.history.filter(history_type="~")
    assert rows.count() == 3
    assert set(
        rows.values_list(
            "history_user", "company", "correlation_id", "history_change_reason"
        )
    ) == {(admin_a.pk, company_a.pk, "bulk-2", "price list 2025")}


def test_management_command_writes_history_as_the_company_admin():
    call_command("merp_seed_demo", "--partners", "4", stdout=StringIO())
    for company in Company.objects.all():
        admin = company.memberships.get(role="admin").user
        rows = Partner.history.filter(company_id=company.pk)
        assert rows.count() == 4
        assert set(rows.values_list("history_type", "history_user")) == {
            ("+", admin.pk)
        }
        correlation_ids = set(rows.values_list("correlation_id", flat=True))
        assert len(correlation_ids) == 1 and "" not in correlation_ids


def test_saving_outside_the_services_still_leaves_history(make_partner, admin_a):
    # Not a supported write path, but a side door must not escape the audit.
    partner = make_partner("Side")
    partner.name = "Side door"
    partner._history_user = admin_a
    partner.save()
    assert partner.history.first().history_type == "~"
    assert partner.history.first().history_user == admin_a
