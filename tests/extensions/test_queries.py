"""A list page costs a constant number of queries; definitions come from the cache."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from businessobjects import services as bo
from businessobjects.models import Partner
from extensions import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(company_a, define):
    define(company_a, "tier", "choice", choices=["gold", "silver"])
    define(company_a, "credit_limit", "decimal", decimal_places=2)
    define(company_a, "since", "date")
    define(company_a, "meta", "json")
    bo.bulk_create(
        Partner,
        rows=[
            {
                "name": f"P{i}",
                "extensions": {
                    "tier": "gold" if i % 2 else "silver",
                    "credit_limit": str(i * 100),
                    "since": "2024-01-01",
                    "meta": {"i": i},
                },
            }
            for i in range(30)
        ],
        company=company_a,
    )


def _count(client, query: str) -> int:
    client.get(f"/api/partners/?{query}")  # warm the definitions cache
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/partners/?{query}")
    assert response.status_code == 200
    assert all(r["extensions"]["tier"] for r in response.json()["results"])
    return len(captured)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ext__credit_limit__gte=500&ordering=-ext__credit_limit",
        "ext__tier=gold&ext__since__isnull=false&ordering=ext__tier",
    ],
)
def test_list_query_count_is_constant(api, member_a, many, query):
    client = api(member_a)
    small = _count(client, f"page_size=3&{query}")
    large = _count(client, f"page_size=25&{query}")
    assert small == large


def test_list_page_queries(api, member_a, many, django_assert_num_queries):
    client = api(member_a)
    client.get("/api/partners/")
    # membership + count + page + one query for all the page's values
    with django_assert_num_queries(4):
        response = client.get("/api/partners/?page_size=20")
    assert len(response.json()["results"]) == 20


def test_warm_list_does_not_query_definitions(api, member_a, many):
    client = api(member_a)
    client.get("/api/partners/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/partners/?ext__tier=gold&ordering=ext__credit_limit")
    assert not [q for q in captured if "extensions_fielddefinition" in q["sql"]]


def test_cache_is_invalidated_on_change(api, member_a, admin_a, company_a, many):
    client = api(member_a)
    assert "rank" not in client.get("/api/partners/").json()["results"][0]["extensions"]
    created = api(admin_a).post(
        "/api/custom-fields/",
        {"model": "partner", "name": "rank", "field_type": "integer"},
        format="json",
    )
    assert created.status_code == 201
    listed = client.get("/api/partners/").json()["results"][0]["extensions"]
    assert listed["rank"] is None
    api(admin_a).patch(
        f"/api/custom-fields/{created.json()['id']}/",
        {"is_active": False},
        format="json",
    )
    assert "rank" not in client.get("/api/partners/").json()["results"][0]["extensions"]
    assert client.get("/api/partners/?ext__rank=1").status_code == 400


def test_cache_invalidated_after_commit(
    company_a, define, django_capture_on_commit_callbacks
):
    from extensions import cache

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        define(company_a, "tier", "string")
    names = [d.name for d in services.definitions_for(company_a, Partner)]
    assert names == ["tier"]
    # A definition read by a concurrent request before the commit, cached under
    # the generation current then, is dropped by the after-commit bump.
    key_before = cache._generation(company_a.pk, _ct(Partner))
    for callback in callbacks:
        callback()
    assert cache._generation(company_a.pk, _ct(Partner)) != key_before


def _ct(model) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(model).pk


def test_custom_fields_work_with_the_cache_down(
    settings, api, member_a, company_a, define, partner, caplog
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    response = api(member_a).get("/api/partners/", {"ext__tier": "gold"})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [p.pk]
    assert response.json()["results"][0]["extensions"] == {"tier": "gold"}
    assert "cache unavailable" in caplog.text
    assert "Could not invalidate" in caplog.text


@pytest.fixture
def lookups(monkeypatch):
    """Count the definitions lookups that reach the cache (or the database)."""
    from extensions import cache

    calls = []
    original = cache._cached

    def counting(company_id, content_type_id):
        calls.append((company_id, content_type_id))
        return original(company_id, content_type_id)

    monkeypatch.setattr(cache, "_cached", counting)
    return calls


@pytest.mark.parametrize(
    "query",
    ["", "?ext__tier=gold&ordering=-ext__credit_limit", "?ext__since__isnull=false"],
)
def test_a_list_request_looks_definitions_up_once(api, member_a, many, lookups, query):
    response = api(member_a).get(f"/api/partners/{query}")
    assert response.status_code == 200
    assert len(lookups) == 1


def test_a_write_request_looks_definitions_up_once(api, member_a, many, lookups):
    client = api(member_a)
    created = client.post(
        "/api/partners/",
        {"name": "N", "extensions": {"tier": "gold", "credit_limit": "5"}},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert len(lookups) == 1
    lookups.clear()
    partner_id = created.json()["id"]
    updated = client.patch(
        f"/api/partners/{partner_id}/", {"extensions": {"tier": None}}, format="json"
    )
    assert updated.status_code == 200, updated.content
    assert updated.json()["extensions"]["tier"] is None
    assert len(lookups) == 1


def test_bulk_writes_look_definitions_up_once(company_a, many, lookups):
    created = bo.bulk_create(
        Partner,
        rows=[{"name": f"B{i}", "extensions": {"tier": "gold"}} for i in range(40)],
        company=company_a,
    )
    assert len(lookups) == 1
    lookups.clear()
    bo.bulk_update(
        Partner,
        rows=[{"id": p.pk, "extensions": {"tier": "silver"}} for p in created],
        company=company_a,
    )
    assert len(lookups) == 1


def test_a_change_inside_a_pinned_block_is_seen(company_a, define):
    with services.pinned_definitions():
        assert services.definitions_for(company_a, Partner) == []
        define(company_a, "tier", "string")
        assert [d.name for d in services.definitions_for(company_a, Partner)] == [
            "tier"
        ]
        with services.pinned_definitions():  # nested blocks share the outer one
            assert len(services.definitions_for(company_a, Partner)) == 1
    # Outside any block every lookup goes to the cache.
    assert len(services.definitions_for(company_a, Partner)) == 1
