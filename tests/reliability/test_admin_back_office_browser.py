"""The admin as an ERP back office (issue 15), in a real browser: Playwright drives
Debian's headless Chromium against a live server. Every page a test looks at is
saved as a screenshot under .artifacts/admin-screenshots/<test>/ (git ignores it).
"""

import json

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from businessobjects import services
from businessobjects.models import Address, Contact, Membership, Partner
from businessobjects.registry import get_registration
from events.models import OutboxEvent
from extensions import services as ext
from extensions.models import ExtensionValue, FieldDefinition

from .conftest import count, log_in, make_tenant
from .support import MARKERS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def world(transactional_db):
    tenant_a, tenant_b = make_tenant(MARKERS[0]), make_tenant(MARKERS[1])
    partner = services.create(
        Partner,
        data={"name": f"Partner {MARKERS[0]}", "phone": "111"},
        company=tenant_a.company,
        user=tenant_a.admin,
    )
    return tenant_a, tenant_b, partner


def url(live_server, path: str) -> str:
    return f"{live_server.url}{path}"


def change_url(obj) -> str:
    opts = obj._meta
    return f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/"


def footprint(partner) -> tuple:
    return (
        Partner.history.filter(id=partner.pk).count(),
        OutboxEvent.objects.count(),
        Partner.objects.get(pk=partner.pk).version,
    )


# -- 1. no lost updates ------------------------------------------------------------


def test_lost_update_is_refused_with_who_changed_what(
    browser, live_server, world, shoot
):
    tenant_a, _, partner = world
    page = log_in(browser, live_server, tenant_a.admin.username)
    page.goto(url(live_server, change_url(partner)))
    expect(page.locator("input[type=hidden][name=version]")).to_have_value("1")
    shoot(page, "change-form-opened")

    # Meanwhile, someone changes the phone over the API.
    api = APIClient()
    api.force_authenticate(tenant_a.member)
    response = api.patch(
        f"/api/partners/{partner.pk}/", {"phone": "222"}, format="json"
    )
    assert response.status_code == 200
    before = footprint(partner)

    # The form is saved with only the name changed: refused, nothing written.
    page.fill("#id_name", f"Renamed {MARKERS[0]}")
    page.click("input[name=_save]")
    error = page.locator(".errorlist.nonfield")
    expect(error).to_contain_text("Not saved")
    expect(error).to_contain_text(f"{tenant_a.member.username} changed Phone")
    expect(error).to_contain_text("you had version 1, it is now at version 2")
    shoot(page, "stale-save-refused")
    assert footprint(partner) == before
    partner.refresh_from_db()
    assert (partner.name, partner.phone) == (f"Partner {MARKERS[0]}", "222")

    # Saving again from the stale form is refused again; reloading shows the
    # current values and the change goes through.
    page.click("input[name=_save]")
    expect(page.locator(".errorlist.nonfield")).to_contain_text("Not saved")
    page.goto(url(live_server, change_url(partner)))
    expect(page.locator("#id_phone")).to_have_value("222")
    page.fill("#id_name", f"Renamed {MARKERS[0]}")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    shoot(page, "saved-after-reload")
    partner.refresh_from_db()
    assert (partner.name, partner.phone, partner.version) == (
        f"Renamed {MARKERS[0]}",
        "222",
        3,
    )
    count("browser: pages driven", 5)


def test_inline_rows_are_versioned_and_saved_through_the_services(
    browser, live_server, world, shoot
):
    tenant_a, _, partner = world
    address = services.create(
        Address,
        data={"partner": partner, "city": "Oslo"},
        company=tenant_a.company,
        user=tenant_a.admin,
    )
    page = log_in(browser, live_server, tenant_a.admin.username)
    page.goto(url(live_server, change_url(partner)))
    expect(page.locator("#id_address-0-city")).to_have_value("Oslo")
    shoot(page, "partner-with-address-and-contact-inlines")

    services.update(address, data={"city": "Bergen"}, user=tenant_a.member)
    page.fill("#id_address-0-street", "Main 1")
    page.fill("#id_contact-0-name", f"Ann {MARKERS[0]}")
    page.click("input[name=_save]")
    error = page.locator(".errorlist.nonfield")
    expect(error).to_contain_text("Not saved")
    expect(error).to_contain_text(f"{tenant_a.member.username} changed City")
    shoot(page, "stale-inline-refused")
    address.refresh_from_db()
    assert (address.city, address.street, address.version) == ("Bergen", "", 2)
    assert not Contact.objects.exists()  # the whole save was refused

    page.goto(url(live_server, change_url(partner)))
    page.fill("#id_address-0-street", "Main 1")
    page.fill("#id_contact-0-name", f"Ann {MARKERS[0]}")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    shoot(page, "inline-rows-saved")
    address.refresh_from_db()
    assert (address.city, address.street, address.version) == ("Bergen", "Main 1", 3)
    contact = Contact.objects.get(partner=partner)
    assert contact.history.get().history_user == tenant_a.admin
    assert OutboxEvent.objects.filter(
        event_type="contact.created", aggregate_id=str(contact.pk)
    ).exists()
    assert address.history.first().changes == {"street": {"old": "", "new": "Main 1"}}
    count("browser: pages driven", 4)


# -- 2. the company preselected / limited ----------------------------------------


def test_company_preselected_or_limited(browser, live_server, world, shoot):
    tenant_a, tenant_b, _ = world
    page = log_in(browser, live_server, tenant_a.admin.username)
    page.goto(url(live_server, "/admin/businessobjects/partner/add/"))
    expect(page.locator("#id_company")).to_have_value(str(tenant_a.company.pk))
    shoot(page, "add-form-company-preselected")
    page.fill("#id_name", f"Added {MARKERS[0]}")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Partner.objects.get(name=f"Added {MARKERS[0]}").company == tenant_a.company

    # An admin of two companies (not of the third) chooses among their two.
    third = make_tenant(MARKERS[2])
    Membership.objects.create(
        user=tenant_b.admin, company=tenant_a.company, role=Membership.Role.ADMIN
    )
    page = log_in(browser, live_server, tenant_b.admin.username)
    page.goto(url(live_server, "/admin/businessobjects/partner/add/"))
    options = page.locator("#id_company option").all_inner_texts()
    assert sorted(options) == sorted(
        ["---------", tenant_a.company.name, tenant_b.company.name]
    )
    assert third.company.name not in page.content()
    shoot(page, "add-form-company-limited")
    count("browser: pages driven", 4)


# -- 3. history for people -----------------------------------------------------------


def test_history_and_revert_preview_for_people(browser, live_server, world, shoot):
    tenant_a, _, partner = world
    company = tenant_a.company
    for name, label, field_type, extra in (
        ("employees", "Employees", "integer", {}),
        ("since", "Customer since", "date", {}),
        ("vip", "VIP", "boolean", {}),
        ("credit", "Credit limit", "decimal", {"decimal_places": 2}),
        ("profile", "Profile", "json", {}),
    ):
        ext.definition_create(
            company=company,
            model="partner",
            name=name,
            label=label,
            field_type=field_type,
            **extra,
        )
    services.update(
        partner,
        data={"email": "a@example.test"},
        extensions={
            "employees": 12,
            "since": "2025-01-31",
            "vip": True,
            "credit": "1500.50",
            "profile": {"segments": ["retail", "b2b"], "score": 7},
        },
        user=tenant_a.admin,
    )
    services.update(partner, data={"email": ""}, user=tenant_a.admin, reason="typo")

    page = log_in(browser, live_server, tenant_a.admin.username)
    history_url = f"/admin/businessobjects/partner/{partner.pk}/history/"
    page.goto(url(live_server, history_url))
    table = page.locator("#change-history")
    expect(table).to_contain_text("Employees:")
    shoot(page, "history-for-people")
    text = table.inner_text()
    for shown in ("Customer since:", "Jan. 31, 2025", "VIP:", "Yes", "1500.50"):
        assert shown in text, shown
    assert "(empty)" in text and "typo" in text
    for raw in ("extensions.", "None", "True", "{'", "company"):
        assert raw not in text, raw
    pretty = table.locator("pre.merp-json").first.inner_text()
    assert json.loads(pretty) == {"score": 7, "segments": ["retail", "b2b"]}
    assert "\n" in pretty  # indented, not one long line
    # The creation lists what it set, without "Company: (empty) -> ..." noise.
    created_row = table.locator("tbody tr").last
    expect(created_row).to_contain_text(f"Partner {MARKERS[0]}")
    assert "Company" not in created_row.inner_text()
    # The correlation id is short (the full id in its title), on one line.
    record = partner.history.first()
    code = table.locator("code.merp-correlation").first
    expect(code).to_have_attribute("title", record.correlation_id)
    assert len(code.inner_text()) <= 9
    box = code.bounding_box()
    assert box["height"] < 30  # one line, no wrapping

    # The revert preview of version 1 speaks the same language.
    page.goto(url(live_server, f"{history_url}{partner.history.get(version=1).pk}/"))
    preview = page.locator("#revert-changes")
    expect(preview).to_contain_text("Employees")
    expect(preview).to_contain_text("(empty)")
    assert "extensions." not in preview.inner_text()
    shoot(page, "revert-preview-for-people")
    count("browser: pages driven", 3)


# -- 4. branding, View site, users as text ---------------------------------------


def test_branding_view_site_and_users_as_text(browser, live_server, world, shoot):
    tenant_a, _, partner = world
    page = log_in(browser, live_server, tenant_a.admin.username)
    expect(page.locator("#site-name")).to_have_text("M-ERP back office")
    assert "M-ERP back office" in page.title()
    view_site = page.get_by_role("link", name="View site")
    expect(view_site).to_have_attribute("href", "/api/docs/")
    shoot(page, "index-branding")

    page.goto(url(live_server, change_url(partner)))
    created_by = page.locator(".field-created_by_name .readonly")
    expect(created_by).to_have_text(tenant_a.admin.username)
    expect(page.locator(".field-updated_by_name .readonly")).to_have_text(
        tenant_a.admin.username
    )
    assert page.locator("a[href*='/admin/auth/user/']").count() == 0
    shoot(page, "change-form-users-as-text")

    page.goto(url(live_server, "/api/docs/"))  # where "View site" leads
    expect(page.locator("#swagger-ui")).to_be_attached()
    count("browser: pages driven", 3)


# -- 5. custom-field delete says what happens; purge is separate ------------------


def test_custom_field_delete_deactivates_and_purge_is_explicit(
    browser, live_server, world, shoot
):
    tenant_a, _, partner = world
    definition = ext.definition_create(
        company=tenant_a.company,
        model="partner",
        name="tier",
        label="Tier",
        field_type="string",
    )
    other = services.create(
        Partner,
        data={"name": f"Other {MARKERS[0]}"},
        extensions={"tier": "silver"},
        company=tenant_a.company,
    )
    services.update(partner, extensions={"tier": "gold"})
    page = log_in(browser, live_server, tenant_a.admin.username)
    base = f"/admin/extensions/fielddefinition/{definition.pk}"
    page.goto(url(live_server, f"{base}/delete/"))
    outcome = page.locator("#merp-delete-outcome")
    expect(outcome).to_contain_text("holds 2 values on 2 objects")
    expect(outcome).to_contain_text("deactivated")
    assert "will be deleted" not in outcome.inner_text()
    shoot(page, "delete-confirmation-says-deactivate")
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text("deactivated instead")
    shoot(page, "deactivated")
    definition.refresh_from_db()
    assert not definition.is_active
    assert ExtensionValue.objects.filter(definition=definition).count() == 2

    # Purging is its own page with its own confirmation.
    page.goto(url(live_server, f"{base}/delete/"))
    page.click("#merp-purge-link")
    expect(page.locator("#merp-purge-warning")).to_contain_text(
        "destroys its 2 values on 2 objects"
    )
    shoot(page, "purge-confirmation")
    versions = (partner.version, Partner.objects.get(pk=other.pk).version)
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text("were purged")
    shoot(page, "purged")
    assert not FieldDefinition.objects.filter(pk=definition.pk).exists()
    assert not ExtensionValue.objects.filter(definition_id=definition.pk).exists()
    # Through the services: the value rows' history is kept.
    assert ExtensionValue.history.filter(definition_id=definition.pk).exists()
    assert (
        Partner.objects.get(pk=partner.pk).version,
        Partner.objects.get(pk=other.pk).version,
    ) >= versions
    count("browser: pages driven", 4)


# -- 6. a JSON custom field shows no literal null ---------------------------------


def test_json_custom_field_is_empty_not_null(browser, live_server, world, shoot):
    tenant_a, _, partner = world
    ext.definition_create(
        company=tenant_a.company,
        model="partner",
        name="profile",
        label="Profile",
        field_type="json",
    )
    page = log_in(browser, live_server, tenant_a.admin.username)
    page.goto(url(live_server, "/admin/businessobjects/partner/add/"))
    expect(page.locator("#id_ext__profile")).to_have_value("")
    shoot(page, "json-field-add-form-empty")
    page.goto(url(live_server, change_url(partner)))
    expect(page.locator("#id_ext__profile")).to_have_value("")
    page.fill("#id_name", f"Still {MARKERS[0]}")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert ext.get_extensions(partner).get("profile") is None
    page.goto(url(live_server, change_url(partner)))
    expect(page.locator("#id_ext__profile")).to_have_value("")
    shoot(page, "json-field-change-form-empty")
    count("browser: pages driven", 3)


# -- 7. list columns, filters, autocomplete ----------------------------------------


def test_partner_list_filters_and_scoped_autocomplete(
    browser, live_server, world, shoot
):
    tenant_a, tenant_b, partner = world
    ext.definition_create(
        company=tenant_a.company,
        model="partner",
        name="tier",
        label="Tier",
        field_type="choice",
        choices=["gold", "silver"],
    )
    gold = services.create(
        Partner,
        data={"name": f"Gold {MARKERS[0]}", "email": "gold@example.test"},
        extensions={"tier": "gold"},
        company=tenant_a.company,
    )
    foreign = services.create(
        Partner, data={"name": f"Foreign {MARKERS[1]}"}, company=tenant_b.company
    )
    page = log_in(browser, live_server, tenant_a.admin.username)
    page.goto(url(live_server, "/admin/businessobjects/partner/"))
    headers = page.locator("#result_list thead th").all_inner_texts()
    for column in ("NAME", "EMAIL", "PHONE", "IS ACTIVE"):
        assert any(column in h.upper() for h in headers), (column, headers)
    filters = page.locator("#changelist-filter")
    expect(filters).to_contain_text("Tier")
    shoot(page, "partner-list-columns-and-filters")
    filters.get_by_role("link", name="gold").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(gold.name)
    shoot(page, "partner-list-filtered-by-custom-field")

    # The address form's partner is an autocomplete of this company's partners.
    page.goto(url(live_server, "/admin/businessobjects/address/add/"))
    page.click(".field-partner .select2-selection")
    page.fill(".select2-search__field", MARKERS[0])
    options = page.locator(".select2-results__option")
    expect(options).to_have_count(2)
    texts = options.all_inner_texts()
    assert sorted(texts) == sorted([partner.name, gold.name])
    shoot(page, "address-partner-autocomplete-own-partners")
    page.fill(".select2-search__field", MARKERS[1])
    expect(options.first).to_contain_text("No results found")
    assert foreign.name not in page.content()
    shoot(page, "address-partner-autocomplete-scoped")
    page.fill(".select2-search__field", "Gold")
    page.locator(".select2-results__option", has_text=gold.name).click()
    page.fill("#id_city", "Oslo")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    address = Address.objects.get(partner=gold)
    assert address.history.get().history_user == tenant_a.admin
    count("browser: pages driven", 4)


# -- 8. a project's own admin class --------------------------------------------------


def test_project_admin_class_is_used(browser, live_server, world, shoot):
    tenant_a, _, _ = world
    product_model = get_registration("product").model
    services.create(
        product_model,
        data={"sku": f"SKU-{MARKERS[0]}", "name": "Bolt", "price": "1.50"},
        company=tenant_a.company,
    )
    page = log_in(browser, live_server, tenant_a.admin.username)
    page.goto(url(live_server, "/admin/testapp/product/"))
    headers = " ".join(page.locator("#result_list thead th").all_inner_texts())
    assert "SKU" in headers.upper() and "PRICE" in headers.upper()
    expect(page.locator("#result_list")).to_contain_text(f"SKU-{MARKERS[0]}")
    shoot(page, "project-product-admin")
    count("browser: pages driven")
