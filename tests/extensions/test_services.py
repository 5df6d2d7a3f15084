"""Service API: set_extension, get_extensions, bulk writes, history, one transaction."""

import pytest
from django.core.exceptions import ValidationError

from businessobjects import services as bo
from businessobjects.context import use_context
from businessobjects.models import Partner
from events.models import OutboxEvent
from extensions import services
from extensions.models import ExtensionValue

pytestmark = pytest.mark.django_db


@pytest.fixture
def tier(company_a, define):
    return define(company_a, "tier", "choice", choices=["gold", "silver"])


def test_set_and_get_extension(company_a, admin_a, tier, partner):
    p = partner(company_a)
    assert services.get_extensions(p) == {"tier": None}
    services.set_extension(p, "tier", "gold", user=admin_a)
    assert p.version == 2
    assert services.get_extensions(Partner.objects.get(pk=p.pk)) == {"tier": "gold"}
    latest = p.history.order_by("-history_id").first()
    assert latest.changes == {"extensions.tier": {"old": None, "new": "gold"}}
    assert latest.history_user == admin_a
    assert OutboxEvent.objects.filter(event_type="partner.updated").count() == 1
    services.set_extension(p, "tier", None)
    assert services.get_extensions(p) == {"tier": None}
    assert p.version == 3


def test_set_extension_validates(company_a, tier, partner):
    p = partner(company_a)
    with pytest.raises(ValidationError) as excinfo:
        services.set_extension(p, "tier", "bronze")
    assert excinfo.value.field_errors["tier"][0].startswith("'bronze' is not one of")
    assert excinfo.value.message_dict["extensions"][0].startswith("tier: ")
    with pytest.raises(ValidationError):
        services.set_extension(p, "nope", 1)
    p.refresh_from_db()
    assert p.version == 1


def test_set_extension_respects_version(company_a, tier, partner):
    from businessobjects.exceptions import VersionConflict

    p = partner(company_a)
    with pytest.raises(VersionConflict):
        services.set_extension(p, "tier", "gold", expected_version=7)
    assert services.get_extensions(p) == {"tier": None}


def test_value_history_records_user_and_correlation(company_a, admin_a, tier, partner):
    with use_context(user=admin_a, company=company_a, correlation_id="job-7"):
        p = partner(company_a, extensions={"tier": "gold"})
        services.set_extension(p, "tier", "silver")
        services.set_extension(p, "tier", None)
    rows = ExtensionValue.history.filter(object_id=p.pk).order_by("history_id")
    assert [(r.history_type, r.value_text) for r in rows] == [
        ("+", "gold"),
        ("~", "silver"),
        ("-", "silver"),
    ]
    assert {r.correlation_id for r in rows} == {"job-7"}
    assert {r.history_user_id for r in rows} == {admin_a.pk}
    assert {r.company_id for r in rows} == {company_a.pk}


def test_audit_disabled_writes_no_value_history(company_a, tier, partner, settings):
    settings.MERP = {**settings.MERP, "AUDIT_ENABLED": False}
    p = partner(company_a, extensions={"tier": "gold"})
    services.set_extension(p, "tier", "silver")
    bo.bulk_create(
        Partner, rows=[{"name": "B", "extensions": {"tier": "gold"}}], company=company_a
    )
    services.set_extension(p, "tier", None)
    assert ExtensionValue.objects.count() == 1
    assert ExtensionValue.history.count() == 0


def test_bulk_create_writes_values_with_history(company_a, admin_a, tier):
    with use_context(correlation_id="import-1"):
        created = bo.bulk_create(
            Partner,
            rows=[
                {"name": f"P{i}", "extensions": {"tier": "gold"} if i % 2 else {}}
                for i in range(6)
            ],
            company=company_a,
            user=admin_a,
            batch_size=4,
        )
    assert ExtensionValue.objects.count() == 3
    history = ExtensionValue.history.all()
    assert history.count() == 3
    assert {h.correlation_id for h in history} == {"import-1"}
    assert {h.history_user_id for h in history} == {admin_a.pk}
    assert {h.history_type for h in history} == {"+"}
    assert services.get_extensions(created[1]) == {"tier": "gold"}
    assert created[1].history.get().changes["extensions.tier"] == {
        "old": None,
        "new": "gold",
    }


def test_bulk_create_refuses_bad_extension_and_writes_nothing(company_a, tier):
    with pytest.raises(ValidationError) as excinfo:
        bo.bulk_create(
            Partner,
            rows=[{"name": "ok", "extensions": {"tier": "gold"}}]
            + [{"name": "bad", "extensions": {"tier": "bronze"}}],
            company=company_a,
        )
    assert "row 1" in excinfo.value.messages[0]
    assert "tier" in excinfo.value.messages[0]
    assert not Partner.objects.exists()
    assert not ExtensionValue.objects.exists()


def test_values_roll_back_with_the_object(company_a, tier, monkeypatch):
    from events import outbox

    def broken(event, **options):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(outbox, "enqueue", broken)
    with pytest.raises(RuntimeError):
        bo.create(
            Partner, data={"name": "P"}, extensions={"tier": "gold"}, company=company_a
        )
    assert not Partner.objects.exists()
    assert not ExtensionValue.objects.exists()
    assert not ExtensionValue.history.exists()


def test_definition_service_rejects_unknown_attribute(company_a):
    with pytest.raises(TypeError, match="colour"):
        services.definition_create(
            company=company_a, model="partner", name="x", field_type="string", colour=1
        )


def test_definition_delete_service(company_a, tier, partner):
    partner(company_a, extensions={"tier": "gold"})
    kept = services.definition_delete(tier)
    assert (kept.deleted, kept.deactivated, kept.values) == (False, True, 1)
    tier.refresh_from_db()
    assert not tier.is_active
    purged = services.definition_delete(tier, purge=True)
    assert (purged.deleted, purged.values) == (True, 1)
    assert not ExtensionValue.objects.exists()


def test_plain_orm_delete_of_definition_with_values_is_refused(
    company_a, tier, partner
):
    from django.db.models import ProtectedError

    partner(company_a, extensions={"tier": "gold"})
    with pytest.raises(ProtectedError):
        tier.delete()


def test_bulk_update_writes_values_with_history(company_a, admin_a, tier, partner):
    first, second = partner(company_a), partner(company_a, extensions={"tier": "gold"})
    changed = bo.bulk_update(
        Partner,
        rows=[
            {"id": first.pk, "extensions": {"tier": "silver"}},
            {"id": second.pk, "extensions": {"tier": None}},
        ],
        company=company_a,
        user=admin_a,
    )
    assert {p.pk for p in changed} == {first.pk, second.pk}
    assert services.get_extensions(first) == {"tier": "silver"}
    assert services.get_extensions(second) == {"tier": None}
    latest = ExtensionValue.history.order_by("-history_id")[:2]
    assert sorted((h.history_type, h.value_text) for h in latest) == [
        ("+", "silver"),
        ("-", "gold"),
    ]
    assert {h.history_user_id for h in latest} == {admin_a.pk}
    assert Partner.objects.get(pk=second.pk).version == 2


def test_explicit_reason_reaches_value_history(define, partner, company_a):
    define(company_a, "credit_limit", "decimal")
    obj = partner(company_a, extensions={"credit_limit": "10"})
    bo.update(obj, extensions={"credit_limit": "20"}, reason="limit review")
    value = ExtensionValue.objects.get(object_id=obj.pk)
    assert value.history.first().history_change_reason == "limit review"
    assert obj.history.first().history_change_reason == "limit review"


def test_delete_change_set_names_custom_fields(define, partner, company_a):
    define(company_a, "credit_limit", "decimal")
    define(company_a, "segment", "string")
    obj = partner(company_a, extensions={"credit_limit": "10"})
    pk = obj.pk
    bo.delete(obj)
    record = Partner.history.filter(id=pk).first()
    assert record.history_type == "-"
    assert record.changes["extensions.credit_limit"] == {"old": "10", "new": None}
    # A field that held no value has nothing to report.
    assert "extensions.segment" not in record.changes


def test_loaded_values_match_the_orm(company_a, define, partner):
    """_load reads values with plain SQL on PostgreSQL: same Python values."""
    from businessobjects.models import Partner
    from extensions.models import ExtensionValue
    from extensions.values import _load, definitions_for

    kinds = {
        "s": ("string", {}, "x\ty"),
        "i": ("integer", {}, -7),
        "d": ("decimal", {"decimal_places": 2}, "12.50"),
        "b": ("boolean", {}, True),
        "dt": ("date", {}, "2024-02-29"),
        "ts": ("datetime", {}, "2024-03-01T10:00:00+02:00"),
        "j": ("json", {}, {"k": [1, "2", None], "n": 1.5}),
    }
    for name, (field_type, attrs, _) in kinds.items():
        define(company_a, name, field_type, **attrs)
    one = partner(company_a, extensions={n: v for n, (_, _, v) in kinds.items()})
    two = partner(company_a, extensions={"j": "text", "i": 0})
    definitions = definitions_for(company_a, Partner)
    loaded = _load(company_a.pk, Partner, [one.pk, two.pk], definitions)
    expected = {}
    for row in ExtensionValue.objects.filter(object_id__in=[one.pk, two.pk]):
        expected.setdefault(row.object_id, {})[row.definition_id] = (
            row.pk,
            row.value,
        )
    assert loaded == expected
    assert {type(v) for _, v in loaded[one.pk].values()} >= {dict, bool, int}
