import pytest

from businessobjects import services
from businessobjects.models import Partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def partners(company_a, company_b):
    services.bulk_create(
        Partner, rows=[{"name": f"B{i}"} for i in range(4)], company=company_b
    )
    return services.bulk_create(
        Partner, rows=[{"name": f"A{i}"} for i in range(7)], company=company_a
    )


def test_cursor_pages_walk_every_row_once_without_count(api, member_a, partners):
    client = api(member_a)
    url = "/api/partners/?cursor=&page_size=3"
    seen = []
    while url:
        body = client.get(url).json()
        assert "count" not in body
        seen += [p["name"] for p in body["results"]]
        url = body["next"]
    assert seen == [f"A{i}" for i in reversed(range(7))]


def test_cursor_ascending(api, member_a, partners):
    body = api(member_a).get("/api/partners/?cursor=&ordering=id&page_size=2").json()
    assert [p["name"] for p in body["results"]] == ["A0", "A1"]


def test_cursor_with_other_ordering_is_400(api, member_a, partners):
    response = api(member_a).get("/api/partners/?cursor=&ordering=name")
    assert response.status_code == 400
    assert "ordering" in response.json()


def test_cursor_keeps_filters(api, member_a, company_a, partners):
    services.update(partners[0], data={"is_active": False})
    body = api(member_a).get("/api/partners/?cursor=&is_active=false").json()
    assert [p["name"] for p in body["results"]] == ["A0"]


def test_garbage_cursor_is_400(api, member_a, partners):
    response = api(member_a).get("/api/partners/?cursor=zzz")
    assert response.status_code == 400
    assert "cursor" in response.json()


@pytest.mark.parametrize("plural", ["partners", "products"])
def test_empty_page_is_400(api, member_a, partners, plural):
    response = api(member_a).get(f"/api/{plural}/?page=")
    assert response.status_code == 400
    assert "page" in response.json()


def test_empty_page_on_history_is_400(api, member_a, partners):
    response = api(member_a).get(f"/api/partners/{partners[0].pk}/history/?page=")
    assert response.status_code == 400
