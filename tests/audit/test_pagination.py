"""Cursor pages of history (?cursor=): no count, newest first, consistent with the
page-number listing, including rows that tie on time and on history id."""

from datetime import timedelta

import pytest
from django.utils import timezone

from businessobjects import services
from businessobjects.models import Contact, Partner
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


def walk(client, url: str, key: str = "next") -> list[dict]:
    pages, seen = [], 0
    while url:
        body = client.get(url).json()
        assert "count" not in body
        pages.append(body["results"])
        url = body[key]
        seen += 1
        assert seen < 50, "cursor does not advance"
    return pages


def ids(entries) -> list[tuple]:
    return [(e["object_type"], e["history_id"]) for e in entries]


@pytest.fixture
def crowded_log(company_a):
    partners = services.bulk_create(
        Partner, rows=[{"name": f"P{i}"} for i in range(4)], company=company_a
    )
    services.bulk_create(
        Product,
        rows=[{"sku": f"S{i}", "name": "N"} for i in range(3)],
        company=company_a,
    )
    for partner in partners[:2]:
        services.update(partner, data={"name": partner.name + "!"})
    services.create(
        Contact, data={"partner": partners[0].pk, "name": "C"}, company=company_a
    )
    # Ties: every history row at the same moment, and one partner row and one
    # product row with the same history id.
    moment = timezone.now() - timedelta(minutes=5)
    for model in (Partner, Product, Contact):
        model.history.update(history_date=moment)
    product_row = Product.history.order_by("history_id").first()
    Product.history.filter(pk=product_row.pk).update(history_id=987654)
    Partner.history.filter(pk=Partner.history.order_by("history_id").first().pk).update(
        history_id=987654
    )
    return 10


def test_audit_log_cursor_walks_forward_and_back(api, admin_a, crowded_log):
    client = api(admin_a)
    listing = client.get("/api/audit/?page_size=100").json()
    assert listing["count"] == crowded_log
    expected = ids(listing["results"])
    assert expected[:2] == [("product", 987654), ("partner", 987654)]

    forward = walk(client, "/api/audit/?cursor=&page_size=3")
    assert [len(page) for page in forward] == [3, 3, 3, 1]
    assert ids(e for page in forward for e in page) == expected

    # From the last page back to the first through `previous`.
    last_page = client.get("/api/audit/?cursor=&page_size=3")
    for _ in range(3):
        last_page = client.get(last_page.json()["next"])
    assert last_page.json()["next"] is None
    backward = walk(client, last_page.json()["previous"], key="previous")
    assert ids(e for page in reversed(backward) for e in page) == expected[:9]
    assert client.get("/api/audit/?cursor=&page_size=3").json()["previous"] is None


def test_audit_log_cursor_with_filters(api, admin_a, crowded_log):
    client = api(admin_a)
    expected = ids(client.get("/api/audit/?object_type=partner").json()["results"])
    pages = walk(client, "/api/audit/?object_type=partner&cursor=&page_size=4")
    assert ids(e for page in pages for e in page) == expected and len(expected) == 6


def test_invalid_cursor_is_400(api, admin_a, company_a):
    response = api(admin_a).get("/api/audit/?cursor=not-a-cursor")
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_object_history_cursor(api, member_a, company_a):
    partner = services.create(Partner, data={"name": "v1"}, company=company_a)
    for version in range(2, 8):
        services.update(partner, data={"name": f"v{version}"})
    client = api(member_a)
    pages = walk(client, f"/api/partners/{partner.pk}/history/?cursor=&page_size=3")
    assert [len(page) for page in pages] == [3, 3, 1]
    names = [e["changes"]["name"]["new"] for page in pages for e in page]
    assert names == [f"v{v}" for v in range(7, 0, -1)]
