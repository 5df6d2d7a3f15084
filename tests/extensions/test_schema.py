"""The OpenAPI schema documents ``extensions``, the ext filters and custom fields."""

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api, member_a):
    response = api(member_a).get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi(schema):
    validate_schema(schema)


@pytest.mark.parametrize("path", ["/api/partners/", "/api/contacts/", "/api/products/"])
def test_list_documents_ext_filters_and_ordering(schema, path):
    parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
    ext = parameters["ext"]
    assert (ext["in"], ext["style"], ext["explode"]) == ("query", "form", True)
    assert ext["schema"]["type"] == "object"
    assert "ext__<name>__<lookup>" in ext["description"]
    for lookup in ("gte", "icontains", "isnull", "in"):
        assert lookup in ext["description"]
    assert "ext__<name>" in parameters["ordering"]["description"]


def test_detail_has_no_ext_filter(schema):
    parameters = schema["paths"]["/api/partners/{id}/"]["get"]["parameters"]
    assert "ext" not in {p["name"] for p in parameters}


def test_extensions_property_is_documented(schema):
    for component in ("Partner", "PartnerRequest", "PatchedPartnerRequest"):
        extensions = schema["components"]["schemas"][component]["properties"][
            "extensions"
        ]
        assert extensions["type"] == "object"
        assert extensions["additionalProperties"]["nullable"] is True
        assert "merges" in extensions["description"]


def test_custom_fields_endpoint_is_documented(schema):
    assert {"get", "post"} <= set(schema["paths"]["/api/custom-fields/"])
    detail = schema["paths"]["/api/custom-fields/{id}/"]
    assert "purge" in {p["name"] for p in detail["delete"]["parameters"]}
    properties = schema["components"]["schemas"]["FieldDefinition"]["properties"]
    for name in (
        "model",
        "name",
        "label",
        "field_type",
        "required",
        "default",
        "choices",
        "min_value",
        "max_value",
        "max_length",
        "regex",
        "help_text",
        "is_active",
    ):
        assert name in properties
