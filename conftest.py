"""Root fixtures shared by every test package (companies, users, API clients)."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from businessobjects.models import Company, Membership


@pytest.fixture(autouse=True)
def _fresh_definitions_cache():
    # Cached custom-field definitions are keyed by company id, and the cache does
    # not roll back with a test's transaction: a later test (or run) that gets the
    # same company id (SQLite reuses ids) must not see them.
    from extensions import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_login_throttles():
    # The login throttles count in Django's cache (Redis with REDIS_URL), which
    # outlives a test: every test starts with empty buckets.
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("throttle_login*")
    else:
        cache.clear()


@pytest.fixture
def make_company(db):
    def make(name: str) -> Company:
        return Company.objects.create(name=name)

    return make


@pytest.fixture
def make_user(db):
    def make(
        username: str, company: Company | None = None, role: str = "member", **extra
    ):
        user = get_user_model().objects.create_user(
            username=username, password="pw-123456", **extra
        )
        if company is not None:
            Membership.objects.create(
                user=user, company=company, role=role, is_default=True
            )
        return user

    return make


@pytest.fixture
def company_a(make_company):
    return make_company("Company A")


@pytest.fixture
def company_b(make_company):
    return make_company("Company B")


@pytest.fixture
def admin_a(make_user, company_a):
    return make_user("admin_a", company_a, role="admin", is_staff=True)


@pytest.fixture
def member_a(make_user, company_a):
    return make_user("member_a", company_a)


@pytest.fixture
def admin_b(make_user, company_b):
    return make_user("admin_b", company_b, role="admin", is_staff=True)


@pytest.fixture
def member_b(make_user, company_b):
    return make_user("member_b", company_b)


@pytest.fixture
def api():
    """Return an API client authenticated as ``user`` (optionally for a company)."""

    def make(user=None, company=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        if company is not None:
            client.credentials(HTTP_X_COMPANY_ID=str(company.pk))
        return client

    return make
