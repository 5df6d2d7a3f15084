"""Strict input: unknown fields are refused, model defaults hold for every content
type, and every error of a request comes in one 400."""

import pytest
from django.core.exceptions import ValidationError

from businessobjects import services
from businessobjects.models import Address, Partner
from businessobjects.registry import registrations
from events.models import OutboxEvent
from extensions import services as ext
from extensions.models import FieldDefinition

pytestmark = pytest.mark.django_db

FORMATS = ["json", "form", "multipart"]


def send(client, method, url, data, fmt):
    """Send ``data`` as JSON, application/x-www-form-urlencoded or multipart."""
    if fmt == "json":
        return getattr(client, method)(url, data, format="json")
    if fmt == "multipart":
        return getattr(client, method)(url, data, format="multipart")
    from urllib.parse import urlencode

    return getattr(client, method)(
        url, urlencode(data), content_type="application/x-www-form-urlencoded"
    )


# -- unknown fields ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_field_on_create_is_400_naming_it(api, member_a, fmt):
    response = send(
        api(member_a),
        "post",
        "/api/partners/",
        {"name": "x", "emial": "a@b.test", "fax": "1"},
        fmt,
    )
    assert response.status_code == 400
    assert response.json() == {"emial": ["Unknown field."], "fax": ["Unknown field."]}
    assert not Partner.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_unknown_field_on_update_is_400(api, member_a, company_a, method):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    response = getattr(api(member_a), method)(
        f"/api/partners/{partner.pk}/", {"name": "Q", "emial": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"emial": ["Unknown field."]}
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("P", 1)


def test_unknown_and_bad_fields_come_together(api, member_a):
    response = api(member_a).post(
        "/api/partners/", {"name": "", "emial": "x"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "emial"}


@pytest.mark.parametrize("registration", registrations(), ids=lambda r: r.name)
def test_every_registered_object_refuses_unknown_fields(api, member_a, registration):
    response = api(member_a).post(
        f"/api/{registration.plural}/", {"no_such_field": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["no_such_field"] == ["Unknown field."]
    assert not registration.model.objects.exists()


def test_custom_field_definitions_refuse_unknown_fields(api, admin_a):
    response = api(admin_a).post(
        "/api/custom-fields/",
        {"model": "partner", "name": "tier", "field_type": "string", "requird": True},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"requird": ["Unknown field."]}
    assert not FieldDefinition.objects.exists()


def test_echoed_representation_is_accepted(api, member_a, company_a):
    # Clients PUT back what they read: read-only fields (id, company, timestamps)
    # are ignored, version is the lock.
    client = api(member_a)
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    url = f"/api/partners/{partner.pk}/"
    body = client.get(url).json()
    body["name"] = "Renamed"
    response = client.put(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    # A stale echo is the usual 409.
    body["name"] = "Stale"
    assert client.put(url, body, format="json").status_code == 409
    partner.refresh_from_db()
    assert partner.name == "Renamed"


def test_echoed_definition_is_accepted(api, admin_a):
    client = api(admin_a)
    created = client.post(
        "/api/custom-fields/",
        {"model": "partner", "name": "tier", "field_type": "string"},
        format="json",
    ).json()
    created["label"] = "Tier"
    response = client.put(
        f"/api/custom-fields/{created['id']}/", created, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["label"] == "Tier"


def test_browsable_api_form_token_is_not_an_unknown_field(api, member_a):
    response = send(
        api(member_a),
        "post",
        "/api/partners/",
        {"name": "x", "csrfmiddlewaretoken": "abc"},
        "form",
    )
    assert response.status_code == 201, response.json()


# -- model defaults for every content type ---------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_create_without_is_active_gets_the_model_default(api, member_a, fmt):
    response = send(api(member_a), "post", "/api/partners/", {"name": "x"}, fmt)
    assert response.status_code == 201, response.json()
    assert response.json()["is_active"] is True
    assert Partner.objects.get().is_active is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_false_is_kept(api, member_a, fmt):
    response = send(
        api(member_a),
        "post",
        "/api/partners/",
        {"name": "x", "is_active": "false"},
        fmt,
    )
    assert response.status_code == 201, response.json()
    assert Partner.objects.get().is_active is False


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_without_is_active_keeps_it(api, member_a, company_a, fmt, method):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    response = send(
        api(member_a), method, f"/api/partners/{partner.pk}/", {"name": "Q"}, fmt
    )
    assert response.status_code == 200, response.json()
    partner.refresh_from_db()
    assert (partner.name, partner.is_active) == ("Q", True)


@pytest.mark.parametrize("fmt", ["form", "multipart"])
def test_definition_form_create_gets_the_model_defaults(api, admin_a, fmt):
    response = send(
        api(admin_a),
        "post",
        "/api/custom-fields/",
        {"model": "partner", "name": "tier", "field_type": "string"},
        fmt,
    )
    assert response.status_code == 201, response.json()
    assert response.json()["is_active"] is True


# -- every error in one 400 ----------------------------------------------------


@pytest.fixture
def tier(company_a):
    ext.definition_create(
        company=company_a,
        model="partner",
        name="tier",
        field_type="choice",
        choices=["gold", "silver"],
    )


def test_bad_field_and_bad_custom_field_in_one_400(api, member_a, tier):
    response = api(member_a).post(
        "/api/partners/",
        {"name": "x", "email": "not-an-email", "extensions": {"tier": "platinum"}},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"email", "extensions"}
    assert set(body["extensions"]) == {"tier"}
    assert not Partner.objects.exists()


def test_unknown_field_and_unknown_custom_field_in_one_400(api, member_a, tier):
    response = api(member_a).post(
        "/api/partners/",
        {"name": "x", "emial": "x", "extensions": {"teir": "gold"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["emial"] == ["Unknown field."]
    assert set(response.json()["extensions"]) == {"teir"}


def test_bad_field_and_missing_required_custom_field_on_create(
    api, member_a, company_a
):
    ext.definition_create(
        company=company_a,
        model="partner",
        name="code",
        field_type="string",
        required=True,
    )
    response = api(member_a).post("/api/partners/", {"name": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"name", "extensions"}
    assert set(response.json()["extensions"]) == {"code"}


def test_patch_bad_field_and_custom_field_in_one_400(api, member_a, company_a, tier):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    response = api(member_a).patch(
        f"/api/partners/{partner.pk}/",
        {"email": "nope", "extensions": {"tier": "platinum"}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"email", "extensions"}
    partner.refresh_from_db()
    assert partner.version == 1


def test_custom_fields_are_looked_up_once_per_request(api, member_a, tier, monkeypatch):
    # Reporting the custom-field errors beside the field errors costs no second
    # definitions lookup (cache or database).
    from extensions import cache

    lookups = []
    original = cache._cached

    def counting(*args):
        lookups.append(args)
        return original(*args)

    monkeypatch.setattr(cache, "_cached", counting)
    response = api(member_a).post(
        "/api/partners/",
        {"name": "", "extensions": {"tier": "platinum"}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "extensions"}
    assert len(lookups) == 1


def test_service_reports_model_and_custom_field_errors_together(company_a, tier):
    events = OutboxEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        services.create(
            Partner,
            data={"name": "x", "email": "not-an-email"},
            extensions={"tier": "platinum"},
            company=company_a,
        )
    assert set(info.value.message_dict) == {"email", "extensions"}
    assert set(info.value.api_detail["extensions"]) == {"tier"}
    assert info.value.api_detail["email"]
    assert not Partner.objects.exists()
    assert OutboxEvent.objects.count() == events


def test_service_update_reports_both_too(company_a, tier):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    with pytest.raises(ValidationError) as info:
        services.update(partner, data={"name": ""}, extensions={"tier": "platinum"})
    assert set(info.value.message_dict) == {"name", "extensions"}
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("P", 1)


def test_reference_and_custom_field_errors_together(
    api, member_a, company_a, company_b
):
    ext.definition_create(
        company=company_a, model="address", name="floor", field_type="integer"
    )
    theirs = services.create(Partner, data={"name": "T"}, company=company_b)
    response = api(member_a).post(
        "/api/addresses/",
        {"partner": theirs.pk, "extensions": {"floor": "high"}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"partner", "extensions"}
    assert not Address.objects.exists()


# -- DELETE with the version in the body -------------------------------------


def test_delete_with_stale_body_version_is_409(api, member_a, company_a):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    services.update(partner, data={"name": "Q"})
    client = api(member_a)
    response = client.delete(
        f"/api/partners/{partner.pk}/", {"version": 1}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    assert Partner.objects.filter(pk=partner.pk).exists()
    ok = client.delete(f"/api/partners/{partner.pk}/", {"version": 2}, format="json")
    assert ok.status_code == 204
    assert not Partner.objects.filter(pk=partner.pk).exists()


@pytest.mark.parametrize("fmt", ["form", "multipart"])
def test_delete_with_stale_form_version_is_409(api, member_a, company_a, fmt):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    services.update(partner, data={"name": "Q"})
    response = send(
        api(member_a), "delete", f"/api/partners/{partner.pk}/", {"version": "1"}, fmt
    )
    assert response.status_code == 409
    assert Partner.objects.filter(pk=partner.pk).exists()


@pytest.mark.parametrize(
    "body",
    [{"version": "abc"}, {"version": 0}, {"version": True}, {"versoin": 1}, [1]],
)
def test_delete_with_bad_body_is_400(api, member_a, company_a, body):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    response = api(member_a).delete(f"/api/partners/{partner.pk}/", body, format="json")
    assert response.status_code == 400
    assert Partner.objects.filter(pk=partner.pk).exists()


def test_delete_body_and_query_versions_must_agree(api, member_a, company_a):
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    response = api(member_a).delete(
        f"/api/partners/{partner.pk}/?version=1", {"version": 2}, format="json"
    )
    assert response.status_code == 400
    assert "version" in response.json()
    assert Partner.objects.filter(pk=partner.pk).exists()
