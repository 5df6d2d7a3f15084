"""``extensions`` on business objects: merge writes, clears, required, isolation,
and one version bump, history entry and event per change."""

import pytest

from businessobjects import services
from businessobjects.models import Address, Contact, Partner
from events.models import OutboxEvent
from extensions.models import ExtensionValue

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(company_a, define):
    define(company_a, "tier", "choice", choices=["gold", "silver"], order=1)
    define(company_a, "credit_limit", "decimal", decimal_places=2, order=2)
    define(company_a, "since", "date", order=3)


def test_unset_fields_read_as_null(api, member_a, company_a, fields, partner):
    p = partner(company_a)
    body = api(member_a).get(f"/api/partners/{p.pk}/").json()
    assert body["extensions"] == {"tier": None, "credit_limit": None, "since": None}


def test_merge_semantics(api, member_a, company_a, fields):
    client = api(member_a)
    created = client.post(
        "/api/partners/",
        {"name": "P", "extensions": {"tier": "gold", "credit_limit": "500"}},
        format="json",
    ).json()
    url = f"/api/partners/{created['id']}/"
    # Keys left out are kept, keys given are set.
    patched = client.patch(url, {"extensions": {"since": "2024-05-01"}}, format="json")
    assert patched.json()["extensions"] == {
        "tier": "gold",
        "credit_limit": "500.00",
        "since": "2024-05-01",
    }
    # null clears one key only.
    cleared = client.patch(url, {"extensions": {"tier": None}}, format="json")
    assert cleared.json()["extensions"] == {
        "tier": None,
        "credit_limit": "500.00",
        "since": "2024-05-01",
    }
    assert not ExtensionValue.objects.filter(definition__name="tier").exists()
    # A write without extensions (or with "extensions": null) keeps them all.
    client.patch(url, {"name": "Renamed"}, format="json")
    kept = client.patch(url, {"extensions": None}, format="json").json()
    assert kept["extensions"]["credit_limit"] == "500.00"
    # PUT merges too.
    put = client.put(
        url, {"name": "Put", "extensions": {"credit_limit": "1.5"}}, format="json"
    ).json()
    assert put["extensions"] == {
        "tier": None,
        "credit_limit": "1.50",
        "since": "2024-05-01",
    }


def test_required_enforced_on_create(api, member_a, company_a, define):
    define(company_a, "vat_id", "string", required=True)
    client = api(member_a)
    missing = client.post("/api/partners/", {"name": "P"}, format="json")
    assert missing.status_code == 400
    assert missing.json() == {
        "extensions": {"vat_id": ["This custom field is required."]}
    }
    blank = client.post(
        "/api/partners/", {"name": "P", "extensions": {"vat_id": ""}}, format="json"
    )
    assert blank.status_code == 400
    assert not Partner.objects.exists()
    ok = client.post(
        "/api/partners/", {"name": "P", "extensions": {"vat_id": "DE1"}}, format="json"
    )
    assert ok.status_code == 201
    url = f"/api/partners/{ok.json()['id']}/"
    # Updates may leave it alone but not clear it.
    assert client.patch(url, {"name": "Q"}, format="json").status_code == 200
    cleared = client.patch(url, {"extensions": {"vat_id": None}}, format="json")
    assert cleared.status_code == 400
    assert "required" in cleared.json()["extensions"]["vat_id"][0]


def test_required_field_added_later_does_not_block_updates(
    api, member_a, company_a, define, partner
):
    p = partner(company_a)
    define(company_a, "vat_id", "string", required=True)
    response = api(member_a).patch(
        f"/api/partners/{p.pk}/", {"name": "New"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["extensions"] == {"vat_id": None}


def test_defaults_apply_on_create(api, member_a, company_a, define):
    define(company_a, "tier", "choice", choices=["gold", "silver"], default="silver")
    define(company_a, "vat_id", "string", required=True, default="n/a")
    client = api(member_a)
    created = client.post("/api/partners/", {"name": "P"}, format="json")
    assert created.status_code == 201
    assert created.json()["extensions"] == {"tier": "silver", "vat_id": "n/a"}
    given = client.post(
        "/api/partners/", {"name": "P", "extensions": {"tier": "gold"}}, format="json"
    )
    assert given.json()["extensions"]["tier"] == "gold"


def test_unknown_and_inactive_fields_are_400(api, member_a, company_a, define):
    define(company_a, "old", "string", is_active=False)
    response = api(member_a).post(
        "/api/partners/",
        {"name": "P", "extensions": {"colour": "red", "old": "x"}},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["extensions"]
    assert errors["colour"] == ["Unknown custom field 'colour'. Known fields: none."]
    assert "inactive" in errors["old"][0]
    assert not Partner.objects.exists()


def test_bad_extension_on_update_changes_nothing(
    api, member_a, company_a, fields, partner
):
    p = partner(company_a, extensions={"tier": "gold"})
    response = api(member_a).patch(
        f"/api/partners/{p.pk}/",
        {"name": "Changed", "extensions": {"tier": "silver", "since": "nope"}},
        format="json",
    )
    assert response.status_code == 400
    p.refresh_from_db()
    assert (p.name, p.version) == ("P", 1)
    assert ExtensionValue.objects.get().value_text == "gold"
    assert p.history.count() == 1
    assert OutboxEvent.objects.filter(event_type="partner.updated").count() == 0


def test_custom_field_change_alone_is_one_change(
    api, member_a, company_a, fields, partner
):
    p = partner(company_a, extensions={"tier": "gold"})
    client = api(member_a)
    response = client.patch(
        f"/api/partners/{p.pk}/",
        {"extensions": {"tier": "silver", "credit_limit": "10"}, "version": 1},
        format="json",
        HTTP_X_CORRELATION_ID="ext-change",
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2
    history = client.get(f"/api/partners/{p.pk}/history/").json()["results"]
    assert [h["action"] for h in history] == ["updated", "created"]
    assert history[0]["changes"] == {
        "extensions.tier": {"old": "gold", "new": "silver"},
        "extensions.credit_limit": {"old": None, "new": "10.00"},
    }
    assert history[0]["correlation_id"] == "ext-change"
    events = OutboxEvent.objects.filter(aggregate_id=str(p.pk)).order_by("id")
    assert [e.event_type for e in events] == ["partner.created", "partner.updated"]
    updated = events[1]
    assert updated.version == 2
    assert updated.changes == history[0]["changes"]
    assert updated.payload["extensions"] == {
        "tier": "silver",
        "credit_limit": "10.00",
        "since": None,
    }
    assert updated.correlation_id == "ext-change"
    # The value rows have history with the same correlation id.
    value_history = ExtensionValue.history.filter(object_id=p.pk).order_by("history_id")
    assert [(h.history_type, h.correlation_id) for h in value_history][-2:] == [
        ("~", "ext-change"),
        ("+", "ext-change"),
    ]


def test_same_values_are_no_change(api, member_a, company_a, fields, partner):
    p = partner(company_a, extensions={"credit_limit": "10"})
    response = api(member_a).patch(
        f"/api/partners/{p.pk}/",
        {"extensions": {"credit_limit": "10.00", "tier": None}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert p.history.count() == 1
    assert OutboxEvent.objects.filter(event_type="partner.updated").count() == 0


def test_field_and_custom_field_change_together_is_one_entry(
    api, member_a, company_a, fields, partner
):
    p = partner(company_a)
    api(member_a).patch(
        f"/api/partners/{p.pk}/",
        {"name": "New", "extensions": {"tier": "gold"}},
        format="json",
    )
    latest = p.history.order_by("-history_id").first()
    assert set(latest.changes) == {"name", "extensions.tier"}
    assert p.history.count() == 2


def test_created_event_and_history_carry_extensions(company_a, fields, partner):
    p = partner(company_a, extensions={"tier": "gold"})
    created = p.history.get()
    assert created.changes["extensions.tier"] == {"old": None, "new": "gold"}
    event = OutboxEvent.objects.get(event_type="partner.created")
    assert event.payload["extensions"]["tier"] == "gold"


def test_values_are_isolated_per_company(
    api, member_a, member_b, company_a, company_b, define, partner
):
    define(company_a, "tier", "string")
    define(company_b, "tier", "integer")
    pa = partner(company_a, extensions={"tier": "gold"})
    pb = partner(company_b, extensions={"tier": 3})
    assert api(member_a).get(f"/api/partners/{pa.pk}/").json()["extensions"] == {
        "tier": "gold"
    }
    assert api(member_b).get(f"/api/partners/{pb.pk}/").json()["extensions"] == {
        "tier": 3
    }
    assert [
        r["extensions"] for r in api(member_b).get("/api/partners/").json()["results"]
    ] == [{"tier": 3}]
    # B's definition rules apply to B's objects: a string is refused there.
    refused = api(member_b).patch(
        f"/api/partners/{pb.pk}/", {"extensions": {"tier": "gold"}}, format="json"
    )
    assert refused.status_code == 400
    assert {v.company_id for v in ExtensionValue.objects.all()} == {
        company_a.pk,
        company_b.pk,
    }


def test_fields_are_per_object_type(api, member_a, company_a, define, partner):
    define(company_a, "tier", "string")
    define(company_a, "department", "string", model="contact")
    p = partner(company_a)
    client = api(member_a)
    contact = client.post(
        "/api/contacts/",
        {"partner": p.pk, "name": "Ann", "extensions": {"department": "Sales"}},
        format="json",
    )
    assert contact.status_code == 201, contact.json()
    assert contact.json()["extensions"] == {"department": "Sales"}
    refused = client.post(
        "/api/contacts/",
        {"partner": p.pk, "name": "Bob", "extensions": {"tier": "x"}},
        format="json",
    )
    assert refused.status_code == 400
    assert Contact.objects.count() == 1
    address = client.post("/api/addresses/", {"partner": p.pk}, format="json")
    assert address.json()["extensions"] == {}


def test_testapp_object_gets_custom_fields(api, member_a, company_a, define):
    from tests.testapp.models import Product

    define(company_a, "weight_kg", "decimal", model="product")
    response = api(member_a).post(
        "/api/products/",
        {"sku": "A1", "name": "Widget", "extensions": {"weight_kg": "2.5"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["extensions"] == {"weight_kg": "2.5"}
    assert Product.objects.get().pk == response.json()["id"]


def test_delete_removes_values_and_keeps_their_history(
    api, member_a, company_a, fields, partner
):
    p = partner(company_a, extensions={"tier": "gold"})
    response = api(member_a).delete(f"/api/partners/{p.pk}/")
    assert response.status_code == 204
    assert not ExtensionValue.objects.exists()
    assert ExtensionValue.history.filter(object_id=p.pk, history_type="-").count() == 1
    deleted = OutboxEvent.objects.get(event_type="partner.deleted")
    assert deleted.payload["extensions"]["tier"] == "gold"


def test_address_delete_keeps_partner_values(company_a, define, partner):
    define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    address = services.create(Address, data={"partner": p.pk}, company=company_a)
    services.delete(address)
    assert ExtensionValue.objects.get().object_id == p.pk
