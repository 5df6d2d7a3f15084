"""List pages filtered by custom fields: the index walk (PostgreSQL planner steering)
and the covering value index it reads."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from businessobjects import services as bo
from businessobjects.models import Partner
from extensions.filters import index_walk

pytestmark = pytest.mark.django_db

SET_CONFIG = "set_config('enable_hashjoin', 'off', true)"


@pytest.fixture
def limits(company_a, define):
    define(company_a, "credit_limit", "decimal", decimal_places=2)
    return bo.bulk_create(
        Partner,
        rows=[
            {"name": f"P{i}", "extensions": {"credit_limit": str(i * 10)}}
            for i in range(30)
        ],
        company=company_a,
    )


def _ids(client, query: str) -> tuple[list[int], list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/partners/?{query}")
    assert response.status_code == 200, response.content
    ids = [row["id"] for row in response.json()["results"]]
    return ids, [q["sql"] for q in captured]


@pytest.mark.parametrize("paging", ["", "&cursor=", "&ordering=id", "&page=2"])
def test_filtered_pages_in_id_order_walk_the_index(api, member_a, limits, paging):
    client = api(member_a)
    ids, sql = _ids(client, f"ext__credit_limit__gte=100&page_size=5{paging}")
    assert any(SET_CONFIG in q for q in sql)
    expected = sorted((p.pk for p in limits[10:]), reverse=paging != "&ordering=id")
    offset = 5 if paging == "&page=2" else 0
    assert ids == expected[offset : offset + 5]


@pytest.mark.parametrize(
    "query",
    [
        "page_size=5",  # no custom-field filter
        "ext__credit_limit__gte=100&ordering=name",  # not in id order
        "ext__credit_limit__gte=100&ordering=-ext__credit_limit",
    ],
)
def test_other_pages_leave_the_plan_alone(api, member_a, limits, query):
    ids, sql = _ids(api(member_a), query)
    assert ids
    assert not any(SET_CONFIG in q for q in sql)


def test_the_switch_turns_it_off(api, member_a, limits, settings):
    client = api(member_a)
    walked, _ = _ids(client, "ext__credit_limit__gte=55")
    settings.MERP = {**settings.MERP, "EXTENSIONS_FILTER_INDEX_WALK": False}
    planned, sql = _ids(client, "ext__credit_limit__gte=55")
    assert not any(SET_CONFIG in q for q in sql)
    assert walked == planned == sorted((p.pk for p in limits[6:]), reverse=True)


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_planner_settings_end_with_the_page(api, member_a, limits):
    assert not connection.in_atomic_block
    ids, _ = _ids(api(member_a), "ext__credit_limit__gte=100&cursor=")
    assert len(ids) == 20
    # SET LOCAL: gone with the page's transaction, never left on the connection.
    assert _setting("enable_hashjoin") == "on"
    assert _setting("enable_mergejoin") == "on"


def test_inside_the_block_hash_joins_are_off(limits, company_a, rf):
    queryset = Partner.objects.for_company(company_a).order_by("-id")
    request = rf.get("/")
    request.merp_extension_filters = True
    with transaction.atomic():
        with index_walk(request, queryset):
            assert _setting("enable_hashjoin") == "off"
            assert _setting("enable_mergejoin") == "off"
        with index_walk(request, queryset.order_by("name")):
            assert _setting("enable_hashjoin") == "on"
    request.merp_extension_filters = False
    with transaction.atomic(), index_walk(request, queryset):
        assert _setting("enable_hashjoin") == "on"


def test_an_error_inside_the_block_restores_the_settings(company_a, rf):
    queryset = Partner.objects.for_company(company_a).order_by("-id")
    request = rf.get("/")
    request.merp_extension_filters = True
    with transaction.atomic():
        with pytest.raises(RuntimeError), index_walk(request, queryset):
            raise RuntimeError("the page failed")
        assert _setting("enable_hashjoin") == "on"


def test_value_index_carries_fixed_size_values():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ext_value_unique'"
        )
        (definition,) = cursor.fetchone()
    assert "UNIQUE" in definition
    assert "(company_id, definition_id, object_id)" in definition
    assert (
        "INCLUDE (value_integer, value_decimal, value_boolean, value_date, "
        "value_datetime)" in definition
    )


def test_filter_reads_values_from_the_index(api, member_a, limits, company_a):
    from django.http import QueryDict

    from businessobjects import selectors
    from extensions.filters import ExtensionFilterBackend

    class Request:
        query_params = QueryDict("ext__credit_limit__gte=100")
        company = company_a

    class View:
        action = "list"

    queryset = ExtensionFilterBackend().filter_queryset(
        Request(), selectors.list_objects(Partner, company=company_a), View()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # A 30-row table is read sequentially unless told otherwise.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = queryset.order_by("-id")[:5].explain()
    assert "Index Only Scan Backward using ext_value_unique" in plan
