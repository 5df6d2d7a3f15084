"""Admin history view on every business object, scoped; revert via the services."""

import pytest

from businessobjects import services
from businessobjects.models import Partner
from businessobjects.registry import registrations
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def history_url(obj) -> str:
    opts = obj._meta
    return f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/history/"


def revert_url(obj, record) -> str:
    return f"{history_url(obj)}{record.history_id}/"


def test_every_business_object_has_a_history_view(client, admin_a, company_a):
    from django.contrib import admin

    from audit.admin import BusinessObjectHistoryAdmin

    for registration in registrations():
        assert isinstance(
            admin.site._registry[registration.model], BusinessObjectHistoryAdmin
        ), registration.name
    client.force_login(admin_a)
    partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    services.update(partner, data={"name": "Acme AG"}, reason="rebrand")
    page = client.get(history_url(partner))
    assert page.status_code == 200
    html = page.content.decode()
    assert "rebrand" in html and "Acme AG" in html
    assert partner.history.first().correlation_id in html


def test_history_view_shows_stored_change_sets(
    fake_extensions, client, admin_a, company_a
):
    client.force_login(admin_a)
    partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    services.update(partner, extensions={"tier": "platinum"})
    assert "extensions.tier" in client.get(history_url(partner)).content.decode()


def test_deleted_objects_history_is_readable_not_revertable(client, admin_a, company_a):
    client.force_login(admin_a)
    partner = services.create(Partner, data={"name": "Gone"}, company=company_a)
    created = partner.history.get()
    services.delete(partner)
    assert client.get(history_url(partner)).status_code == 200
    preview = client.get(revert_url(partner, created))
    assert preview.status_code == 200
    assert b"deleted" in preview.content
    assert client.post(revert_url(partner, created)).status_code == 403


def test_other_companies_history_is_404(client, admin_b, company_a):
    client.force_login(admin_b)
    alive = services.create(Partner, data={"name": "A1"}, company=company_a)
    gone = services.create(Partner, data={"name": "A2"}, company=company_a)
    gone_record = gone.history.get()
    services.delete(gone)
    for obj, record in ((alive, alive.history.get()), (gone, gone_record)):
        assert client.get(history_url(obj)).status_code == 404
        assert client.get(revert_url(obj, record)).status_code == 404
        assert client.post(revert_url(obj, record)).status_code == 404
    assert Partner.objects.get(pk=alive.pk).version == 1
    assert client.get("/admin/businessobjects/partner/abc/history/").status_code in (
        302,
        404,
    )


def test_revert_preview_and_post_go_through_the_services(client, admin_a, company_a):
    client.force_login(admin_a)
    partner = services.create(
        Partner, data={"name": "Acme", "phone": "1"}, company=company_a
    )
    services.update(partner, data={"name": "Acme AG", "phone": "2"})
    first = partner.history.get(version=1)

    preview = client.get(revert_url(partner, first))
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Acme AG" in html and 'name="_revert"' in html
    assert partner.history.count() == 2  # the preview writes nothing

    response = client.post(revert_url(partner, first), {"version": "2"})
    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.name, partner.phone, partner.version) == ("Acme", "1", 3)
    latest = partner.history.first()
    assert latest.history_user == admin_a
    assert latest.changes == {
        "name": {"old": "Acme AG", "new": "Acme"},
        "phone": {"old": "2", "new": "1"},
    }
    assert "Revert to version 1" in latest.history_change_reason
    event = OutboxEvent.objects.filter(event_type="partner.updated").last()
    assert event.version == 3 and event.user_id == admin_a.pk


def test_revert_with_a_stale_preview_changes_nothing(client, admin_a, company_a):
    client.force_login(admin_a)
    partner = services.create(Partner, data={"name": "A"}, company=company_a)
    services.update(partner, data={"name": "B"})
    response = client.post(
        revert_url(partner, partner.history.get(version=1)), {"version": "1"}
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("B", 2)


def test_member_cannot_revert(client, member_a, company_a):
    client.force_login(member_a)
    partner = services.create(Partner, data={"name": "A"}, company=company_a)
    services.update(partner, data={"name": "B"})
    response = client.post(revert_url(partner, partner.history.get(version=1)))
    assert response.status_code == 302  # to the admin login
    assert Partner.objects.get(pk=partner.pk).name == "B"


@pytest.mark.parametrize("name", ["partner", "address", "contact", "product"])
def test_history_and_revert_pages_render_for_each_object_type(
    client, admin_a, company_a, name
):
    from businessobjects.registry import get_registration

    partner = services.create(Partner, data={"name": "Owner"}, company=company_a)
    data = {
        "partner": {"name": "P1"},
        "address": {"partner": partner.pk, "city": "Oslo"},
        "contact": {"partner": partner.pk, "name": "Ann"},
        "product": {"sku": "S1", "name": "Bolt", "price": "1.50"},
    }[name]
    model = get_registration(name).model
    obj = services.create(model, data=data, company=company_a)
    change = {"partner": {"name": "P2"}, "address": {"city": "Bergen"}}.get(
        name, {"name": "Renamed"}
    )
    services.update(obj, data=change)
    client.force_login(admin_a)
    assert client.get(history_url(obj)).status_code == 200
    preview = client.get(revert_url(obj, obj.history.get(version=1)))
    assert preview.status_code == 200
    assert 'name="_revert"' in preview.content.decode()
    assert client.post(revert_url(obj, obj.history.get(version=1))).status_code == 302
    obj.refresh_from_db()
    assert obj.version == 3
    assert obj.history.first().changes == {
        key: {"old": value, "new": data[key]} for key, value in change.items()
    }


def test_history_is_rendered_for_people(client, admin_a, company_a):
    from extensions import services as ext

    ext.definition_create(
        company=company_a,
        model="partner",
        name="employees",
        label="Employees",
        field_type="integer",
    )
    ext.definition_create(
        company=company_a,
        model="partner",
        name="vip",
        label="VIP",
        field_type="boolean",
    )
    ext.definition_create(
        company=company_a, model="partner", name="since", field_type="date"
    )
    partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    services.update(
        partner,
        data={"phone": "555", "is_active": False},
        extensions={"employees": 12, "vip": True, "since": "2025-01-31"},
    )
    client.force_login(admin_a)
    page = client.get(history_url(partner))
    rows = {
        record.history_type: {
            c.label: (c.old, c.new) for c in record.history_delta_changes
        }
        for record in page.context["page_obj"]
    }
    assert rows["+"] == {"Name": ("(empty)", "Acme"), "Is active": ("(empty)", "Yes")}
    assert rows["~"] == {
        "Phone": ("(empty)", "555"),
        "Is active": ("Yes", "No"),
        "Employees": ("(empty)", "12"),
        "VIP": ("(empty)", "Yes"),
        "Since": ("(empty)", "Jan. 31, 2025"),
    }
    html = page.content.decode()
    assert "None" not in html.split('id="change-history"')[1]
    assert 'title="extensions.employees"' in html

    preview = client.get(revert_url(partner, partner.history.get(version=1)))
    changes = {c.label: (c.old, c.new) for c in preview.context["changes"]}
    assert changes["Employees"] == ("12", "(empty)")
    assert changes["Phone"] == ("555", "(empty)")


def test_a_deletion_lists_the_values_removed_without_a_dangling_arrow(
    client, admin_a, company_a
):
    """A creation shows "Name: Acme", so a deletion shows "Name: Acme", not
    "Name: Acme ->" pointing at nothing."""
    import re

    client.force_login(admin_a)
    partner = services.create(Partner, data={"name": "Gone"}, company=company_a)
    services.delete(partner)
    html = client.get(history_url(partner)).content.decode()
    items = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
        for item in re.findall(r"<li>(.*?)</li>", html, re.S)
        if "Name:" in item
    ]
    assert items == ["Name: Gone", "Name: Gone"]  # the deletion, the creation
