"""manage.py merp_prune_history --days N [--model NAME] [--dry-run]."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from businessobjects import services
from businessobjects.models import Contact, Partner
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("merp_prune_history", *args, stdout=out)
    return out.getvalue()


def age(model, days: int, **lookups) -> None:
    # Backdate history rows (a history table, not a business object).
    model.history.filter(**lookups).update(
        history_date=timezone.now() - timedelta(days=days)
    )


@pytest.fixture
def aged(company_a, company_b):
    partners = services.bulk_create(
        Partner, rows=[{"name": f"P{i}"} for i in range(4)], company=company_a
    )
    services.create(Partner, data={"name": "B"}, company=company_b)
    for partner in partners:
        services.update(partner, data={"phone": "1"})
    services.create(
        Contact, data={"partner": partners[0].pk, "name": "C"}, company=company_a
    )
    services.create(Product, data={"sku": "S", "name": "N"}, company=company_a)
    age(Partner, 100, history_type="+")  # 5 rows, both companies
    age(Contact, 40)
    age(Product, 10)


def test_dry_run_reports_counts_per_object_type_and_deletes_nothing(aged):
    output = run("--days", "30", "--dry-run")
    assert output.splitlines() == [
        "address: 0 history rows would be deleted",
        "contact: 1 history rows would be deleted",
        "partner: 5 history rows would be deleted",
        "product: 0 history rows would be deleted",
        "total: 6 history rows older than 30 days would be deleted (dry run)",
    ]
    assert Partner.history.count() == 9 and Contact.history.count() == 1


def test_prune_deletes_only_older_rows(aged):
    output = run("--days", "30", "--batch-size", "2")
    assert "partner: 5 history rows deleted" in output
    assert "total: 6 history rows older than 30 days deleted" in output
    assert list(Partner.history.values_list("history_type", flat=True)) == ["~"] * 4
    assert not Contact.history.exists()
    assert Product.history.count() == 1


def test_model_option_limits_the_object_types(aged):
    output = run("--days", "5", "--model", "partner", "--model", "product")
    assert output.splitlines()[:2] == [
        "partner: 5 history rows deleted",
        "product: 1 history rows deleted",
    ]
    assert Contact.history.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "at least 1"),
        (["--days", "30", "--model", "invoice"], "Unknown business object invoice"),
        (["--days", "30", "--batch-size", "0"], "at least 1"),
    ],
)
def test_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_days_is_required():
    with pytest.raises(CommandError, match="--days"):
        run()
