"""/api/custom-fields/: definitions per company, admins write, members read."""

import pytest

from extensions.models import ExtensionValue, FieldDefinition

pytestmark = pytest.mark.django_db

URL = "/api/custom-fields/"


def _post(client, **data):
    return client.post(URL, {"model": "partner", **data}, format="json")


def test_admin_defines_member_reads(api, admin_a, member_a, company_a):
    created = _post(
        api(admin_a),
        name="credit_limit",
        field_type="decimal",
        decimal_places=2,
        min_value=0,
        default="100",
        help_text="In EUR",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["model"] == "partner"
    assert body["label"] == "Credit limit"
    assert body["min_value"] == "0.00"
    assert body["default"] == "100.00"
    assert body["is_active"] is True
    listed = api(member_a).get(URL)
    assert listed.status_code == 200
    assert [f["name"] for f in listed.json()["results"]] == ["credit_limit"]
    assert api(member_a).get(f"{URL}{body['id']}/").json()["help_text"] == "In EUR"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_member_cannot_write(api, admin_a, member_a, company_a, define, method):
    definition = define(company_a, "tier", "string")
    client = api(member_a)
    url = URL if method == "post" else f"{URL}{definition.pk}/"
    response = getattr(client, method)(
        url, {"model": "partner", "name": "x", "field_type": "string"}, format="json"
    )
    assert response.status_code == 403
    assert list(FieldDefinition.objects.values_list("name", flat=True)) == ["tier"]


def test_anonymous_is_401(api):
    assert api().get(URL).status_code == 401


def test_definitions_are_per_company(
    api, admin_a, admin_b, company_a, company_b, define
):
    mine = define(company_a, "tier", "string")
    define(company_b, "tier", "integer")  # same name, other company: allowed
    client_b = api(admin_b)
    listed = client_b.get(URL).json()["results"]
    assert [(f["name"], f["field_type"]) for f in listed] == [("tier", "integer")]
    for method in ("get", "patch", "put", "delete"):
        response = getattr(client_b, method)(
            f"{URL}{mine.pk}/", {"label": "stolen"}, format="json"
        )
        assert response.status_code == 404, method
    mine.refresh_from_db()
    assert mine.label == "Tier"


def test_foreign_company_header_is_403(api, admin_a, company_b):
    assert api(admin_a, company=company_b).get(URL).status_code == 403


def test_unknown_type_message(api, admin_a, company_a):
    response = _post(api(admin_a), name="x", field_type="colour")
    assert response.status_code == 400
    assert response.json() == {
        "field_type": [
            "Invalid field type 'colour'. Supported types: string, integer, decimal, "
            "boolean, date, datetime, json, email, phone, url, choice."
        ]
    }


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "Bad Name", "field_type": "string"}, "name", "lowercase"),
        ({"name": "1abc", "field_type": "string"}, "name", "lowercase"),
        ({"name": "a" * 64, "field_type": "string"}, "name", ""),
        ({"name": "x", "field_type": "string", "model": "planet"}, "model", "planet"),
        ({"name": "x", "field_type": "choice"}, "choices", "non-empty"),
        (
            {"name": "x", "field_type": "choice", "choices": ["a", "a"]},
            "choices",
            "unique",
        ),
        (
            {"name": "x", "field_type": "choice", "choices": [""]},
            "choices",
            "non-empty",
        ),
        (
            {"name": "x", "field_type": "string", "choices": ["a"]},
            "choices",
            "Only choice",
        ),
        (
            {"name": "x", "field_type": "string", "min_value": 1},
            "min_value",
            "no min_value",
        ),
        (
            {"name": "x", "field_type": "integer", "min_value": "a"},
            "min_value",
            "integer",
        ),
        (
            {"name": "x", "field_type": "integer", "min_value": 5, "max_value": 1},
            "max_value",
            "greater than or equal to min_value",
        ),
        (
            {"name": "x", "field_type": "integer", "max_length": 3},
            "max_length",
            "no max_length",
        ),
        (
            {"name": "x", "field_type": "string", "max_length": 501},
            "max_length",
            "between 1",
        ),
        (
            {"name": "x", "field_type": "string", "regex": "("},
            "regex",
            "regular expression",
        ),
        ({"name": "x", "field_type": "boolean", "regex": "a"}, "regex", "no regex"),
        (
            {"name": "x", "field_type": "string", "decimal_places": 2},
            "decimal_places",
            "Only decimal",
        ),
        (
            {"name": "x", "field_type": "decimal", "decimal_places": 11},
            "decimal_places",
            "between 0",
        ),
        (
            {"name": "x", "field_type": "integer", "default": "abc"},
            "default",
            "integer",
        ),
        (
            {"name": "x", "field_type": "choice", "choices": ["a"], "default": "b"},
            "default",
            "choices",
        ),
        (
            {"name": "x", "field_type": "string", "max_length": 2, "default": "abc"},
            "default",
            "at most 2",
        ),
    ],
)
def test_bad_definition_is_400_naming_the_field(
    api, admin_a, company_a, data, field, words
):
    response = _post(api(admin_a), **data)
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert words in " ".join(response.json()[field])
    assert not FieldDefinition.objects.exists()


def test_duplicate_name_is_400(api, admin_a, company_a, define):
    define(company_a, "tier", "string")
    response = _post(api(admin_a), name="tier", field_type="integer")
    assert response.status_code == 400
    assert "already exists" in response.json()["name"][0]
    # The same name on another object is fine.
    other = api(admin_a).post(
        URL,
        {"model": "contact", "name": "tier", "field_type": "integer"},
        format="json",
    )
    assert other.status_code == 201


def test_filter_by_model_and_active(api, admin_a, company_a, define):
    define(company_a, "a", "string")
    define(company_a, "b", "string", is_active=False)
    define(company_a, "c", "string", model="contact")
    client = api(admin_a)

    def names(query):
        return [f["name"] for f in client.get(f"{URL}?{query}").json()["results"]]

    assert names("model=partner") == ["a", "b"]
    assert names("model=partner&is_active=true") == ["a"]
    assert names("is_active=false") == ["b"]
    assert client.get(f"{URL}?model=planet").status_code == 400
    assert client.get(f"{URL}?colour=red").status_code == 400


def test_model_cannot_change(api, admin_a, company_a, define):
    definition = define(company_a, "tier", "string")
    response = api(admin_a).patch(
        f"{URL}{definition.pk}/", {"model": "contact"}, format="json"
    )
    assert response.status_code == 400
    assert "model" in response.json()
    definition.refresh_from_db()
    assert definition.model_name == "partner"


def test_edit_order_and_deactivate(api, admin_a, company_a, define, partner):
    tier = define(company_a, "tier", "string", order=1)
    define(company_a, "rank", "integer", order=2)
    p = partner(company_a, extensions={"tier": "gold", "rank": 1})
    client = api(admin_a)
    assert list(client.get(f"/api/partners/{p.pk}/").json()["extensions"]) == [
        "tier",
        "rank",
    ]
    assert (
        client.patch(f"{URL}{tier.pk}/", {"order": 3}, format="json").status_code == 200
    )
    assert list(client.get(f"/api/partners/{p.pk}/").json()["extensions"]) == [
        "rank",
        "tier",
    ]
    response = client.patch(f"{URL}{tier.pk}/", {"is_active": False}, format="json")
    assert response.json()["is_active"] is False
    assert client.get(f"/api/partners/{p.pk}/").json()["extensions"] == {"rank": 1}
    refused = client.patch(
        f"/api/partners/{p.pk}/", {"extensions": {"tier": "x"}}, format="json"
    )
    assert refused.status_code == 400
    assert "inactive" in refused.json()["extensions"]["tier"][0]
    # Reactivated, the kept value is back.
    client.patch(f"{URL}{tier.pk}/", {"is_active": True}, format="json")
    assert client.get(f"/api/partners/{p.pk}/").json()["extensions"]["tier"] == "gold"


def test_delete_without_values_deletes(api, admin_a, company_a, define):
    definition = define(company_a, "tier", "string")
    response = api(admin_a).delete(f"{URL}{definition.pk}/")
    assert response.status_code == 204
    assert not FieldDefinition.objects.exists()


def test_delete_with_values_deactivates(api, admin_a, company_a, define, partner):
    definition = define(company_a, "tier", "string")
    partner(company_a, extensions={"tier": "gold"})
    partner(company_a, extensions={"tier": "silver"})
    response = api(admin_a).delete(f"{URL}{definition.pk}/")
    assert response.status_code == 200
    assert response.json()["deactivated"] is True
    assert response.json()["values"] == 2
    assert "purge" in response.json()["detail"]
    definition.refresh_from_db()
    assert definition.is_active is False
    assert ExtensionValue.objects.filter(definition=definition).count() == 2


def test_purge_deletes_values_with_history(api, admin_a, company_a, define, partner):
    definition = define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    client = api(admin_a)
    assert client.delete(f"{URL}{definition.pk}/?purge=maybe").status_code == 400
    response = client.delete(
        f"{URL}{definition.pk}/?purge=true", HTTP_X_CORRELATION_ID="purge-1"
    )
    assert response.status_code == 204
    assert not FieldDefinition.objects.exists()
    assert not ExtensionValue.objects.exists()
    deleted = ExtensionValue.history.filter(object_id=p.pk, history_type="-").get()
    assert deleted.value_text == "gold"
    assert deleted.correlation_id == "purge-1"
    assert deleted.history_user == admin_a
    assert client.get(f"/api/partners/{p.pk}/").json()["extensions"] == {}


def test_type_change_converts_values(api, admin_a, company_a, define, partner):
    definition = define(company_a, "score", "string")
    p1 = partner(company_a, extensions={"score": "12"})
    p2 = partner(company_a, extensions={"score": "7.50"})
    response = api(admin_a).patch(
        f"{URL}{definition.pk}/", {"field_type": "decimal"}, format="json"
    )
    assert response.status_code == 200, response.json()
    rows = ExtensionValue.objects.order_by("object_id")
    assert [(r.value_text, str(r.value_decimal.normalize())) for r in rows] == [
        (None, "12"),
        (None, "7.5"),
    ]
    client = api(admin_a)
    assert client.get(f"/api/partners/{p1.pk}/").json()["extensions"] == {"score": "12"}
    assert client.get(f"/api/partners/{p2.pk}/").json()["extensions"] == {
        "score": "7.5"
    }
    # Each converted value leaves a history row.
    assert ExtensionValue.history.filter(history_type="~").count() == 2
    filtered = client.get("/api/partners/?ext__score__gt=10").json()["results"]
    assert [r["id"] for r in filtered] == [p1.pk]


def test_type_change_refused_unless_all_convert(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "score", "string")
    partner(company_a, extensions={"score": "12"})
    bad = partner(company_a, extensions={"score": "lots"})
    response = api(admin_a).patch(
        f"{URL}{definition.pk}/", {"field_type": "integer"}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["field_type"][0]
    assert "1 of 2 values do not convert" in message
    assert f"object {bad.pk}" in message
    definition.refresh_from_db()
    assert definition.field_type == "string"
    assert set(ExtensionValue.objects.values_list("value_text", flat=True)) == {
        "12",
        "lots",
    }


def test_type_change_to_string_always_converts(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "flag", "boolean")
    p = partner(company_a, extensions={"flag": True})
    response = api(admin_a).patch(
        f"{URL}{definition.pk}/", {"field_type": "string"}, format="json"
    )
    assert response.status_code == 200
    partner_body = api(admin_a).get(f"/api/partners/{p.pk}/").json()
    assert partner_body["extensions"] == {"flag": "true"}


def test_decimal_places_change_checks_values(api, admin_a, company_a, define, partner):
    definition = define(company_a, "limit", "decimal")
    p = partner(company_a, extensions={"limit": "12.5"})
    client = api(admin_a)
    refused = client.patch(
        f"{URL}{definition.pk}/", {"decimal_places": 0}, format="json"
    )
    assert refused.status_code == 400
    assert "decimal_places" in refused.json()
    ok = client.patch(f"{URL}{definition.pk}/", {"decimal_places": 2}, format="json")
    assert ok.status_code == 200
    assert client.get(f"/api/partners/{p.pk}/").json()["extensions"] == {
        "limit": "12.50"
    }


def test_type_change_without_values_is_free(api, admin_a, company_a, define):
    definition = define(company_a, "x", "string")
    response = api(admin_a).put(
        f"{URL}{definition.pk}/",
        {"model": "partner", "name": "x", "field_type": "date"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["field_type"] == "date"
