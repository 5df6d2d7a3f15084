"""Fixtures of the reliability suite: three companies with distinctive markers."""

import os
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
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
