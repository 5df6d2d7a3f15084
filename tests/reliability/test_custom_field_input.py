"""Bad custom-field values and ext__ filters: each a 400 naming the key, nothing
written (PostgreSQL refuses NUL and lone surrogates in text and jsonb, numbers
beyond numeric's range and time zone offsets beyond +-15:59: each was a 500)."""

import json

import pytest

from businessobjects import services
from businessobjects.models import Partner
from extensions.definitions import definition_create

from .conftest import count
from .support import db_fingerprint

pytestmark = pytest.mark.django_db

TYPES = (
    "string",
    "email",
    "url",
    "phone",
    "choice",
    "json",
    "decimal",
    "integer",
    "date",
    "datetime",
    "boolean",
)

BAD_VALUES = [
    ("string", "a\u0000b"),
    ("string", "\ud800"),
    ("string", "x" * 100_000),
    ("email", "a\u0000@x.io"),
    ("url", "http://a\u0000.io"),
    ("phone", "1\u00002"),
    ("choice", "a\u0000"),
    ("choice", "zzz"),
    ("json", {"a": "x\u0000y"}),
    ("json", {"k\u0000": 1}),
    ("json", ["\ud800"]),
    ("json", "\u0000"),
    ("decimal", "1e999999"),
    ("decimal", "NaN"),
    ("decimal", "abc"),
    ("integer", 2**80),
    ("integer", "x"),
    ("date", "2024-13-45"),
    ("datetime", "9999-12-31T23:59:59-23:00"),
    ("datetime", "0001-01-01T00:00:00+14:00"),
    ("boolean", "maybe"),
]

BAD_FILTERS = [
    "ext__f_string=a%00b",
    "ext__f_string__startswith=%00",
    "ext__f_json=%22%5Cu0000%22",
    "ext__f_json__contains=%00",
    "ext__f_integer__gt=99999999999999999999999",
    "ext__f_integer__gt=" + "9" * 5000,
    "ext__f_decimal__gt=1e999999",
    "ext__f_decimal__gt=1e-999999",
    "ext__f_decimal__in=1,1e99999",
    "ext__f_date__in=2024-01-01,x",
    "ext__f_datetime__gt=9999-12-31T23:59:59-23:00",
    "ext__f_string__isnull=maybe",
    "ext__f_boolean=maybe",
    "ext__f_choice__in=a,%00",
    "ext__f_string__regex=.*",
    "ext__f_json__gt=1",
    "ext__f_nope=1",
]


@pytest.fixture
def partner(company_a):
    for field_type in TYPES:
        extra = {"choices": ["a"]} if field_type == "choice" else {}
        definition_create(
            company=company_a,
            model=Partner,
            name=f"f_{field_type}",
            label=field_type,
            field_type=field_type,
            **extra,
        )
    return services.create(Partner, data={"name": "P"}, company=company_a)


@pytest.mark.parametrize(
    ("field_type", "value"),
    BAD_VALUES,
    ids=[f"{t}-{repr(v)[:20]}" for t, v in BAD_VALUES],
)
def test_bad_custom_field_value_is_a_named_400(
    field_type, value, partner, api, admin_a
):
    before = db_fingerprint()
    # ensure_ascii keeps lone surrogates as \\ud800 escapes on the wire.
    body = json.dumps({"extensions": {f"f_{field_type}": value}})
    response = api(admin_a).generic(
        "PATCH", f"/api/partners/{partner.pk}/", body, content_type="application/json"
    )
    count("bad inputs sent")
    assert response.status_code == 400, response.content[:300]
    assert f"f_{field_type}" in response.json()["extensions"]
    assert db_fingerprint() == before


@pytest.mark.parametrize("query", BAD_FILTERS, ids=lambda q: q[:40])
def test_bad_custom_field_filter_is_a_named_400(query, partner, api, admin_a):
    response = api(admin_a).get(f"/api/partners/?{query}")
    count("bad inputs sent")
    assert response.status_code == 400, response.content[:300]
    assert query.split("=")[0] in response.json()
