"""Business objects as they were at a past instant, read from their history.

A history row is a snapshot of the object's fields after the change it records
(simple-history), so the object as of ``moment`` is its newest history row at or
before ``moment``, unless that row records the deletion. ``state_at`` selects
exactly those rows for a whole company in one query: a history row qualifies when
no newer row of the same object exists up to ``moment`` (an anti-join served by the
``(company, id, -history_date)`` index). Filters, search, ordering and pagination
then apply to it like to a live queryset: the history table has the same columns.

Custom-field values come from the values' own history the same way
(``values_at`` for a page, ``value_rows_at`` for ``ext__`` filters), keyed by
(definition, object) rather than by value row, since a value cleared and set again
is a new row. The fields shown are the company's active definitions of today.

Limits: history pruned (``merp_prune_history``) or writes made while
``AUDIT_ENABLED`` was off cannot be seen; ``updated_at`` is the time of the
history row.
"""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from django.db.models import Exists, OuterRef, Q, QuerySet

from extensions.models import ExtensionValue
from extensions.stored import definitions_for


def _company_id(company) -> int:
    if company is None:
        raise ValueError("As-of reads need a company; pass a Company or its id.")
    return company if isinstance(company, int) else company.pk


def _newer() -> Q:
    # A row of the same key written after the outer one (history ids break ties
    # of equal timestamps: they are assigned in write order).
    return Q(history_date__gt=OuterRef("history_date")) | Q(
        history_date=OuterRef("history_date"), history_id__gt=OuterRef("history_id")
    )


def state_at(model, *, company, moment: datetime) -> QuerySet:
    """Return the history rows that are ``company``'s ``model`` objects as of
    ``moment``: one per object that existed then, none for objects created later
    or deleted by then. One query however many objects; filter, order and slice it
    like a queryset of ``model`` (its fields have the same names; ``id`` is the
    object's id)."""
    history = model.history.model
    company_id = _company_id(company)
    newer = history.objects.filter(
        _newer(),
        company_id=company_id,
        id=OuterRef("id"),
        history_date__lte=moment,
    )
    return (
        history.objects.filter(company_id=company_id, history_date__lte=moment)
        .exclude(history_type="-")
        .filter(~Exists(newer))
    )


def as_instance(row):
    """The ``model`` instance a history row of ``state_at`` records, not saved."""
    # Not simple-history's row.instance: it reads the live row of every record
    # whose model has excluded fields (a query per object).
    model = row.instance_type
    values = {
        field.attname: getattr(row, field.attname)
        for field in model._meta.concrete_fields
        if field.attname != "updated_at"
    }
    # History does not keep updated_at: the object was last changed then.
    instance = model(**values, updated_at=row.history_date)
    instance._state.adding = False
    return instance


def value_rows_at(moment: datetime):
    """Return a factory of custom-field value rows as of ``moment`` with the
    signature of ``extensions.filters.condition``'s ``values``: the value of
    ``definition`` for the outer query's object (``id``), when it was set then."""
    history = ExtensionValue.history.model

    def values(definition, company_id: int, **conditions) -> QuerySet:
        key = {
            "company_id": company_id,
            "content_type_id": definition.content_type_id,
            "definition_id": definition.pk,
        }
        newer = history.objects.filter(
            _newer(),
            **key,
            object_id=OuterRef("object_id"),
            history_date__lte=moment,
        )
        return (
            history.objects.filter(
                **key, object_id=OuterRef("id"), history_date__lte=moment, **conditions
            )
            .exclude(history_type="-")
            .filter(~Exists(newer))
        )

    return values


def values_at(
    model, *, company, object_ids: Iterable[int], moment: datetime
) -> dict[int, dict]:
    """Return ``{object id: {name: value}}``: the active custom fields of the
    objects as the API showed them at ``moment``, in one query."""
    company_id = _company_id(company)
    ids = list(object_ids)
    definitions = definitions_for(company_id, model)
    shown = {pk: {d.name: None for d in definitions} for pk in ids}
    if not ids or not definitions:
        return shown
    by_id = {d.pk: d for d in definitions}
    columns = list(dict.fromkeys(d.column for d in definitions))
    rows = ExtensionValue.history.model.objects.filter(
        company_id=company_id,
        content_type_id=ContentType.objects.get_for_model(model).pk,
        object_id__in=ids,
        definition_id__in=list(by_id),
        history_date__lte=moment,
    ).order_by("object_id", "definition_id", "-history_date", "-history_id")
    if connections[router.db_for_read(ExtensionValue)].vendor == "postgresql":
        # The newest row per (object, field) only.
        rows = rows.distinct("object_id", "definition_id")
    latest: dict[tuple, tuple] = {}
    for object_id, definition_id, history_type, *values in rows.values_list(
        "object_id", "definition_id", "history_type", *columns
    ):
        latest.setdefault((object_id, definition_id), (history_type, values))
    for (object_id, definition_id), (history_type, values) in latest.items():
        if history_type == "-":
            continue
        definition = by_id[definition_id]
        value = values[columns.index(definition.column)]
        shown[object_id][definition.name] = definition.represent(value)
    return shown
