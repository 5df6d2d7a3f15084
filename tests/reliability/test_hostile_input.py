"""Hostile input found by an adversarial run (issue 12): every case is a 4xx naming
the parameter (or a safe admin page), never a 500, and nothing is written."""

import base64
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from businessobjects import services
from businessobjects.models import Address, Membership, Partner
from extensions.definitions import definition_create

from .conftest import count
from .support import db_fingerprint

pytestmark = pytest.mark.django_db

DEEP_CURSOR = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")


def _audit_cursor(moment: str) -> str:
    raw = json.dumps([moment, 1, "partner", 0]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


API_CASES = [
    # (path with query, the parameter the 400 must name)
    ("/api/events/?after=%C2%B2", "after"),
    ("/api/events/?after=%C2%B9", "after"),
    ("/api/events/?after=%C2%B3", "after"),
    ("/api/events/?page_size=%C2%B2", "page_size"),
    ("/api/events/?after=" + "9" * 30, "after"),
    ("/api/events/?correlation_id=%00", "correlation_id"),
    ("/api/events/?event_type=%00", "event_type"),
    ("/api/events/?aggregate_type=%00", "aggregate_type"),
    ("/api/events/?aggregate_id=%00", "aggregate_id"),
    ("/api/audit/?object_id=%C2%B2", "object_id"),
    ("/api/audit/?user_id=%C2%B2", "user_id"),
    ("/api/audit/?object_id=" + "9" * 30, "object_id"),
    ("/api/audit/?correlation_id=%00", "correlation_id"),
    ("/api/audit/?user=%00", "user"),
    ("/api/audit/?changed_after=9999-12-31T23:59:59-23:59", "changed_after"),
    ("/api/audit/?changed_after=0001-01-01T00:00:00%2B23:59", "changed_after"),
    ("/api/audit/?changed_before=0001-01-01T00:00:00%2B23:59", "changed_before"),
    ("/api/audit/?cursor=" + _audit_cursor("9999-12-31T23:59:59-23:59"), "cursor"),
    ("/api/audit/?cursor=" + _audit_cursor("0001-01-01T00:00:00+23:59"), "cursor"),
    ("/api/audit/?cursor=" + DEEP_CURSOR, "cursor"),
    ("/api/partners/?cursor=cD0nIE9SIDE9MQ==", "cursor"),
    ("/api/partners/?email=%00", "email"),
    ("/api/contacts/?email=%00", "email"),
    ("/api/addresses/?city=%00", "city"),
    ("/api/partners/?is_active=%C2%B2", "is_active"),
    ("/api/partners/?page_size=%C2%B2", "page_size"),
    ("/api/partners/?ext__f_json=NaN", "ext__f_json"),
    ("/api/partners/?ext__f_json=-Infinity", "ext__f_json"),
    ("/api/partners/?ext__f_json=" + "[" * 1100, "ext__f_json"),
    ("/api/partners/?ext__f_json__contains=NaN", "ext__f_json__contains"),
    ("/api/partners/?ext__f_json__contains=1e999999", "ext__f_json__contains"),
    (
        "/api/partners/?ext__f_json__contains=%7B%22a%22:1e999%7D",
        "ext__f_json__contains",
    ),
    ("/api/partners/?ext__f_json__isnull=%C2%B2", "ext__f_json__isnull"),
    ("/api/custom-fields/?is_active=%C2%B2", "is_active"),
    ("/api/custom-fields/?is_active=%00", "is_active"),
    ("/api/custom-fields/?is_active=", "is_active"),
]


@pytest.fixture
def world(company_a, admin_a):
    definition_create(
        company=company_a, model=Partner, name="f_json", field_type="json"
    )
    partner = services.create(
        Partner, data={"name": "P", "email": "p@example.test"}, company=company_a
    )
    return company_a, admin_a, partner


@pytest.mark.parametrize(("path", "name"), API_CASES, ids=lambda v: str(v)[:45])
def test_hostile_query_parameter_is_a_named_400(path, name, world, api):
    _, admin, _ = world
    response = api(admin).get(path)
    count("bad inputs sent")
    assert response.status_code == 400, response.content[:300]
    assert name in response.json(), response.json()


def test_lone_surrogate_as_extensions_key_is_an_encodable_400(world, api):
    _, admin, partner = world
    before = db_fingerprint()
    body = json.dumps({"extensions": {"\ud800": 1}})  # ascii: \\ud800 on the wire
    response = api(admin).generic(
        "PATCH", f"/api/partners/{partner.pk}/", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content[:300]
    assert "extensions" in response.json()
    response.content.decode("utf-8")  # the body is valid UTF-8
    assert db_fingerprint() == before


def test_nul_in_change_reason_header_is_a_named_400(world, api):
    _, admin, partner = world
    before = db_fingerprint()
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/",
        {"name": "Q"},
        format="json",
        HTTP_X_CHANGE_REASON="why%00not",
    )
    assert response.status_code == 400, response.content[:300]
    assert "X-Change-Reason" in response.json()
    assert db_fingerprint() == before


HEADER_FORMS = {
    "superscript": lambda pk: "\u00b2" if pk == 2 else str(pk) + "\u00b2",
    "arabic-indic": lambda pk: "".join(chr(0x660 + int(d)) for d in str(pk)),
    "spaces": lambda pk: f" {pk} ",
    "underscore": lambda pk: "_".join(str(pk)) if pk > 9 else f"0_{pk}",
    "sign": lambda pk: f"+{pk}",
}


@pytest.mark.parametrize("form", HEADER_FORMS)
def test_company_header_takes_ascii_digits_only(form, world, api):
    company, admin, _ = world
    header = HEADER_FORMS[form](company.pk)
    response = api(admin).get("/api/partners/", HTTP_X_COMPANY_ID=header)
    assert response.status_code == 400, response.content[:300]
    assert "X-Company-ID" in response.json()


# -- JSON custom-field value limits ------------------------------------------


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [_nested(33), _nested(200), {"a": "x" * (64 * 1024)}],
    ids=["depth-33", "depth-200", "65-KiB"],
)
def test_json_custom_field_value_over_the_limits_is_a_named_400(value, world, api):
    _, admin, partner = world
    before = db_fingerprint()
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/", {"extensions": {"f_json": value}}, format="json"
    )
    assert response.status_code == 400, response.content[:300]
    assert "f_json" in response.json()["extensions"]
    assert db_fingerprint() == before


def test_json_body_nested_past_the_parser_is_a_400(world, api):
    # 900 levels may exhaust the interpreter's stack inside json.load, depending
    # on how deep the request already is (middleware): then the parser refuses
    # the whole body, which names no field. Either way: a 400, nothing written.
    _, admin, partner = world
    before = db_fingerprint()
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/",
        {"extensions": {"f_json": _nested(900)}},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert "f_json" in body.get("extensions", {}) or "nested too deeply" in str(
        body.get("detail")
    )
    assert db_fingerprint() == before


def test_json_custom_field_value_within_the_limits_is_stored(world, api):
    _, admin, partner = world
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/",
        {"extensions": {"f_json": _nested(31)}},
        format="json",
    )
    assert response.status_code == 200, response.content[:300]


@override_settings(MERP={"EXTENSIONS_JSON_MAX_DEPTH": 2})
def test_json_depth_limit_is_a_setting(world, api):
    _, admin, partner = world
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/",
        {"extensions": {"f_json": [[[1]]]}},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]


# -- ReDoS ---------------------------------------------------------------------


@pytest.fixture
def regex_field(world):
    company, admin, partner = world
    definition_create(
        company=company,
        model=Partner,
        name="code",
        field_type="string",
        regex="^(a+)+$",
    )
    return world


@pytest.mark.timeout(60)
def test_pathological_regex_answers_at_once(regex_field, api):
    _, admin, partner = regex_field
    # 27 characters took 3.4 s with backtracking, doubling per character; 200
    # would take longer than the universe has existed.
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/",
        {"extensions": {"code": "a" * 200 + "!"}},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    assert "code" in response.json()["extensions"]
    response = api(admin).patch(
        f"/api/partners/{partner.pk}/",
        {"extensions": {"code": "a" * 400}},
        format="json",
    )
    assert response.status_code == 200, response.content[:300]


@pytest.mark.timeout(60)
def test_pathological_regex_on_a_huge_input_completes():
    from extensions.types import regex_matches

    assert regex_matches("^(a+)+$", "a" * 100_000)
    assert not regex_matches("^(a+)+$", "a" * 100_000 + "!")


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", r"(?<!b)a", "(?P<x>a)(?P=x)"])
def test_backtracking_only_regex_is_refused_at_definition(pattern, world, api):
    _, admin, _ = world
    response = api(admin).post(
        "/api/custom-fields/",
        {"model": "partner", "name": "r", "field_type": "string", "regex": pattern},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    assert "regex" in response.json()


# -- admin ---------------------------------------------------------------------


@pytest.fixture
def admin_client(world):
    client = Client()
    client.force_login(world[1])
    return client


@pytest.fixture
def superuser_client(db):
    user = get_user_model().objects.create_superuser("root", password="pw-123456")
    client = Client()
    client.force_login(user)
    return client


ADMIN_LISTS = [
    "/admin/businessobjects/partner/?email=%00",
    "/admin/businessobjects/partner/?name=%00",
    "/admin/businessobjects/address/?city=%00",
    "/admin/businessobjects/contact/?email=%00",
    "/admin/events/outboxevent/?correlation_id=%00",
    "/admin/extensions/fielddefinition/?name=%00",
    "/admin/extensions/fielddefinition/?model=user",
    "/admin/businessobjects/company/?name=%00",
    "/admin/businessobjects/membership/?role=%00",
]


@pytest.mark.parametrize("path", ADMIN_LISTS)
def test_admin_change_list_with_hostile_filter_is_not_a_500(
    path, admin_client, superuser_client
):
    for client in (admin_client, superuser_client):
        response = client.get(path)
        # 403: a company admin may not open the Company and Membership admins.
        assert response.status_code in (200, 302, 400, 403, 404), (path, response)
        if response.status_code == 302:
            # Django's "invalid filter" page.
            assert response["Location"].endswith("?e=1")
            assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/businessobjects/partner/%C2%B2/history/",
        "/admin/businessobjects/partner/%C2%B2/history/%C2%B2/",
        "/admin/businessobjects/partner/add/?company=%C2%B2",
        "/admin/businessobjects/partner/%C2%B2/change/",
    ],
)
def test_admin_url_with_unicode_digits_is_not_a_500(
    path, admin_client, superuser_client
):
    for client in (admin_client, superuser_client):
        response = client.get(path)
        assert response.status_code in (200, 302, 400, 404), (path, response)


def test_admin_service_refusal_rerenders_the_form(world, make_company):
    company_a, admin, _ = world
    company_b = make_company("Company B")
    Membership.objects.create(user=admin, company=company_b, role=Membership.Role.ADMIN)
    foreign = services.create(Partner, data={"name": "Foreign"}, company=company_b)
    client = Client()
    client.force_login(admin)
    before = db_fingerprint()
    response = client.post(
        f"/admin/businessobjects/address/add/?company={company_a.pk}",
        {
            "company": company_a.pk,
            "partner": foreign.pk,
            "street": "Main",
            "city": "X",
            "postal_code": "1",
            "country": "DE",
        },
    )
    assert response.status_code == 200, response
    assert response.context["adminform"].form.errors
    assert "partner" in response.context["adminform"].form.errors
    assert db_fingerprint() == before
    assert not Address.objects.exists()


def test_admin_renders_a_deeply_nested_json_value(world, admin_client):
    company, _, partner = world
    with override_settings(MERP={"EXTENSIONS_JSON_MAX_DEPTH": 2000}):
        services.update(partner, data={}, extensions={"f_json": _nested(900)})
    base = f"/admin/businessobjects/partner/{partner.pk}"
    response = admin_client.get(f"{base}/change/")
    assert response.status_code == 200
    response = admin_client.get(f"{base}/history/")
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["%C2%B2", "%00", "maybe", ""])
def test_hostile_purge_flag_is_a_named_400_and_deletes_nothing(value, world, api):
    company, admin, _ = world
    definition = company.custom_fields.get(name="f_json")
    before = db_fingerprint()
    response = api(admin).delete(f"/api/custom-fields/{definition.pk}/?purge={value}")
    assert response.status_code == 400, response.content[:300]
    assert "purge" in response.json()
    assert db_fingerprint() == before


@pytest.mark.parametrize("host", ["e.g. partner_events", "evil.example.test"])
def test_forged_host_header_on_the_api_is_a_json_400(host, world, api):
    # Found by schemathesis: Django refuses the Host before any view runs and
    # answered with its HTML 400 page.
    _, admin, _ = world
    response = api(admin).get("/api/contacts/", HTTP_HOST=host)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Bad request."}


def test_forged_host_header_outside_the_api_stays_html(world, client):
    response = client.get("/admin/login/", HTTP_HOST="e.g. partner_events")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
