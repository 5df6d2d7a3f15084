"""The admin's "undo this request" in a real browser (Playwright, Debian's
headless Chromium; the browser fixtures are in this folder's conftest): the audit
log, the plan, the confirmation, the undone change."""

import pytest
from playwright.sync_api import expect

from businessobjects import context, services
from businessobjects.models import Partner

from .conftest import log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_admin_undoes_a_request_after_seeing_the_plan(
    browser, shoot, live_server, admin_a, company_a
):
    with context.use_context(correlation_id="req-setup"):
        partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    with context.use_context(correlation_id="req-browser"):
        services.update(partner, data={"name": "Renamed", "phone": "+1 555"})

    page = log_in(browser, live_server, admin_a.username)

    page.goto(f"{live_server.url}/admin/audit/log/")
    row = page.locator("#audit-log tr", has_text="req-browser")
    expect(row).to_contain_text("updated")
    row.get_by_role("link", name="Undo this request").click()

    plan = page.locator("#undo-plan")
    expect(plan).to_contain_text("Renamed")
    expect(plan).to_contain_text("Acme")
    expect(plan).to_contain_text("+1 555")
    shoot(page, "undo-plan")
    partner.refresh_from_db()
    assert partner.name == "Renamed"  # the plan alone writes nothing

    page.get_by_role("button", name="Undo this request").click()
    expect(page.locator(".messagelist")).to_contain_text("Undid 1 change(s)")
    shoot(page, "undone")
    partner.refresh_from_db()
    assert (partner.name, partner.phone, partner.version) == ("Acme", "", 3)
    # The log now shows the undo itself, with its reason.
    expect(page.locator("#audit-log")).to_contain_text("undo req-browser")
