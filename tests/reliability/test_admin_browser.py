"""The admin in a real browser: Playwright drives Debian's headless Chromium against
a live server. A company admin changes a partner; the change is in its history
and in the API; another company's admin and member never see the partner."""

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from businessobjects import services
from businessobjects.models import Partner

from .conftest import count, log_in, make_tenant
from .support import MARKERS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def world(transactional_db):
    tenant_a, tenant_b = make_tenant(MARKERS[0]), make_tenant(MARKERS[1])
    partner = services.create(
        Partner,
        data={"name": f"Partner {MARKERS[0]}", "email": "old@example.test"},
        company=tenant_a.company,
        user=tenant_a.admin,
    )
    return tenant_a, tenant_b, partner


def test_company_admin_changes_a_partner_in_the_browser(browser, live_server, world):
    tenant_a, tenant_b, partner = world
    page = log_in(browser, live_server, tenant_a.admin.username)
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{live_server.url}/admin/businessobjects/partner/")
    page.get_by_role("link", name=partner.name).click()
    page.fill("#id_name", f"Renamed {MARKERS[0]}")
    page.fill("#id_email", "new@example.test")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    count("browser: pages driven", 3)

    # The admin's history page records the change...
    page.goto(f"{live_server.url}/admin/businessobjects/partner/{partner.pk}/history/")
    expect(page.locator("#change-history")).to_contain_text("Changed")
    expect(page.locator("#change-history")).to_contain_text(tenant_a.admin.username)
    count("browser: pages driven")

    # ...and so does the audit trail, with the change set and the user, as does
    # the object itself, as the API shows them.
    api = APIClient()
    api.force_authenticate(tenant_a.member)
    shown = api.get(f"/api/partners/{partner.pk}/").json()
    assert (shown["name"], shown["email"], shown["version"]) == (
        f"Renamed {MARKERS[0]}",
        "new@example.test",
        2,
    )
    latest = api.get(f"/api/partners/{partner.pk}/history/").json()["results"][0]
    assert latest["action"] == "updated"
    assert latest["user"] == tenant_a.admin.username
    assert latest["changes"] == {
        "name": {"old": f"Partner {MARKERS[0]}", "new": f"Renamed {MARKERS[0]}"},
        "email": {"old": "old@example.test", "new": "new@example.test"},
    }


def test_other_company_never_sees_the_partner(browser, live_server, world):
    tenant_a, tenant_b, partner = world
    page = log_in(browser, live_server, tenant_b.admin.username)
    page.goto(f"{live_server.url}/admin/businessobjects/partner/")
    expect(page.locator("#result_list, .paginator").first).to_be_visible()
    assert MARKERS[0] not in page.content()

    # The change page of A's partner: Django's "doesn't exist" redirect, no data.
    page.goto(f"{live_server.url}/admin/businessobjects/partner/{partner.pk}/change/")
    expect(page.locator(".messagelist")).to_contain_text("doesn’t exist")
    assert MARKERS[0] not in page.content()
    page.goto(f"{live_server.url}/admin/businessobjects/partner/{partner.pk}/history/")
    assert MARKERS[0] not in page.content()
    count("browser: pages driven", 3)

    # A member (not staff) cannot use the admin at all.
    member_page = log_in(browser, live_server, tenant_b.member.username)
    expect(member_page.locator(".errornote")).to_be_visible()
    member_page.goto(f"{live_server.url}/admin/businessobjects/partner/")
    assert "/admin/login/" in member_page.url
    assert MARKERS[0] not in member_page.content()


def test_custom_field_defined_and_set_in_the_browser(browser, live_server, world):
    tenant_a, tenant_b, partner = world
    name = f"tier_{MARKERS[0]}"
    page = log_in(browser, live_server, tenant_a.admin.username)

    # Define a custom field on Partner.
    page.goto(f"{live_server.url}/admin/extensions/fielddefinition/add/")
    page.select_option("#id_company", label=tenant_a.company.name)
    page.select_option("#id_model", value="partner")
    page.fill("#id_name", name)
    page.fill("#id_label", f"Tier {MARKERS[0]}")
    page.select_option("#id_field_type", value="string")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    # Set it on the partner.
    page.goto(f"{live_server.url}/admin/businessobjects/partner/{partner.pk}/change/")
    page.fill(f"#id_ext__{name}", "gold")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    # The partner's history shows the custom-field change, by its label (the
    # stored key is the label's title).
    page.goto(f"{live_server.url}/admin/businessobjects/partner/{partner.pk}/history/")
    label = page.locator(f'#change-history strong[title="extensions.{name}"]')
    expect(label).to_have_text(f"Tier {MARKERS[0]}:")
    expect(page.locator("#content")).to_contain_text("gold")
    count("browser: pages driven", 5)

    # The API returns the value and the change, as extensions.<name>.
    api = APIClient()
    api.force_authenticate(tenant_a.member)
    assert api.get(f"/api/partners/{partner.pk}/").json()["extensions"] == {
        name: "gold"
    }
    latest = api.get(f"/api/partners/{partner.pk}/history/").json()["results"][0]
    assert latest["changes"] == {f"extensions.{name}": {"old": None, "new": "gold"}}

    # The other company never sees the field: not in its API, not in its admin.
    other = APIClient()
    other.force_authenticate(tenant_b.member)
    for path in ("/api/custom-fields/", "/api/partners/"):
        response = other.get(path)
        assert response.status_code == 200
        assert name not in response.content.decode()
    refused = other.get(f"/api/partners/?ext__{name}=gold")
    assert refused.status_code == 400 and f"ext__{name}" in refused.json()
    other_page = log_in(browser, live_server, tenant_b.admin.username)
    other_page.goto(f"{live_server.url}/admin/extensions/fielddefinition/")
    expect(other_page.locator("#content")).to_be_visible()
    assert name not in other_page.content()
    other_page.goto(f"{live_server.url}/admin/businessobjects/partner/add/")
    assert name not in other_page.content()
    count("browser: pages driven", 2)
