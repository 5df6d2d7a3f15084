"""Each type's round trip through the API and every validation rule."""

import pytest

from businessobjects.models import Partner
from extensions.models import ExtensionValue

pytestmark = pytest.mark.django_db


# (type, definition attributes, value sent, value read back, storage column)
ROUND_TRIPS = [
    ("string", {}, "Gold tier", "Gold tier", "value_text"),
    ("integer", {}, 42, 42, "value_integer"),
    ("integer", {}, "-7", -7, "value_integer"),
    ("decimal", {}, "1234.50", "1234.5", "value_decimal"),
    ("decimal", {"decimal_places": 2}, "1234.5", "1234.50", "value_decimal"),
    ("decimal", {}, 10, "10", "value_decimal"),
    ("boolean", {}, True, True, "value_boolean"),
    ("boolean", {}, False, False, "value_boolean"),
    ("date", {}, "2025-02-28", "2025-02-28", "value_date"),
    (
        "datetime",
        {},
        "2025-02-28T13:45:00+02:00",
        "2025-02-28T11:45:00Z",
        "value_datetime",
    ),
    ("datetime", {}, "2025-02-28T13:45:00", "2025-02-28T13:45:00Z", "value_datetime"),
    (
        "json",
        {},
        {"tags": ["a", "b"], "n": 1},
        {"tags": ["a", "b"], "n": 1},
        "value_json",
    ),
    ("json", {}, [1, 2, 3], [1, 2, 3], "value_json"),
    ("email", {}, "ap@acme.example", "ap@acme.example", "value_text"),
    ("phone", {}, "+49 (30) 123-4567", "+49 (30) 123-4567", "value_text"),
    (
        "url",
        {},
        "https://acme.example/x?y=1",
        "https://acme.example/x?y=1",
        "value_text",
    ),
    ("choice", {"choices": ["gold", "silver"]}, "gold", "gold", "value_text"),
]


@pytest.mark.parametrize(("field_type", "attrs", "sent", "read", "column"), ROUND_TRIPS)
def test_round_trip(
    api, member_a, company_a, define, field_type, attrs, sent, read, column
):
    define(company_a, "f", field_type, **attrs)
    client = api(member_a)
    created = client.post(
        "/api/partners/", {"name": "P", "extensions": {"f": sent}}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["extensions"] == {"f": read}
    pk = created.json()["id"]
    assert client.get(f"/api/partners/{pk}/").json()["extensions"] == {"f": read}
    listed = client.get("/api/partners/").json()["results"][0]
    assert listed["extensions"] == {"f": read}
    row = ExtensionValue.objects.get(object_id=pk)
    assert row.company_id == company_a.pk
    assert getattr(row, column) is not None
    others = [
        c
        for c in (
            "value_text",
            "value_integer",
            "value_decimal",
            "value_boolean",
            "value_date",
            "value_datetime",
            "value_json",
        )
        if c != column
    ]
    assert all(getattr(row, c) is None for c in others)


# (type, definition attributes, bad value, words the message must contain)
INVALID = [
    ("string", {}, {"a": 1}, "string"),
    ("string", {}, True, "string"),
    ("string", {"max_length": 5}, "toolong", "at most 5 characters"),
    ("string", {}, "x" * 501, "at most 500 characters"),
    ("string", {"regex": r"^[A-Z]{3}$"}, "abc", "pattern"),
    ("integer", {}, "12.5", "integer"),
    ("integer", {}, 1.5, "integer"),
    ("integer", {}, True, "integer"),
    ("integer", {}, 2**63, "between"),
    ("integer", {"min_value": 10}, 9, "greater than or equal to 10"),
    ("integer", {"max_value": 10}, 11, "less than or equal to 10"),
    ("decimal", {}, "abc", "decimal"),
    ("decimal", {}, "NaN", "finite"),
    ("decimal", {}, True, "decimal"),
    ("decimal", {"decimal_places": 2}, "1.005", "2 decimal places"),
    ("decimal", {}, "1.12345678901", "10 decimal places"),
    ("decimal", {}, "1" * 21, "20 digits"),
    ("decimal", {"min_value": "0"}, "-0.01", "greater than or equal to 0"),
    ("decimal", {"max_value": "100.5"}, "100.51", "less than or equal to 100.5"),
    ("boolean", {}, "maybe", "true or false"),
    ("boolean", {}, 2, "true or false"),
    ("date", {}, "28.02.2025", "YYYY-MM-DD"),
    ("date", {}, "2025-02-30", "YYYY-MM-DD"),
    (
        "date",
        {"min_value": "2025-01-01"},
        "2024-12-31",
        "greater than or equal to 2025-01-01",
    ),
    (
        "date",
        {"max_value": "2025-01-01"},
        "2025-01-02",
        "less than or equal to 2025-01-01",
    ),
    ("datetime", {}, "2025-13-01T00:00", "ISO 8601"),
    ("datetime", {}, "yesterday", "ISO 8601"),
    (
        "datetime",
        {"min_value": "2025-01-01T00:00:00Z"},
        "2024-12-31T23:59:59Z",
        "greater than or equal to 2025-01-01T00:00:00Z",
    ),
    (
        "datetime",
        {"max_value": "2025-01-01T00:00:00Z"},
        "2025-01-01T00:00:01Z",
        "less than or equal to 2025-01-01T00:00:00Z",
    ),
    ("email", {}, "not-an-email", "email"),
    ("email", {"regex": r"@acme\.example$"}, "a@other.example", "pattern"),
    ("email", {"max_length": 10}, "abcdef@acme.example", "at most 10"),
    ("phone", {}, "call me", "phone"),
    ("phone", {}, "12", "phone"),
    ("phone", {"regex": r"^\+49"}, "+33 1 23 45 67", "pattern"),
    ("url", {}, "not a url", "URL"),
    ("url", {"max_length": 15}, "https://acme.example/long", "at most 15"),
    ("choice", {"choices": ["gold", "silver"]}, "bronze", "one of the choices"),
    ("json", {}, float("inf"), "JSON"),
]


@pytest.mark.parametrize(("field_type", "attrs", "bad", "words"), INVALID)
def test_invalid_value_is_400_naming_the_field(
    api, member_a, company_a, define, field_type, attrs, bad, words
):
    define(company_a, "f", field_type, **attrs)
    client = api(member_a)
    if field_type == "json":  # JSON cannot carry inf: go through the service
        from django.core.exceptions import ValidationError

        from businessobjects import services

        with pytest.raises(ValidationError) as excinfo:
            services.create(
                Partner, data={"name": "P"}, extensions={"f": bad}, company=company_a
            )
        assert words in str(excinfo.value.messages)
        assert "f:" in excinfo.value.messages[0]
        return
    response = client.post(
        "/api/partners/", {"name": "P", "extensions": {"f": bad}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["extensions"]
    assert list(body["extensions"]) == ["f"]
    assert words in body["extensions"]["f"][0], body
    assert not Partner.objects.exists()
    assert not ExtensionValue.objects.exists()


def test_values_within_rules_pass(api, member_a, company_a, define):
    define(company_a, "code", "string", max_length=3, regex=r"^[A-Z]+$")
    define(company_a, "qty", "integer", min_value=1, max_value=10)
    define(company_a, "limit", "decimal", min_value="0", max_value="1000")
    define(company_a, "due", "date", min_value="2025-01-01", max_value="2025-12-31")
    response = api(member_a).post(
        "/api/partners/",
        {
            "name": "P",
            "extensions": {"code": "ABC", "qty": 10, "limit": "0", "due": "2025-12-31"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["extensions"] == {
        "code": "ABC",
        "qty": 10,
        "limit": "0",
        "due": "2025-12-31",
    }


def test_several_bad_values_are_all_reported(api, member_a, company_a, define):
    define(company_a, "qty", "integer")
    define(company_a, "due", "date")
    response = api(member_a).post(
        "/api/partners/",
        {"name": "P", "extensions": {"qty": "x", "due": "y", "nope": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["extensions"]) == {"qty", "due", "nope"}
    assert "Unknown custom field 'nope'" in response.json()["extensions"]["nope"][0]
