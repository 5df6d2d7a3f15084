"""The 15-line object of tests/testapp gets full CRUD, scoping and history."""

from pathlib import Path

import pytest

from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


def test_definition_is_at_most_15_lines():
    source = Path(__file__).resolve().parents[1] / "testapp" / "models.py"
    code = [
        line
        for line in source.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert len(code) <= 15


def test_full_crud(api, admin_a, company_a, member_b):
    client = api(admin_a)
    created = client.post(
        "/api/products/",
        {"sku": "W-1", "name": "Widget", "price": "9.50"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["price"] == "9.50"
    pk = body["id"]
    assert client.get("/api/products/?sku=W-1").json()["count"] == 1
    assert client.get("/api/products/?search=widg").json()["count"] == 1
    updated = client.patch(
        f"/api/products/{pk}/", {"price": "11.00", "version": 1}, format="json"
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    put = client.put(
        f"/api/products/{pk}/",
        {"sku": "W-1", "name": "Widget Pro", "price": "12.00"},
        format="json",
    )
    assert put.status_code == 200 and put.json()["name"] == "Widget Pro"
    assert api(member_b).get(f"/api/products/{pk}/").status_code == 404
    history = client.get(f"/api/products/{pk}/history/").json()["results"]
    assert [h["action"] for h in history] == ["updated", "updated", "created"]
    assert client.delete(f"/api/products/{pk}/").status_code == 204
    assert not Product.objects.filter(pk=pk).exists()


def test_unique_per_company_is_400(api, admin_a, admin_b):
    payload = {"sku": "DUP", "name": "One"}
    assert (
        api(admin_a).post("/api/products/", payload, format="json").status_code == 201
    )
    duplicate = api(admin_a).post("/api/products/", payload, format="json")
    assert duplicate.status_code == 400
    # The same sku in another company is fine: uniqueness is per company.
    assert (
        api(admin_b).post("/api/products/", payload, format="json").status_code == 201
    )
