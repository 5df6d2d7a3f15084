"""The admin's "undo this request" in a real browser (Playwright, Debian's
headless Chromium, as tests/reliability/test_admin_browser.py): the audit log,
the plan, the confirmation, the undone change."""

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from businessobjects import context, services
from businessobjects.models import Partner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test is
    # synchronous, so Django's ORM may be used here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def test_admin_undoes_a_request_after_seeing_the_plan(
    browser, live_server, admin_a, company_a
):
    with context.use_context(correlation_id="req-setup"):
        partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    with context.use_context(correlation_id="req-browser"):
        services.update(partner, data={"name": "Renamed", "phone": "+1 555"})

    page = browser.new_context().new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", admin_a.username)
    page.fill("#id_password", "pw-123456")
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/admin/audit/log/")
    row = page.locator("#audit-log tr", has_text="req-browser")
    expect(row).to_contain_text("updated")
    row.get_by_role("link", name="Undo this request").click()

    plan = page.locator("#undo-plan")
    expect(plan).to_contain_text("Renamed")
    expect(plan).to_contain_text("Acme")
    expect(plan).to_contain_text("+1 555")
    partner.refresh_from_db()
    assert partner.name == "Renamed"  # the plan alone writes nothing

    page.get_by_role("button", name="Undo this request").click()
    expect(page.locator(".messagelist")).to_contain_text("Undid 1 change(s)")
    partner.refresh_from_db()
    assert (partner.name, partner.phone, partner.version) == ("Acme", "", 3)
    # The log now shows the undo itself, with its reason.
    expect(page.locator("#audit-log")).to_contain_text("undo req-browser")
