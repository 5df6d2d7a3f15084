"""The admin as a back office (issue 15), through Django's test client: optimistic
locking in forms and inlines, the company preselected, branding, user names as
text, inlines and autocomplete through the services and scoped, custom-field list
filters, customizing an object's admin. The browser tests are in
tests/reliability/test_admin_back_office_browser.py."""

import pytest
from django.contrib import admin
from django.core.checks import Error
from django.test import override_settings

from businessobjects import services
from businessobjects.admin import BusinessObjectAdmin, build_admin
from businessobjects.checks import check_admins
from businessobjects.models import Address, Contact, Membership, Partner
from businessobjects.registry import Registration, get_registration
from events.models import OutboxEvent
from extensions import services as ext

pytestmark = pytest.mark.django_db

PARTNERS = "/admin/businessobjects/partner/"


def _partner_post(partner, **overrides):
    data = {
        "name": partner.name,
        "email": partner.email,
        "phone": partner.phone,
        "is_active": "on" if partner.is_active else "",
        "version": str(partner.version),
        "address-TOTAL_FORMS": "0",
        "address-INITIAL_FORMS": "0",
        "contact-TOTAL_FORMS": "0",
        "contact-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def _footprint(partner) -> tuple:
    return (
        Partner.history.filter(id=partner.pk).count(),
        OutboxEvent.objects.count(),
        Partner.objects.get(pk=partner.pk).version,
    )


@pytest.fixture
def acme(company_a, member_a):
    return services.create(
        Partner, data={"name": "Acme", "phone": "111"}, company=company_a
    )


# -- 1. optimistic locking ------------------------------------------------------


def test_change_form_carries_the_version(client, admin_a, acme):
    client.force_login(admin_a)
    form = client.get(f"{PARTNERS}{acme.pk}/change/").context["adminform"].form
    assert form.fields["version"].widget.is_hidden
    assert form.initial["version"] == 1


def test_stale_save_is_refused_and_writes_nothing(client, admin_a, member_a, acme):
    client.force_login(admin_a)
    opened = Partner.objects.get(pk=acme.pk)  # what the form showed
    services.update(acme, data={"phone": "222"}, user=member_a)  # the API meanwhile
    before = _footprint(acme)
    response = client.post(
        f"{PARTNERS}{acme.pk}/change/", _partner_post(opened, name="Acme AG")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    message = " ".join(errors)
    assert "Not saved" in message and "member_a changed Phone" in message
    assert "version 1" in message and "version 2" in message
    assert _footprint(acme) == before  # no row change, history row or event
    acme.refresh_from_db()
    assert (acme.name, acme.phone) == ("Acme", "222")


def test_current_version_saves(client, admin_a, acme):
    client.force_login(admin_a)
    response = client.post(
        f"{PARTNERS}{acme.pk}/change/", _partner_post(acme, name="Acme AG")
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.name, acme.phone, acme.version) == ("Acme AG", "111", 2)


def _inline_post(partner, address, **row):
    data = _partner_post(
        partner,
        **{
            "address-TOTAL_FORMS": "1",
            "address-INITIAL_FORMS": "1",
            "address-0-id": str(address.pk),
            "address-0-partner": str(partner.pk),
            "address-0-street": address.street,
            "address-0-city": address.city,
            "address-0-postal_code": address.postal_code,
            "address-0-country": address.country,
            "address-0-version": str(address.version),
        },
    )
    data.update({f"address-0-{k}": v for k, v in row.items()})
    return data


def test_inline_rows_save_through_the_services_with_versions(
    client, admin_a, member_a, acme, company_a
):
    address = services.create(
        Address, data={"partner": acme, "city": "Oslo"}, company=company_a
    )
    client.force_login(admin_a)
    stale = Address.objects.get(pk=address.pk)
    services.update(address, data={"city": "Bergen"}, user=member_a)
    events = OutboxEvent.objects.count()
    before = _footprint(acme)
    post = _inline_post(acme, stale, city="Oslo", street="Main 1")
    post["name"] = "Acme AG"  # the parent's change is refused with the row's
    response = client.post(f"{PARTNERS}{acme.pk}/change/", post)
    assert response.status_code == 200
    assert "member_a changed City" in " ".join(
        response.context["adminform"].form.non_field_errors()
    )
    assert _footprint(acme) == before
    assert Partner.objects.get(pk=acme.pk).name == "Acme"
    address.refresh_from_db()
    assert (address.city, address.street, address.version) == ("Bergen", "", 2)
    assert OutboxEvent.objects.count() == events

    # With the current version the row is saved through the services.
    response = client.post(
        f"{PARTNERS}{acme.pk}/change/", _inline_post(acme, address, street="Main 1")
    )
    assert response.status_code == 302
    address.refresh_from_db()
    assert (address.street, address.version) == ("Main 1", 3)
    latest = address.history.first()
    assert latest.history_user == admin_a
    assert latest.changes == {"street": {"old": "", "new": "Main 1"}}
    assert OutboxEvent.objects.filter(
        event_type="address.updated", aggregate_id=str(address.pk), version=3
    ).exists()


def test_untouched_inline_row_changed_meanwhile_is_no_conflict(
    client, admin_a, member_a, acme, company_a
):
    address = services.create(
        Address, data={"partner": acme, "city": "Oslo"}, company=company_a
    )
    client.force_login(admin_a)
    stale = Address.objects.get(pk=address.pk)
    services.update(address, data={"street": "Elm 2"}, user=member_a)
    post = _inline_post(acme, stale, street="Elm 2", name="Acme AG")
    post["name"] = "Acme AG"
    response = client.post(f"{PARTNERS}{acme.pk}/change/", post)
    assert response.status_code == 302, response.context["adminform"].form.errors
    acme.refresh_from_db()
    address.refresh_from_db()
    assert (acme.name, address.street, address.version) == ("Acme AG", "Elm 2", 2)


def test_inline_add_and_delete_go_through_the_services(
    client, admin_a, acme, company_a
):
    client.force_login(admin_a)
    response = client.post(
        f"{PARTNERS}{acme.pk}/change/",
        _partner_post(
            acme,
            **{
                "contact-TOTAL_FORMS": "1",
                "contact-0-partner": str(acme.pk),
                "contact-0-name": "Ann",
                "contact-0-email": "ann@example.test",
            },
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact = Contact.objects.get(partner=acme)
    assert (contact.company, contact.created_by, contact.name) == (
        company_a,
        admin_a,
        "Ann",
    )
    assert contact.history.get().history_type == "+"
    assert OutboxEvent.objects.filter(
        event_type="contact.created", aggregate_id=str(contact.pk)
    ).exists()

    response = client.post(
        f"{PARTNERS}{acme.pk}/change/",
        _partner_post(
            acme,
            **{
                "contact-TOTAL_FORMS": "1",
                "contact-INITIAL_FORMS": "1",
                "contact-0-id": str(contact.pk),
                "contact-0-partner": str(acme.pk),
                "contact-0-name": "Ann",
                "contact-0-email": "ann@example.test",
                "contact-0-version": "1",
                "contact-0-DELETE": "on",
            },
        ),
    )
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Contact.history.filter(id=contact.pk, history_type="-").exists()
    assert OutboxEvent.objects.filter(event_type="contact.deleted").exists()


# -- 2. the company preselected, or limited --------------------------------------


def test_company_preselected_for_an_admin_of_one_company(client, admin_a, company_a):
    client.force_login(admin_a)
    form = client.get(f"{PARTNERS}add/").context["adminform"].form
    assert form.initial["company"] == company_a.pk
    assert list(form.fields["company"].queryset) == [company_a]


def test_company_choices_limited_for_an_admin_of_several(
    client, admin_a, company_a, company_b, make_company
):
    Membership.objects.create(user=admin_a, company=company_b, role="admin")
    make_company("Company C")
    client.force_login(admin_a)
    form = client.get(f"{PARTNERS}add/").context["adminform"].form
    assert "company" not in form.initial
    assert set(form.fields["company"].queryset) == {company_a, company_b}
    chosen = client.get(f"{PARTNERS}add/?company={company_b.pk}")
    assert chosen.context["adminform"].form.initial["company"] == company_b.pk


# -- 4. branding, View site, users as text ---------------------------------------


def test_branding_and_view_site_from_settings(client, admin_a):
    client.force_login(admin_a)
    html = client.get("/admin/").content.decode()
    assert "M-ERP back office" in html and "Django administration" not in html
    assert 'href="/api/docs/"' in html
    with override_settings(
        MERP={"ADMIN_SITE_HEADER": "ACME ERP", "ADMIN_SITE_URL": ""}
    ):
        html = client.get("/admin/").content.decode()
    assert "ACME ERP" in html and "View site" not in html


def test_created_and_updated_by_are_text(client, admin_a, company_a):
    partner = services.create(
        Partner, data={"name": "Acme"}, company=company_a, user=admin_a
    )
    client.force_login(admin_a)
    html = client.get(f"{PARTNERS}{partner.pk}/change/").content.decode()
    assert "Created by" in html and "admin_a" in html
    assert "/admin/auth/user/" not in html


# -- 7. list display, filters, autocomplete --------------------------------------


def test_partner_list_columns_and_custom_field_filters(
    client, admin_a, admin_b, company_a, company_b
):
    ext.definition_create(
        company=company_a,
        model="partner",
        name="tier",
        label="Tier",
        field_type="choice",
        choices=["gold", "silver"],
    )
    ext.definition_create(
        company=company_b, model="partner", name="secret_flag", field_type="boolean"
    )
    gold = services.create(
        Partner,
        data={"name": "Gold Co", "email": "g@example.test"},
        extensions={"tier": "gold"},
        company=company_a,
    )
    services.create(Partner, data={"name": "Plain Co"}, company=company_a)
    client.force_login(admin_a)
    page = client.get(PARTNERS)
    columns = list(page.context["cl"].list_display)
    assert columns[1:] == [
        "name",
        "email",
        "phone",
        "is_active",
        "company",
        "updated_at",
    ]
    titles = [spec.title for spec in page.context["cl"].filter_specs]
    assert titles == ["is active", "Tier"]  # not company B's secret_flag
    filtered = client.get(f"{PARTNERS}?ext__tier=gold")
    assert list(filtered.context["cl"].result_list) == [gold]
    empty = client.get(f"{PARTNERS}?ext__tier=__empty__")
    assert [p.name for p in empty.context["cl"].result_list] == ["Plain Co"]

    client.force_login(admin_b)
    titles = [spec.title for spec in client.get(PARTNERS).context["cl"].filter_specs]
    assert titles == ["is active", "Secret flag"]


def _autocomplete(client, term=""):
    return client.get(
        "/admin/autocomplete/",
        {
            "app_label": "businessobjects",
            "model_name": "address",
            "field_name": "partner",
            "term": term,
        },
    )


def test_partner_autocomplete_is_company_scoped(
    client, admin_a, admin_b, member_a, company_a, company_b
):
    mine = services.create(
        Partner, data={"name": "Shared Alphaleak"}, company=company_a
    )
    theirs = services.create(
        Partner, data={"name": "Shared Bravoown"}, company=company_b
    )
    client.force_login(admin_a)
    form = client.get("/admin/businessobjects/address/add/").context["adminform"]
    assert "admin-autocomplete" in str(form.form["partner"])
    found = _autocomplete(client, "Shared").json()["results"]
    assert [r["id"] for r in found] == [str(mine.pk)]

    client.force_login(admin_b)
    found = _autocomplete(client, "").json()["results"]
    assert [r["id"] for r in found] == [str(theirs.pk)]
    # Another company's partner, asked for by id or name: never returned.
    assert _autocomplete(client, "Alphaleak").json()["results"] == []
    assert _autocomplete(client, str(mine.pk)).json()["results"] == []

    client.force_login(member_a)  # not an admin: no answer at all
    assert _autocomplete(client, "Shared").status_code in (302, 403)


# -- 8. a project's own admin ------------------------------------------------------


def test_project_admin_registered_with_admin_register_is_used():
    from tests.testapp.admin import ProductAdmin

    product = get_registration("product").model
    model_admin = admin.site._registry[product]
    assert type(model_admin) is ProductAdmin
    assert model_admin.get_list_display(None)[:3] == ("sku", "name", "price")


def test_admin_class_option_fills_in_the_registration(client):
    registration = get_registration("partner")
    custom = Registration(
        **{
            **registration.__dict__,
            "admin_class": "tests.testapp.admin.ProductAdmin",
        }
    )
    built = build_admin(custom)
    assert issubclass(built, BusinessObjectAdmin)
    assert built.list_display == ("sku", "name", "price", "company", "updated_at")
    assert built.search_fields == ("sku", "name")  # the class's own, kept
    assert [i.model for i in built.inlines] == [Address, Contact]  # filled in
    with pytest.raises(AssertionError, match="must subclass"):
        build_admin(Registration(**{**registration.__dict__, "admin_class": object}))


def test_check_e005_for_an_admin_that_bypasses_the_framework():
    assert check_admins() == []
    product = get_registration("product").model
    kept = admin.site._registry[product]
    admin.site.unregister(product)
    try:
        admin.site.register(product, admin.ModelAdmin)
        errors = check_admins()
    finally:
        admin.site.unregister(product)
        admin.site._registry[product] = kept
    assert [type(e) for e in errors] == [Error]
    assert errors[0].id == "businessobjects.E005"
    assert "BusinessObjectAdmin" in errors[0].hint


def test_add_form_with_inline_rows_creates_all_through_the_services(
    client, admin_a, company_a
):
    client.force_login(admin_a)
    response = client.post(
        f"{PARTNERS}add/",
        {
            "company": company_a.pk,
            "name": "New Co",
            "is_active": "on",
            "address-TOTAL_FORMS": "1",
            "address-INITIAL_FORMS": "0",
            "address-0-city": "Oslo",
            "contact-TOTAL_FORMS": "1",
            "contact-INITIAL_FORMS": "0",
            "contact-0-name": "Bob",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    partner = Partner.objects.get(name="New Co")
    address = Address.objects.get(partner=partner)
    contact = Contact.objects.get(partner=partner)
    for obj in (partner, address, contact):
        assert obj.company == company_a and obj.created_by == admin_a
        assert obj.history.get().history_type == "+"
    assert OutboxEvent.objects.filter(event_type__endswith=".created").count() == 3
