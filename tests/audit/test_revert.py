"""Revert to an earlier version goes through the services: audited and evented."""

import pytest
from django.core.exceptions import ValidationError

from audit import services as audit_services
from businessobjects import services
from businessobjects.exceptions import VersionConflict
from businessobjects.models import Address, Partner
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def entry(obj, version: int):
    return obj.history.get(version=version)


def test_revert_restores_fields_as_a_new_audited_version(make_partner, admin_a):
    partner = make_partner("Acme", email="a@acme.test")
    services.update(partner, data={"name": "Acme AG", "phone": "1"})
    services.update(partner, data={"email": "new@acme.test", "is_active": False})
    target = entry(partner, 1)

    audit_services.revert(partner, history_id=target.history_id, user=admin_a)

    partner.refresh_from_db()
    assert (partner.name, partner.email, partner.phone, partner.is_active) == (
        "Acme",
        "a@acme.test",
        "",
        True,
    )
    assert partner.version == 4
    latest = partner.history.first()
    assert latest.history_type == "~" and latest.history_user == admin_a
    assert latest.history_change_reason == (
        f"Revert to version 1 (history #{target.history_id})"
    )
    assert latest.changes == {
        "name": {"old": "Acme AG", "new": "Acme"},
        "email": {"old": "new@acme.test", "new": "a@acme.test"},
        "phone": {"old": "1", "new": ""},
        "is_active": {"old": False, "new": True},
    }
    event = OutboxEvent.objects.filter(event_type="partner.updated").last()
    assert (event.version, event.changes) == (4, latest.changes)


def test_revert_restores_custom_fields(fake_extensions, make_partner):
    partner = make_partner("A")
    services.update(partner, extensions={"tier": "gold", "score": 1})
    services.update(partner, data={"name": "B"}, extensions={"score": 2})
    services.update(partner, extensions={"tier": None, "score": 3})
    services.update(partner, extensions={"score": 9})

    audit_services.revert(partner, history_id=entry(partner, 3).history_id)

    assert fake_extensions.current_values(partner) == {"tier": "gold", "score": 2}
    assert partner.name == "B"
    assert partner.history.first().changes == {
        "extensions.tier": {"old": None, "new": "gold"},
        "extensions.score": {"old": 9, "new": 2},
    }
    # Back to the creation: custom fields set later are cleared again.
    audit_services.revert(partner, history_id=entry(partner, 1).history_id)
    assert fake_extensions.current_values(partner) == {}
    assert partner.name == "A"


def test_revert_plan_lists_what_would_change(make_partner):
    partner = make_partner("A")
    services.update(partner, data={"name": "B"})
    plan = audit_services.revert_plan(partner, history_id=entry(partner, 1).history_id)
    assert plan.changes == {"name": {"old": "B", "new": "A"}}
    assert partner.history.count() == 2  # planning writes nothing


def test_revert_to_the_current_values_writes_nothing(make_partner):
    partner = make_partner("A")
    services.update(partner, data={"name": "B"})
    services.update(partner, data={"name": "A"})
    audit_services.revert(partner, history_id=entry(partner, 1).history_id)
    assert partner.version == 3 and partner.history.count() == 3


def test_revert_keeps_references_inside_the_company(company_a, make_partner):
    first, second = make_partner("First"), make_partner("Second")
    address = services.create(
        Address, data={"partner": first.pk, "city": "Oslo"}, company=company_a
    )
    services.update(address, data={"partner": second.pk})
    services.update(address, data={"partner": first.pk, "city": "Bergen"})
    services.delete(second)  # the version to revert to points at a deleted partner
    with pytest.raises(ValidationError) as info:
        audit_services.revert(address, history_id=entry(address, 2).history_id)
    assert "partner" in info.value.message_dict
    address.refresh_from_db()
    assert (address.city, address.version) == ("Bergen", 3)


def test_revert_refuses_foreign_deleted_and_stale(make_partner, company_b):
    partner = make_partner("A")
    services.update(partner, data={"name": "B"})
    other = services.create(Partner, data={"name": "B's"}, company=company_b)
    with pytest.raises(ValidationError, match="No history entry"):
        audit_services.revert(partner, history_id=other.history.get().history_id)
    gone = make_partner("Gone")
    gone_pk = gone.pk
    services.delete(gone)
    gone.pk = gone_pk  # a stale in-memory copy of the deleted object
    deletion = Partner.history.filter(id=gone_pk, history_type="-").get()
    with pytest.raises(ValidationError, match="deletion"):
        audit_services.revert_plan(gone, history_id=deletion.history_id)
    with pytest.raises(VersionConflict):
        audit_services.revert(
            partner, history_id=entry(partner, 1).history_id, expected_version=1
        )
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("B", 2)
