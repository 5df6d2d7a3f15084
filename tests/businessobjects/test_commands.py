import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from businessobjects.models import Company, Membership, Partner

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_company_create_prints_id():
    output = run("merp_company", "create", "Initech")
    company = Company.objects.get(name="Initech")
    assert output.strip() == str(company.pk)


def test_company_create_duplicate_is_an_error():
    run("merp_company", "create", "Initech")
    with pytest.raises(CommandError, match="already exists"):
        run("merp_company", "create", "Initech")


def test_user_create_adds_default_membership_then_second():
    run("merp_company", "create", "One")
    run("merp_company", "create", "Two")
    run(
        "merp_user",
        "create",
        "ann",
        "--password",
        "s3cret-pw",
        "--company",
        "One",
        "--role",
        "admin",
    )
    run(
        "merp_user",
        "create",
        "ann",
        "--password",
        "s3cret-pw",
        "--company",
        "Two",
        "--role",
        "member",
    )
    user = get_user_model().objects.get(username="ann")
    assert user.check_password("s3cret-pw")
    assert user.is_staff  # company admins use the Django admin
    memberships = {m.company.name: m for m in Membership.objects.filter(user=user)}
    assert memberships["One"].role == "admin" and memberships["One"].is_default
    assert memberships["Two"].role == "member" and not memberships["Two"].is_default


def test_user_create_unknown_company_is_an_error():
    with pytest.raises(CommandError, match="merp_company create"):
        run(
            "merp_user", "create", "bob", "--password", "pw-123456", "--company", "Nope"
        )


def test_user_create_prints_token():
    run("merp_company", "create", "One")
    output = run(
        "merp_user",
        "create",
        "tok",
        "--password",
        "pw-123456",
        "--company",
        "One",
        "--token",
    )
    assert "token: " in output


def test_seed_demo_is_idempotent():
    first = run("merp_seed_demo", "--partners", "20")
    counts = (
        Partner.objects.count(),
        Membership.objects.count(),
        Company.objects.count(),
    )
    second = run("merp_seed_demo", "--partners", "20")
    assert counts == (40, 4, 2)
    assert (
        Partner.objects.count(),
        Membership.objects.count(),
        Company.objects.count(),
    ) == counts
    # The same credentials are printed both times.
    assert first.splitlines()[1:] == second.splitlines()[1:]
    # Demo partners were written through the services: each has a history row.
    assert Partner.history.count() == 40
