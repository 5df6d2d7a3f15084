"""Fast inserts for the bulk write paths: business objects, values, history, outbox.

On PostgreSQL rows are streamed with ``COPY ... FROM STDIN`` (several times faster
than a multi-row ``INSERT ... RETURNING``) and primary keys are drawn from the
table's sequence beforehand; elsewhere everything falls back to ``bulk_create``.
Like ``bulk_create``, nothing here calls ``save()`` or sends signals: the services
write history and events themselves.

Values are converted for the database the way Django's fields would
(``get_db_prep_save``), but without its per-value overhead for the plain types
that Django's own fields pass through unchanged (ints, strings, booleans, aware
datetimes, dates, finite decimals, UUIDs, JSON-able values). A field class that
overrides any conversion method always goes through ``get_db_prep_save``.
"""

import decimal
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.models.fields import NOT_PROVIDED, AutoFieldMixin
from django.db.models.fields.related import ForeignKey

from .conf import merp_settings


def allocate_ids(
    model: type[models.Model], count: int, *, using: str | None = None
) -> list[int]:
    """Reserve ``count`` primary keys from ``model``'s sequence (PostgreSQL).

    Concurrent inserts draw from the same sequence, so the ids are unique; like
    any sequence values they may leave gaps.
    """
    connection = connections[using or router.db_for_write(model)]
    if count <= 0:
        return []
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
            "FROM generate_series(1, %s)",
            [table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def create_objects(
    model: type[models.Model], objs: Sequence[models.Model], *, using: str | None = None
) -> None:
    """Insert new instances of ``model`` and give them their primary keys.

    The counterpart of ``bulk_create(objs)`` for new rows: ``pre_save`` fills
    ``auto_now`` fields, each instance gets its pk and is marked saved. On
    PostgreSQL the pks come from the sequence and the rows go by COPY; a model
    without an auto-incremented pk, inherited (multi-table) models, and values
    that are expressions use ``bulk_create``.
    """
    if not objs:
        return
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    opts = model._meta
    if connection.vendor != "postgresql" or not _copyable(model):
        model._default_manager.using(alias).bulk_create(
            objs, batch_size=merp_settings.BULK_BATCH_SIZE
        )
        return
    for obj in objs:
        # Refuses unsaved related objects and copies their pks, as bulk_create.
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    fields = [f for f in opts.concrete_fields if f is not opts.pk]
    rows = []
    for obj in objs:
        row = [field.pre_save(obj, add=True) for field in fields]
        if any(hasattr(value, "resolve_expression") for value in row):
            model._default_manager.using(alias).bulk_create(
                objs, batch_size=merp_settings.BULK_BATCH_SIZE
            )
            return
        rows.append(row)
    ids = allocate_ids(model, len(objs), using=alias)
    for obj, pk, row in zip(objs, ids, rows, strict=True):
        obj.pk = pk
        row.append(pk)
    _copy(connection, model, [*fields, opts.pk], rows)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def insert_values(
    model: type[models.Model],
    attnames: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    using: str | None = None,
) -> None:
    """Insert rows given as value tuples in ``attnames`` order; no pks returned.

    For append-only bookkeeping rows (history, outbox) built in full by the
    caller: concrete fields not named get their default, an auto-incremented pk
    is left to the database.
    """
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    rows = list(rows)
    if not rows:
        return
    opts = model._meta
    named = [opts.get_field(name) for name in attnames]
    missing = [
        f
        for f in opts.concrete_fields
        if f.attname not in attnames
        and not isinstance(f, AutoFieldMixin)
        and f.db_default is NOT_PROVIDED  # the database fills those
    ]
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(attnames, row, strict=True))) for row in rows]
        model._default_manager.using(alias).bulk_create(
            objs, batch_size=merp_settings.BULK_BATCH_SIZE
        )
        return
    if missing:
        constant = [f for f in missing if not callable(f.default)]
        fixed = [f.get_default() for f in constant]
        varying = [f for f in missing if callable(f.default)]
        rows = [[*row, *fixed, *(f.get_default() for f in varying)] for row in rows]
        named = [*named, *constant, *varying]
    _copy(connection, model, named, rows)


def insert_row(
    model: type[models.Model],
    attnames: Sequence[str],
    values: Sequence[Any],
    *,
    using: str | None = None,
) -> None:
    """``insert_values`` for one row: a plain ``INSERT`` (COPY costs an extra
    round trip), its text and value conversions built once per model and
    columns rather than compiled per row as ``save()`` does."""
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        insert_values(model, attnames, [values], using=alias)
        return
    sql, adapters, defaults = _insert_statement(alias, model, tuple(attnames))
    row = [*values, *(f.get_default() for f in defaults)]
    params = [a(v) for a, v in zip(adapters, row, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@functools.cache
def _insert_statement(alias: str, model, attnames: tuple[str, ...]):
    connection = connections[alias]
    opts = model._meta
    named = [opts.get_field(name) for name in attnames]
    defaults = [
        f
        for f in opts.concrete_fields
        if f.attname not in attnames
        and not isinstance(f, AutoFieldMixin)
        and f.db_default is NOT_PROVIDED  # the database fills those
    ]
    fields = [*named, *defaults]
    quote = connection.ops.quote_name
    placeholders = ", ".join(
        # A JSON value is sent as its text (adapter()): cast it explicitly.
        "%s::jsonb" if isinstance(f, models.JSONField) else "%s"
        for f in fields
    )
    sql = (
        f"INSERT INTO {quote(opts.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) VALUES ({placeholders})"
    )
    return sql, [adapter(f, connection) for f in fields], defaults


def insert_rows(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert ``objs`` without returning primary keys, as fast as the database allows.

    Model instances built in full by the caller (``pre_save`` fills ``auto_now``
    fields); see ``insert_values`` for rows given as tuples.
    """
    if not objs:
        return
    alias = router.db_for_write(model)
    if connections[alias].vendor != "postgresql":
        model._default_manager.using(alias).bulk_create(
            objs, batch_size=merp_settings.BULK_BATCH_SIZE
        )
        return
    model_fields = [
        f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)
    ]
    insert_values(
        model,
        [f.attname for f in model_fields],
        [[f.pre_save(obj, add=True) for f in model_fields] for obj in objs],
    )


# -- COPY ----------------------------------------------------------------------


def _copyable(model) -> bool:
    opts = model._meta
    return isinstance(opts.pk, AutoFieldMixin) and not opts.parents


def _copy(connection, model, fields: list, rows: list) -> None:
    adapters = [adapter(field, connection) for field in fields]
    # Columns whose values all pass unchanged (one set of types per column) are
    # sent as they are; only the others are converted, value by value. Calling
    # an adapter for each of the ~50 values of a row was the largest share of
    # the Python time of a bulk create.
    convert = [
        (i, a)
        for i, a in enumerate(adapters)
        if a.plain is None or not {type(row[i]) for row in rows} <= a.plain
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
    sql += "FROM STDIN"
    started = time.monotonic()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(sql) as copy:
            write_row = copy.write_row
            if not convert:
                for row in rows:
                    write_row(row)
            else:
                for row in rows:
                    row = list(row)
                    for i, a in convert:
                        row[i] = a(row[i])
                    write_row(row)
    if connection.queries_logged:
        # COPY bypasses Django's cursor wrapper; keep query counts honest.
        connection.queries_log.append(
            {
                "sql": f"{sql} -- {len(rows)} rows",
                "time": f"{time.monotonic() - started:.3f}",
            }
        )


def adapter(field: models.Field, connection) -> Callable[[Any], Any]:
    """Return ``value -> database value`` for ``field``: ``get_db_prep_save``,
    short-cut for values that Django's own field class would pass unchanged.

    The function's ``plain`` attribute is the set of value types (None's
    included) it returns unchanged, or None when it must see every value."""

    def slow(value):
        return field.get_db_prep_save(value, connection)

    cls = type(field)
    if cls.get_db_prep_save is ForeignKey.get_db_prep_save:
        # Values the target field passes unchanged (ints for an id); the
        # foreign key's own conversion for the rest ("" is NULL, etc.).
        target = type(field.target_field)
        if target.get_db_prep_save is not models.Field.get_db_prep_save:
            return _plain(slow, None)
        passes, plain = _passes(target)
        if passes is None or passes is _aware:
            return _plain(slow, None)
        return _plain(
            lambda value: value if value is None or passes(value) else slow(value),
            plain,
        )
    if cls.get_db_prep_save is models.JSONField.get_db_prep_save:
        if (
            cls.get_db_prep_value is models.JSONField.get_db_prep_value
            and cls.get_prep_value is models.Field.get_prep_value
        ):
            # What psycopg's Jsonb(value, dumps=json.dumps(cls=encoder)) sends,
            # with one encoder for all rows rather than one per value.
            encode = (field.encoder or json.JSONEncoder)().encode

            def to_json(value):
                if value is None:
                    return None
                if type(value) in _JSON_TYPES:
                    return encode(value)
                return slow(value)

            return _plain(to_json, None)
        return _plain(slow, None)
    if cls.get_db_prep_save is not models.Field.get_db_prep_save:
        return _plain(slow, None)
    passes, plain = _passes(cls)
    if passes is None:
        return _plain(slow, None)
    if passes is _aware:
        # Naive datetimes get Django's warning and conversion (slow path).
        naive_ok = not settings.USE_TZ

        def passes(value):
            return type(value) is datetime and (value.tzinfo is not None or naive_ok)

    def fast(value):
        return value if value is None or passes(value) else slow(value)

    return _plain(fast, plain)


def _plain(function, types: frozenset | None):
    function.plain = types
    return function


_JSON_TYPES = frozenset({dict, list, str, int, float, bool})


def _aware(value) -> bool:  # a marker: adapter() binds USE_TZ once per field
    raise NotImplementedError


def _passes(cls) -> tuple[Callable[[Any], bool] | None, frozenset | None]:
    """The plain values a Django field class stores unchanged (a check, and
    the types every value of which passes, if any), or ``(None, None)``."""
    for methods, check, types in _PASS_THROUGH:
        if all(getattr(cls, name) is getattr(owner, name) for name, owner in methods):
            plain = None if types is None else frozenset({type(None), *types})
            return check, plain
    return None, None


# (the conversion methods a field class must use unchanged, the values they
# pass, the types all values of which pass).
_PASS_THROUGH = [
    (
        [
            ("get_prep_value", models.IntegerField),
            ("to_python", models.IntegerField),
            ("get_db_prep_value", models.IntegerField),
        ],
        lambda v: type(v) is int,
        {int},
    ),
    (
        [
            ("get_prep_value", models.IntegerField),
            ("to_python", models.IntegerField),
            ("get_db_prep_value", AutoFieldMixin),
        ],
        lambda v: type(v) is int,
        {int},
    ),
    (
        [
            ("get_prep_value", models.CharField),
            ("to_python", models.CharField),
            ("get_db_prep_value", models.Field),
        ],
        lambda v: type(v) is str,
        {str},
    ),
    (
        [
            ("get_prep_value", models.TextField),
            ("to_python", models.TextField),
            ("get_db_prep_value", models.Field),
        ],
        lambda v: type(v) is str,
        {str},
    ),
    (
        [
            ("get_prep_value", models.BooleanField),
            ("to_python", models.BooleanField),
            ("get_db_prep_value", models.Field),
        ],
        lambda v: type(v) is bool,
        {bool},
    ),
    (
        [
            ("get_prep_value", models.DateTimeField),
            ("to_python", models.DateTimeField),
            ("get_db_prep_value", models.DateTimeField),
        ],
        _aware,
        None,  # aware ones only: each value is looked at
    ),
    (
        [
            ("get_prep_value", models.DateField),
            ("to_python", models.DateField),
            ("get_db_prep_value", models.DateField),
        ],
        lambda v: type(v) is date,
        {date},
    ),
    (
        [
            ("get_prep_value", models.DecimalField),
            ("to_python", models.DecimalField),
            ("get_db_prep_value", models.DecimalField),
        ],
        lambda v: type(v) is decimal.Decimal and v.is_finite(),
        None,  # finite ones only: each value is looked at
    ),
    (
        [
            ("get_prep_value", models.UUIDField),
            ("to_python", models.UUIDField),
            ("get_db_prep_value", models.UUIDField),
        ],
        lambda v: type(v) is uuid.UUID,
        {uuid.UUID},
    ),
]
