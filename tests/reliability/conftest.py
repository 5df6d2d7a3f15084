"""Fixtures of the reliability suite: three companies with distinctive markers."""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from hypothesis import settings
from rest_framework.test import APIClient

from businessobjects.models import Company, Membership

from .support import MARKERS, Sampler

STATS: dict[str, int] = {}

# CI replays the same examples every run (a red build is reproducible, never a
# fluke); local runs explore new ones and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def count(kind: str, n: int = 1) -> None:
    """Tally what the suite did (printed at the end of the run for the closing note)."""
    STATS[kind] = STATS.get(kind, 0) + n


def pytest_terminal_summary(terminalreporter):
    if STATS:
        terminalreporter.section("reliability figures")
        for kind, n in sorted(STATS.items()):
            terminalreporter.write_line(f"{kind}: {n}")


@dataclass
class Tenant:
    marker: str
    company: Company
    admin: object
    member: object
    objects: dict = field(default_factory=dict)  # registration name -> [ids]


def make_tenant(marker: str) -> Tenant:
    company = Company.objects.create(name=f"Company {marker}")
    users = get_user_model().objects
    admin = users.create_user(f"admin_{marker}", password="pw-123456", is_staff=True)
    member = users.create_user(f"member_{marker}", password="pw-123456")
    Membership.objects.create(
        user=admin, company=company, role=Membership.Role.ADMIN, is_default=True
    )
    Membership.objects.create(user=member, company=company, is_default=True)
    return Tenant(marker=marker, company=company, admin=admin, member=member)


@pytest.fixture
def tenants(db) -> list[Tenant]:
    """Three companies, each with an admin and a member; names carry the marker."""
    return [make_tenant(marker) for marker in MARKERS]


@pytest.fixture
def sampler() -> Sampler:
    return Sampler()


@pytest.fixture
def client_for():
    def make(user=None, company=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        if company is not None:
            client.credentials(HTTP_X_COMPANY_ID=str(getattr(company, "pk", company)))
        return client

    return make


# -- the browser (Playwright driving Debian's headless Chromium) ----------------

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
PASSWORD = "pw-123456"
# Written by the browser tests, ignored by git (.gitignore): one PNG per page.
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "admin-screenshots"


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, so Django would
    # refuse ORM calls here; the test itself is synchronous, so allow them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps a separate connection for
            # this context; close it, or the test database cannot be dropped.
            connections.close_all()


def log_in(browser, live_server, username):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    count("browser: pages driven")
    return page


@pytest.fixture
def shoot(request):
    """``shoot(page, "what")`` saves a full-page screenshot of ``page`` as
    ``.artifacts/admin-screenshots/<test>/<nn>-<what>.png``; returns its path."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    taken = []

    def take(page, what: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{what}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take
