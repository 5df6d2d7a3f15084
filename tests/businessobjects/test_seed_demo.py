"""merp_seed_demo loads the demo data once; running it again changes nothing."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from businessobjects import services
from businessobjects.models import Company, Membership, Partner
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("merp_seed_demo", "--partners", "7", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "companies": sorted(Company.objects.values_list("id", "name")),
        "users": sorted(get_user_model().objects.values_list("id", "username")),
        "memberships": sorted(
            Membership.objects.values_list("user_id", "company_id", "role")
        ),
        "tokens": sorted(Token.objects.values_list("user_id", "key")),
        "partners": sorted(Partner.objects.values_list("id", "company_id", "name")),
        "history": Partner.history.count(),
        "events": OutboxEvent.objects.count(),
    }


def test_seed_creates_the_demo_data():
    output = seed()
    state = snapshot()
    assert [name for _, name in state["companies"]] == ["Acme Corp", "Globex Inc"]
    assert len(state["users"]) == 4 and len(state["tokens"]) == 4
    assert len(state["partners"]) == 14
    # Written through the services: every partner has history and an event.
    assert state["history"] == 14 and state["events"] == 14
    admin = get_user_model().objects.get(username="acme_admin")
    assert admin.check_password("demo-pass-123") and admin.is_staff
    assert "acme_admin" in output and Token.objects.get(user=admin).key in output


def test_seed_is_idempotent():
    first_output = seed()
    first = snapshot()
    second_output = seed()
    assert snapshot() == first
    assert second_output == first_output


def test_seed_keeps_changed_demo_data():
    seed()
    acme = Company.objects.get(name="Acme Corp")
    services.delete(Partner.objects.for_company(acme).first())
    user = get_user_model().objects.get(username="acme_member")
    user.set_password("changed-pass-1")
    user.save()
    seed()
    user.refresh_from_db()
    assert user.check_password("changed-pass-1")
    # The seed fills empty companies only; it never re-creates what users removed.
    assert Partner.objects.for_company(acme).count() == 6
