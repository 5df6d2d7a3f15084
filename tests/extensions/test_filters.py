"""``?ext__<name>[__<lookup>]=`` filters and ``?ordering=ext__<name>``."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from extensions.types import ALL_LOOKUPS, FIELD_TYPES

pytestmark = pytest.mark.django_db

FIELDS = {
    "s": ("string", {}),
    "i": ("integer", {}),
    "d": ("decimal", {}),
    "b": ("boolean", {}),
    "dt": ("date", {}),
    "ts": ("datetime", {}),
    "j": ("json", {}),
    "e": ("email", {}),
    "ph": ("phone", {}),
    "u": ("url", {}),
    "c": ("choice", {"choices": ["a", "b", "c"]}),
}
VALUES = [
    {
        "s": "Alpha",
        "i": 1,
        "d": "1.5",
        "b": True,
        "dt": "2025-01-01",
        "ts": "2025-01-01T10:00:00Z",
        "j": {"k": 1, "tags": ["x"]},
        "e": "a@x.example",
        "ph": "+49 1234",
        "u": "https://a.example",
        "c": "a",
    },
    {
        "s": "beta",
        "i": 5,
        "d": "10",
        "b": False,
        "dt": "2025-06-01",
        "ts": "2025-06-01T10:00:00Z",
        "j": {"k": 2},
        "e": "b@y.example",
        "ph": "+33 5678",
        "u": "https://b.example/x",
        "c": "b",
    },
    {},  # a partner without custom values
]


@pytest.fixture
def objects(company_a, define, partner):
    for name, (field_type, attrs) in FIELDS.items():
        define(company_a, name, field_type, **attrs)
    return [
        partner(company_a, name=f"P{i}", extensions=v) for i, v in enumerate(VALUES)
    ]


# (parameter, value, indexes of VALUES expected)
CASES = [
    ("s", "Alpha", {0}),
    ("s__exact", "beta", {1}),
    ("s__exact", "alpha", set()),
    ("s__in", "Alpha,beta", {0, 1}),
    ("s__contains", "lph", {0}),
    ("s__contains", "LPH", set()),
    ("s__icontains", "LPH", {0}),
    ("s__startswith", "be", {1}),
    ("s__isnull", "true", {2}),
    ("s__isnull", "false", {0, 1}),
    ("i", "5", {1}),
    ("i__gt", "1", {1}),
    ("i__gte", "1", {0, 1}),
    ("i__lt", "5", {0}),
    ("i__lte", "5", {0, 1}),
    ("i__in", "1,5,9", {0, 1}),
    ("i__isnull", "true", {2}),
    ("i__isnull", "0", {0, 1}),
    ("d", "1.50", {0}),
    ("d__gt", "1.5", {1}),
    ("d__gte", "1.5", {0, 1}),
    ("d__lt", "10", {0}),
    ("d__lte", "10.000", {0, 1}),
    ("d__in", "1.5,10", {0, 1}),
    ("d__isnull", "false", {0, 1}),
    ("b", "true", {0}),
    ("b__exact", "false", {1}),
    ("b__isnull", "true", {2}),
    ("dt", "2025-01-01", {0}),
    ("dt__gt", "2025-01-01", {1}),
    ("dt__gte", "2025-01-01", {0, 1}),
    ("dt__lt", "2025-06-01", {0}),
    ("dt__lte", "2025-06-01", {0, 1}),
    ("dt__in", "2025-01-01,2025-06-01", {0, 1}),
    ("dt__isnull", "true", {2}),
    ("ts", "2025-01-01T10:00:00Z", {0}),
    ("ts", "2025-01-01T11:00:00+01:00", {0}),
    ("ts__gt", "2025-01-01T10:00:00Z", {1}),
    ("ts__gte", "2025-01-01T10:00:00Z", {0, 1}),
    ("ts__lt", "2025-06-01T10:00:00Z", {0}),
    ("ts__lte", "2025-06-01T10:00:00Z", {0, 1}),
    ("ts__in", "2025-01-01T10:00:00Z,2025-06-01T10:00:00Z", {0, 1}),
    ("ts__isnull", "false", {0, 1}),
    ("j", json.dumps({"k": 2}), {1}),
    ("j__contains", json.dumps({"tags": ["x"]}), {0}),
    ("j__contains", json.dumps({"k": 1}), {0}),
    ("j__isnull", "true", {2}),
    ("e", "a@x.example", {0}),
    ("e__in", "a@x.example,b@y.example", {0, 1}),
    ("e__contains", "@y.", {1}),
    ("e__icontains", "Y.EXAMPLE", {1}),
    ("e__startswith", "b@", {1}),
    ("e__isnull", "true", {2}),
    ("ph", "+49 1234", {0}),
    ("ph__in", "+49 1234,+33 5678", {0, 1}),
    ("ph__contains", "5678", {1}),
    ("ph__icontains", "1234", {0}),
    ("ph__startswith", "+33", {1}),
    ("ph__isnull", "false", {0, 1}),
    ("u", "https://b.example/x", {1}),
    ("u__in", "https://a.example", {0}),
    ("u__contains", "/x", {1}),
    ("u__icontains", "A.EXAMPLE", {0}),
    ("u__startswith", "https://a", {0}),
    ("u__isnull", "true", {2}),
    ("c", "a", {0}),
    ("c__exact", "b", {1}),
    ("c__in", "a,b", {0, 1}),
    ("c__isnull", "true", {2}),
]


def _ids(response) -> set:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(("param", "value", "expected"), CASES)
def test_lookup(api, member_a, objects, param, value, expected):
    response = api(member_a).get("/api/partners/", {f"ext__{param}": value})
    assert _ids(response) == {objects[i].pk for i in expected}


def test_every_fitting_lookup_is_covered():
    covered = {
        (FIELDS[p.split("__")[0]][0], (p.split("__") + ["exact"])[1])
        for p, _, _ in CASES
    }
    fitting = {(t.name, lookup) for t in FIELD_TYPES.values() for lookup in t.lookups}
    assert fitting <= covered


UNFIT = [
    (name, lookup)
    for name, (field_type, _) in FIELDS.items()
    for lookup in ALL_LOOKUPS
    if lookup not in FIELD_TYPES[field_type].lookups
]


@pytest.mark.parametrize(("name", "lookup"), UNFIT)
def test_unfit_lookup_is_400(api, member_a, objects, name, lookup):
    key = f"ext__{name}__{lookup}"
    response = api(member_a).get("/api/partners/", {key: "1"})
    assert response.status_code == 400
    assert "does not apply" in response.json()[key][0]


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("ext__i", "abc", "integer"),
        ("ext__i__in", "1,x", "integer"),
        ("ext__i__isnull", "maybe", "true or false"),
        ("ext__d__gte", "abc", "decimal"),
        ("ext__d__gte", "", "decimal"),
        ("ext__d", "Infinity", "finite"),
        ("ext__b", "maybe", "true or false"),
        ("ext__dt__gte", "2025-13-01", "YYYY-MM-DD"),
        ("ext__ts__lt", "soon", "ISO 8601"),
        ("ext__j", "{bad", "JSON"),
        ("ext__c", "z", "choices"),
        ("ext__nope", "1", "Unknown custom field 'nope'"),
        ("ext__nope__gte", "1", "Unknown custom field 'nope'"),
        ("ext__", "1", "Unknown custom field ''"),
        ("ext__i__foo", "1", "Unknown lookup 'foo'"),
    ],
)
def test_unusable_filter_is_400_naming_it(api, member_a, objects, key, value, words):
    response = api(member_a).get("/api/partners/", {key: value})
    assert response.status_code == 400
    assert words in response.json()[key][0], response.json()


def test_inactive_field_cannot_filter(api, member_a, company_a, define, partner):
    define(company_a, "old", "string", is_active=False)
    response = api(member_a).get("/api/partners/", {"ext__old": "x"})
    assert response.status_code == 400


def test_filters_combine(api, member_a, objects):
    client = api(member_a)
    both = client.get("/api/partners/", {"ext__i__gte": "1", "ext__b": "true"})
    assert _ids(both) == {objects[0].pk}
    with_plain = client.get("/api/partners/", {"ext__i__gte": "1", "search": "P1"})
    assert _ids(with_plain) == {objects[1].pk}
    repeated = client.get("/api/partners/?ext__i__gte=1&ext__i__gte=5")
    assert _ids(repeated) == {objects[1].pk}


def test_filters_are_company_scoped(
    api, member_a, company_a, company_b, define, partner
):
    define(company_a, "tier", "string")
    define(company_b, "tier", "string")
    mine = partner(company_a, extensions={"tier": "gold"})
    partner(company_b, extensions={"tier": "gold"})
    response = api(member_a).get("/api/partners/", {"ext__tier": "gold"})
    assert _ids(response) == {mine.pk}
    assert response.json()["count"] == 1


def test_other_companys_field_is_unknown(api, member_a, company_b, define):
    define(company_b, "secret", "string")
    response = api(member_a).get("/api/partners/", {"ext__secret": "x"})
    assert response.status_code == 400
    assert "Unknown custom field 'secret'" in response.json()["ext__secret"][0]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("ext__i", [0, 1, 2]),
        ("-ext__i", [1, 0, 2]),
        ("ext__d", [0, 1, 2]),
        ("-ext__d", [1, 0, 2]),
        ("ext__s", [0, 1, 2]),
        ("-ext__dt", [1, 0, 2]),
        ("ext__ts", [0, 1, 2]),
        ("-ext__b", [0, 1, 2]),
        ("ext__c", [0, 1, 2]),
        ("-ext__c", [1, 0, 2]),
        ("ext__c,name", [0, 1, 2]),
    ],
)
def test_ordering(api, member_a, objects, ordering, expected):
    response = api(member_a).get("/api/partners/", {"ordering": ordering})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [
        objects[i].pk for i in expected
    ]


def test_ordering_ties_are_stable(api, member_a, company_a, define, partner):
    define(company_a, "tier", "string")
    created = [partner(company_a, extensions={"tier": "same"}) for _ in range(5)]
    client = api(member_a)
    pages = [
        client.get(
            "/api/partners/", {"ordering": "ext__tier", "page_size": 2, "page": n}
        ).json()["results"]
        for n in (1, 2, 3)
    ]
    seen = [row["id"] for page in pages for row in page]
    assert seen == sorted((p.pk for p in created), reverse=True)


@pytest.mark.parametrize(
    "ordering", ["ext__nope", "-ext__nope", "ext__", "name,ext__x"]
)
def test_bad_ordering_is_400(api, member_a, objects, ordering):
    response = api(member_a).get("/api/partners/", {"ordering": ordering})
    assert response.status_code == 400
    assert "ordering" in response.json()


def test_ordering_and_filter_run_in_sql(api, member_a, objects):
    with CaptureQueriesContext(connection) as captured:
        response = api(member_a).get(
            "/api/partners/",
            {"ordering": "-ext__d", "ext__i__gte": "1", "page_size": 1},
        )
    assert [r["id"] for r in response.json()["results"]] == [objects[1].pk]
    page_query = next(
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "businessobjects_partner"."id"')
        and "LIMIT 1" in q["sql"]
    )
    assert "EXISTS" in page_query
    order_by = page_query.split("ORDER BY")[1]
    assert "extensions_extensionvalue" in order_by
