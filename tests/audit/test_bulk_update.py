"""businessobjects.services.bulk_update: batched, locked, per-row change sets,
history and events, only changed rows, optimistic locking, all or nothing."""

import pytest
from django.core.exceptions import ValidationError

from businessobjects import services
from businessobjects.models import Partner
from events.models import OutboxEvent
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def products(company_a):
    return services.bulk_create(
        Product,
        rows=[{"sku": f"S{i}", "name": f"N{i}", "price": "1.00"} for i in range(10)],
        company=company_a,
    )


def state(model=Product):
    return sorted(model.objects.values_list("pk", "name", "price", "version"))


def test_each_changed_row_gets_its_own_history_and_event(company_a, products):
    rows = [
        {"id": p.pk, "price": "1.00" if i == 1 else f"{i}.50"}
        for i, p in enumerate(products)
    ]
    rows[2]["name"] = "Renamed"
    updated = services.bulk_update(Product, rows=rows, company=company_a, batch_size=3)
    # Row 1 sets the price it already has: unchanged, so no write at all.
    assert len(updated) == 9
    by_pk = {p.pk: p for p in Product.objects.all()}
    assert by_pk[products[1].pk].version == 1
    assert {p.version for pk, p in by_pk.items() if pk != products[1].pk} == {2}
    assert str(by_pk[products[4].pk].price) == "4.50"

    history = {r.id: r for r in Product.history.filter(history_type="~")}
    assert set(history) == {p.pk for p in products} - {products[1].pk}
    assert history[products[2].pk].changes == {
        "name": {"old": "N2", "new": "Renamed"},
        "price": {"old": "1.00", "new": "2.50"},
    }
    assert history[products[0].pk].changes == {"price": {"old": "1.00", "new": "0.50"}}
    # The history row snapshots the new state (version included).
    assert (history[products[2].pk].name, history[products[2].pk].version) == (
        "Renamed",
        2,
    )
    events = {
        e.aggregate_id: e
        for e in OutboxEvent.objects.filter(event_type="product.updated")
    }
    assert set(events) == {str(pk) for pk in history}
    event = events[str(products[2].pk)]
    assert event.changes == history[products[2].pk].changes
    assert (event.version, event.payload["name"]) == (2, "Renamed")


def test_updated_at_moves(company_a, products):
    before = Product.objects.get(pk=products[0].pk).updated_at
    services.bulk_update(
        Product, rows=[{"id": products[0].pk, "name": "X"}], company=company_a
    )
    assert Product.objects.get(pk=products[0].pk).updated_at > before


def test_version_is_respected(company_a, products):
    services.update(products[3], data={"name": "moved on"})
    before = state()
    with pytest.raises(ValidationError) as info:
        services.bulk_update(
            Product,
            rows=[
                {"id": products[0].pk, "version": 1, "name": "ok"},
                {"id": products[3].pk, "version": 1, "name": "stale"},
            ],
            company=company_a,
        )
    (message,) = info.value.message_dict["rows"]
    assert message.startswith("row 1:") and "version" in message
    assert state() == before
    ok = services.bulk_update(
        Product,
        rows=[{"id": products[3].pk, "version": 2, "name": "fresh"}],
        company=company_a,
    )
    assert [(p.name, p.version) for p in ok] == [("fresh", 3)]


def test_errors_are_reported_per_row_and_nothing_is_written(
    company_a, company_b, products
):
    foreign = services.create(Partner, data={"name": "B"}, company=company_b)
    before = (state(), Product.history.count(), OutboxEvent.objects.count())
    rows = [
        {"id": products[0].pk, "name": "fine"},
        {"id": products[1].pk, "name": ""},
        {"id": 987654, "name": "ghost"},
        {"id": products[2].pk, "colour": "red"},
        {"id": products[3].pk, "name": "fine too"},
    ]
    with pytest.raises(ValidationError) as info:
        services.bulk_update(Product, rows=rows, company=company_a, batch_size=2)
    messages = info.value.message_dict["rows"]
    assert [m.split(":")[0] for m in messages] == ["row 1", "row 2", "row 3"]
    assert "name" in messages[0] and "987654" in messages[1]
    assert "colour" in messages[2]
    assert (state(), Product.history.count(), OutboxEvent.objects.count()) == before
    # Another company's row is "not found", never updated.
    with pytest.raises(ValidationError, match="Not found"):
        services.bulk_update(
            Partner, rows=[{"id": foreign.pk, "name": "hijack"}], company=company_a
        )
    assert Partner.objects.get(pk=foreign.pk).name == "B"


def test_bad_and_duplicate_ids(company_a, products):
    with pytest.raises(ValidationError) as info:
        services.bulk_update(
            Product,
            rows=[
                {"name": "no id"},
                {"id": products[0].pk, "name": "a"},
                {"id": products[0].pk, "name": "b"},
            ],
            company=company_a,
        )
    messages = info.value.message_dict["rows"]
    assert messages[0].startswith("row 0:") and "integer" in messages[0]
    assert messages[1].startswith("row 2:") and "more than once" in messages[1]


def test_uniqueness_violation_writes_nothing(company_a, products):
    before = (state(), Product.history.count())
    with pytest.raises(ValidationError):
        services.bulk_update(
            Product, rows=[{"id": products[0].pk, "sku": "S1"}], company=company_a
        )
    assert (state(), Product.history.count()) == before


def test_system_fields_cannot_be_set(company_a, company_b, products):
    with pytest.raises(ValidationError, match="company"):
        services.bulk_update(
            Product,
            rows=[{"id": products[0].pk, "company": company_b.pk}],
            company=company_a,
        )


def test_custom_field_only_rows(fake_extensions, company_a):
    partners = services.bulk_create(
        Partner, rows=[{"name": f"P{i}"} for i in range(3)], company=company_a
    )
    services.bulk_update(
        Partner,
        rows=[
            {"id": partners[0].pk, "extensions": {"tier": "gold"}},
            {"id": partners[1].pk, "name": "Q", "extensions": {"score": 5}},
            {"id": partners[2].pk, "extensions": {}},
        ],
        company=company_a,
    )
    history = {r.id: r.changes for r in Partner.history.filter(history_type="~")}
    assert history == {
        partners[0].pk: {"extensions.tier": {"old": None, "new": "gold"}},
        partners[1].pk: {
            "name": {"old": "P1", "new": "Q"},
            "extensions.score": {"old": None, "new": 5},
        },
    }
    assert fake_extensions.current_values(partners[0]) == {"tier": "gold"}
    assert Partner.objects.get(pk=partners[0].pk).version == 2
    assert Partner.objects.get(pk=partners[2].pk).version == 1
