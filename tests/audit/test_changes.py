"""Change sets: {field: {old, new}} in API types; custom fields as extensions.<name>,
in the same entry as the fields changed by the same write."""

import pytest

from businessobjects import services
from businessobjects.models import Address, Partner
from events.models import OutboxEvent
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


def test_values_are_api_typed(company_a, make_partner):
    product = services.create(
        Product, data={"sku": "P-1", "name": "Bolt", "price": "9.5"}, company=company_a
    )
    services.update(product, data={"price": "10.25"})
    created, updated = product.history.order_by("history_id")
    assert created.changes == {
        "sku": {"old": None, "new": "P-1"},
        "name": {"old": None, "new": "Bolt"},
        "price": {"old": None, "new": "9.50"},  # decimals as the API shows them
        "company": {"old": None, "new": company_a.pk},
    }
    assert updated.changes == {"price": {"old": "9.50", "new": "10.25"}}

    partner = make_partner("P")
    services.update(partner, data={"is_active": False})
    assert partner.history.first().changes == {"is_active": {"old": True, "new": False}}
    other = make_partner("Q")
    address = services.create(
        Address, data={"partner": partner.pk, "city": "Oslo"}, company=company_a
    )
    services.update(address, data={"partner": other.pk})
    assert address.history.first().changes == {
        "partner": {"old": partner.pk, "new": other.pk}
    }


def test_delete_records_the_last_values(company_a, make_partner):
    partner = make_partner("Gone", email="g@x.test")
    services.delete(partner)
    record = Partner.history.filter(id=partner.pk).first()
    assert record.history_type == "-"
    assert record.changes["email"] == {"old": "g@x.test", "new": None}
    assert record.changes["is_active"] == {"old": True, "new": None}


def test_field_and_custom_field_change_is_one_entry(fake_extensions, make_partner):
    partner = make_partner("Acme")
    services.update(partner, data={"name": "Acme AG"}, extensions={"tier": "gold"})
    assert partner.history.count() == 2
    assert partner.history.first().changes == {
        "name": {"old": "Acme", "new": "Acme AG"},
        "extensions.tier": {"old": None, "new": "gold"},
    }
    event = OutboxEvent.objects.filter(event_type="partner.updated").get()
    assert event.changes == partner.history.first().changes


def test_custom_field_change_alone_is_a_change(fake_extensions, make_partner):
    partner = make_partner("Acme")
    services.update(partner, extensions={"score": 3})
    services.update(partner, extensions={"score": 4, "tier": "silver"})
    services.update(partner, extensions={"score": None})
    assert partner.version == 4
    entries = [r.changes for r in partner.history.order_by("history_id")][1:]
    assert entries == [
        {"extensions.score": {"old": None, "new": 3}},
        {
            "extensions.score": {"old": 3, "new": 4},
            "extensions.tier": {"old": None, "new": "silver"},
        },
        {"extensions.score": {"old": 4, "new": None}},
    ]
    assert OutboxEvent.objects.filter(event_type="partner.updated").count() == 3


def test_custom_fields_on_create_and_delete(fake_extensions, company_a):
    partner = services.create(
        Partner, data={"name": "X"}, extensions={"tier": "gold"}, company=company_a
    )
    assert partner.history.get().changes["extensions.tier"] == {
        "old": None,
        "new": "gold",
    }
    services.delete(partner)
    deleted = Partner.history.filter(id=partner.pk).first()
    assert deleted.history_type == "-"
    assert deleted.changes["name"] == {"old": "X", "new": None}


def test_api_write_of_field_and_custom_field_is_one_history_entry(
    fake_extensions, api, admin_a
):
    client = api(admin_a)
    pk = client.post("/api/partners/", {"name": "A"}, format="json").json()["id"]
    response = client.patch(
        f"/api/partners/{pk}/",
        {"phone": "+47 1", "extensions": {"tier": "gold"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    history = client.get(f"/api/partners/{pk}/history/").json()["results"]
    assert len(history) == 2
    assert history[0]["action"] == "updated"
    assert history[0]["changes"] == {
        "phone": {"old": "", "new": "+47 1"},
        "extensions.tier": {"old": None, "new": "gold"},
    }


def test_invalid_custom_field_writes_nothing(fake_extensions, make_partner):
    from django.core.exceptions import ValidationError

    partner = make_partner("A")
    with pytest.raises(ValidationError):
        services.update(partner, data={"name": "B"}, extensions={"score": "high"})
    partner.refresh_from_db()
    assert (partner.name, partner.version, partner.history.count()) == ("A", 1, 1)
