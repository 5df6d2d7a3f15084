"""The bulk write primitives: COPY with ids from the sequence on PostgreSQL, value
conversion identical to Django's, and the bulk_create fallback elsewhere."""

import datetime
import decimal
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from businessobjects import db
from businessobjects.models import Address, Partner
from events.models import OutboxEvent
from extensions.models import ExtensionValue
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

NOW = timezone.now()
SAMPLES = [
    None,
    0,
    7,
    -3,
    True,
    False,
    "",
    "text",
    "42",
    "a\tb\\c\nd",
    NOW,
    datetime.datetime(2024, 1, 2, 3, 4, 5),  # naive: Django converts and warns
    datetime.date(2024, 2, 29),
    decimal.Decimal("12.50"),
    decimal.Decimal("NaN"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {"a": [1, "x", None], "b": {"c": "1.50"}},
    [1, 2],
    1.5,
]


def _normal(value):
    """Compare what reaches psycopg: unwrap Jsonb and typed ints."""
    from psycopg.types.json import Jsonb

    if isinstance(value, Jsonb):
        return ("json", json.loads(json.dumps(value.obj, cls=DjangoJSONEncoder)))
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _django(field, value):
    try:
        return ("ok", _normal(field.get_db_prep_save(value, connection)))
    except Exception as exc:
        return ("error", type(exc))


def _fast(field, value):
    try:
        result = db.adapter(field, connection)(value)
    except Exception as exc:
        return ("error", type(exc))
    if isinstance(result, str) and field.get_internal_type() == "JSONField":
        return ("ok", ("json", json.loads(result)))
    return ("ok", _normal(result))


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
@pytest.mark.parametrize(
    "model",
    [
        Partner,
        Partner.history.model,
        Address,
        Product,
        OutboxEvent,
        ExtensionValue,
        ExtensionValue.history.model,
    ],
    ids=lambda m: m.__name__,
)
def test_values_are_converted_as_django_converts_them(model):
    for field in model._meta.concrete_fields:
        for value in SAMPLES:
            assert _fast(field, value) == _django(field, value), (field, value)


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
@pytest.mark.parametrize(
    "model",
    [Partner, Partner.history.model, OutboxEvent, ExtensionValue],
    ids=lambda m: m.__name__,
)
def test_a_column_of_plain_types_is_sent_unchanged(model):
    # _copy skips converting a column whose value types are all in the
    # adapter's ``plain`` set: the adapter must return those values as they are.
    for field in model._meta.concrete_fields:
        convert = db.adapter(field, connection)
        for value in SAMPLES:
            if convert.plain is not None and type(value) in convert.plain:
                assert convert(value) is value, (field, value)


def test_a_column_with_one_value_to_convert_is_converted(company_a, admin_a):
    # One value of a str column is not a str: the column goes value by value.
    objs = [
        Partner(company=company_a, created_by=admin_a, name="Plain", email=""),
        Partner(company=company_a, created_by=admin_a, name=True, email=""),
    ]
    db.create_objects(Partner, objs)
    names = Partner.objects.filter(pk__in=[o.pk for o in objs]).order_by("pk")
    # Django stores str(True); psycopg alone would send "t".
    assert list(names.values_list("name", flat=True)) == ["Plain", "True"]


def test_a_field_class_with_its_own_conversion_is_never_short_cut():
    from django.db import models

    class Shouting(models.CharField):
        def get_prep_value(self, value):
            return super().get_prep_value(value).upper()

    field = Shouting(max_length=10)
    assert db.adapter(field, connection)("abc") == "ABC"


def _plain_twin(company, **data):
    """The same row written by Django's bulk_create, for comparison."""
    twin = Partner(company=company, **data)
    Partner.objects.bulk_create([twin])
    return twin


def _columns(obj):
    row = Partner.objects.filter(pk=obj.pk).values().get()
    return {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at")}


def test_create_objects_copies_rows_with_ids_from_the_sequence(company_a, admin_a):
    objs = [
        Partner(company=company_a, created_by=admin_a, name=f"P{i}", email="")
        for i in range(3)
    ]
    with CaptureQueriesContext(connection) as captured:
        db.create_objects(Partner, objs)
    assert any(q["sql"].startswith("COPY") for q in captured)
    assert all(p.pk and not p._state.adding and p._state.db == "default" for p in objs)
    assert len({p.pk for p in objs}) == 3
    twin = _plain_twin(company_a, created_by=admin_a, name="P0", email="")
    assert _columns(objs[0]) == _columns(twin)
    stored = Partner.objects.get(pk=objs[0].pk)
    assert stored.created_at == objs[0].created_at  # pre_save filled auto_now(_add)
    assert stored.created_by_id == admin_a.pk
    # The sequence moved past them: a normal insert gets a fresh id.
    assert twin.pk > max(p.pk for p in objs)
    # Saved instances update, they do not insert again.
    objs[1].name = "Renamed"
    objs[1].save()
    assert Partner.objects.filter(company=company_a).count() == 4


def test_create_objects_falls_back_for_expressions(company_a):
    objs = [Partner(company=company_a, name=Upper(Value("shout")))]
    with CaptureQueriesContext(connection) as captured:
        db.create_objects(Partner, objs)
    assert not any(q["sql"].startswith("COPY") for q in captured)
    assert Partner.objects.get(pk=objs[0].pk).name == "SHOUT"


def test_create_objects_refuses_unsaved_references(company_a):
    address = Address(company=company_a, partner=Partner(company=company_a, name="X"))
    with pytest.raises(ValueError, match="unsaved related object"):
        db.create_objects(Address, [address])


def test_copy_errors_are_django_integrity_errors(company_a):
    rows = [Product(company=company_a, sku="S", name=str(i)) for i in range(2)]
    with pytest.raises(IntegrityError), transaction.atomic():
        db.create_objects(Product, rows)
    assert not Product.objects.exists()


def test_insert_values_fills_defaults(company_a):
    db.insert_values(OutboxEvent, ["event_type"], [])  # nothing to insert: no-op
    assert not OutboxEvent.objects.exists()
    db.insert_values(
        OutboxEvent,
        [
            "event_type",
            "stream",
            "aggregate_type",
            "aggregate_id",
            "company_id",
            "occurred_at",
            "version",
            "payload",
        ],
        [
            ("partner.created", "s", "partner", str(i), company_a.pk, NOW, 1, {"i": i})
            for i in range(2)
        ],
    )
    events = list(OutboxEvent.objects.order_by("aggregate_id"))
    assert [e.payload for e in events] == [{"i": 0}, {"i": 1}]
    assert events[0].event_id != events[1].event_id  # callable default, per row
    assert events[0].changes == {} and events[0].attempts == 0
    assert events[0].position is None and events[0].stream_id == ""


def test_insert_row_is_one_insert_with_defaults(company_a):
    columns = ["event_type", "stream", "aggregate_type", "aggregate_id"]
    columns += ["company_id", "occurred_at", "version", "payload"]
    payload = {"name": "Ünïcode", "n": 1, "d": "1.50", "nested": [None, True]}
    for i in range(2):
        with CaptureQueriesContext(connection) as queries:
            db.insert_row(
                OutboxEvent,
                columns,
                (
                    "partner.created",
                    "s",
                    "partner",
                    str(i),
                    company_a.pk,
                    NOW,
                    1,
                    payload,
                ),
            )
        assert len(queries) == 1
    events = list(OutboxEvent.objects.order_by("aggregate_id"))
    assert [e.payload for e in events] == [payload, payload]
    assert events[0].occurred_at == NOW
    assert events[0].event_id != events[1].event_id  # callable default, per row
    assert events[0].changes == {} and events[0].attempts == 0


def test_allocate_ids_reserves_distinct_increasing_ids():
    first = db.allocate_ids(Partner, 3)
    second = db.allocate_ids(Partner, 2)
    assert len(set(first + second)) == 5
    assert min(second) > max(first)
    assert db.allocate_ids(Partner, 0) == []


@pytest.mark.slow
def test_bulk_paths_fall_back_to_bulk_create_on_sqlite(tmp_path):
    """The default SQLite setup: same rows, values, history and events."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "merp.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    manage("migrate", "--noinput")
    script = """
from businessobjects import services
from businessobjects.models import Company, Partner
from events.models import OutboxEvent
from extensions import services as ext
from extensions.models import ExtensionValue
c = Company.objects.create(name='C')
ext.definition_create(company=c, model='partner', name='limit', field_type='integer')
made = services.bulk_create(
    Partner, rows=[{'name': f'P{i}', 'extensions': {'limit': i}} for i in range(3)],
    company=c,
)
assert all(p.pk for p in made)
assert [p.name for p in Partner.objects.order_by('id')] == ['P0', 'P1', 'P2']
values = ExtensionValue.objects.order_by('object_id')
assert [(v.object_id, v.value_integer) for v in values] == [
    (p.pk, i) for i, p in enumerate(made)
]
assert ExtensionValue.history.count() == 3
h = Partner.history.order_by('history_id').first()
assert h.changes['extensions.limit'] == {'old': None, 'new': 0}, h.changes
events = list(OutboxEvent.objects.order_by('id'))
assert [e.event_type for e in events] == ['partner.created'] * 3
assert events[0].payload['extensions'] == {'limit': 0}
print('ok')
"""
    assert manage("shell", "-c", script).strip().splitlines()[-1] == "ok"
