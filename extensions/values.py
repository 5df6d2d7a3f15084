"""Custom-field values as the business-object services write and read them.

The business-object write path (``businessobjects.services``) calls, inside its
one transaction:

1. ``prepare(model, company, incoming, instance=...)`` before saving the row
   (``company`` is a Company or its id):
   validate ``incoming`` (merge semantics: keys set, ``None`` clears, missing keys
   kept; required fields enforced and defaults applied on create) and return an
   ``ExtensionWrite`` with the change set ``{name: {old, new}}`` in API
   representation;
2. ``write(instance, staged)`` after the row is saved (it has a pk), or
   ``bulk_write(pairs)`` for many rows; ``remove(instance)`` before a delete.

``current_values(instance)`` / ``prefetch(instances)`` return ``{name: value}``
as the API shows it (``prefetch`` by pk). The public service API (definitions,
``set_extension``) is ``extensions.services``; this module imports no services,
so the business-object write path can call it.
"""

import functools
import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, router

from audit import recorder as audit
from businessobjects.db import allocate_ids, create_objects, insert_values

from . import cache
from .models import ExtensionValue
from .stored import (  # noqa: F401 (_load: tests read stored rows through it)
    Stored,
    _company_id,
    _load,
    _represent,
    current_values,
    definitions_for,
    prefetch,
)

# One definitions lookup per block (a request, a bulk write), not one per step.
pinned_definitions = cache.pinned


class ExtensionValidationError(ValidationError):
    """Custom-field input errors, ``{name: [messages]}``.

    As a Django ValidationError it reads ``{"extensions": ["name: message"]}``;
    the API answers ``{"extensions": {"name": ["message"]}}`` (``api_detail``).
    """

    def __init__(self, field_errors: Mapping[str, list[str]]):
        self.field_errors = {name: list(msgs) for name, msgs in field_errors.items()}
        super().__init__(
            {
                "extensions": [
                    f"{name}: {message}"
                    for name, messages in self.field_errors.items()
                    for message in messages
                ]
            }
        )
        self.api_detail = {"extensions": self.field_errors}


@dataclass
class ExtensionWrite:
    """What ``prepare`` staged: the values after the write and the rows to touch."""

    values: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)
    # (definition, value) to insert for a new object; rows are built once it has
    # its pk (bulk writes insert them as plain tuples).
    created: list = field(default_factory=list)
    upserts: list = field(default_factory=list)
    deletes: list = field(default_factory=list)


@dataclass
class Transition:
    """A definition change rewriting what the API shows of some objects.

    ``extensions.definitions`` plans it (one ``(shown value, changes, upserts,
    deletes)`` per object id); ``prepare`` hands each planned object's part to
    the business-object update that ``businessobjects.services.bulk_update``
    runs under the object's lock, so the object gets its version bump, history
    entry and event like any write.
    """

    model: type
    company_id: int
    definition_id: int
    # The definition's name and whether it is shown once the change is made
    # (False for a deactivation or a purge).
    name: str
    shown: bool
    # object id -> (value as shown after, changes by name, upserts, deletes)
    plans: dict = field(default_factory=dict)

    def stage(self, instance) -> "ExtensionWrite":
        shown_after, changes, upserts, deletes = self.plans[instance.pk]
        stored = instance.__dict__.pop("_merp_extension_rows", None)
        if stored is None:
            stored = _load(
                self.company_id,
                self.model,
                [instance.pk],
                definitions_for(self.company_id, self.model),
            )[instance.pk]
        values = {}
        for definition in definitions_for(self.company_id, self.model):
            if definition.pk == self.definition_id:
                if self.shown:
                    values[self.name] = shown_after
                continue
            found = stored.get(definition.pk)
            values[definition.name] = definition.represent(found and found[1])
        return ExtensionWrite(
            values=values,
            changes=dict(changes),
            upserts=list(upserts),
            deletes=list(deletes),
        )


_transition: ContextVar[Transition | None] = ContextVar(
    "merp_ext_transition", default=None
)


@contextmanager
def transition(planned: Transition) -> Iterator[None]:
    """Let ``prepare`` stage ``planned``'s objects (updates given no extensions)."""
    token = _transition.set(planned)
    try:
        yield
    finally:
        _transition.reset(token)


def _planned(model, company, instance) -> Transition | None:
    planned = _transition.get()
    if (
        planned is None
        or instance is None
        or planned.model is not model
        or planned.company_id != _company_id(company)
        or instance.pk not in planned.plans
    ):
        return None
    return planned


# -- values: validation and writes -------------------------------------------


def validate(
    model, company, incoming: Mapping[str, Any] | None, *, creating: bool
) -> dict[str, Any]:
    """Return ``{name: python value or None}`` to write; raise on bad input.

    On create, active fields not given get their default, and a required field
    without value or default is an error. ``None`` clears a field (refused for a
    required one).
    """
    if incoming is not None and not isinstance(incoming, Mapping):
        raise ValidationError(
            {"extensions": ["Expected an object of custom field name -> value."]}
        )
    incoming = incoming or {}
    every = {d.name: d for d in definitions_for(company, model, active_only=False)}
    active = {name: d for name, d in every.items() if d.is_active}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, raw in incoming.items():
        definition = active.get(name)
        if definition is None:
            if name in every:
                message = f"Custom field '{name}' is inactive and cannot be set."
            else:
                known = ", ".join(sorted(active)) or "none"
                message = f"Unknown custom field '{name}'. Known fields: {known}."
            errors[str(name)] = [message]
            continue
        if raw is None:
            if definition.required:
                errors[name] = ["This custom field is required; it cannot be cleared."]
            else:
                cleaned[name] = None
            continue
        try:
            value = definition.type.clean(raw, definition)
        except ValidationError as exc:
            errors[name] = exc.messages
            continue
        if definition.required and value == "":
            errors[name] = ["This custom field is required; it cannot be blank."]
            continue
        cleaned[name] = value
    if creating:
        for name, definition in active.items():
            if name in incoming:
                continue
            if definition.default is not None:
                try:
                    cleaned[name] = definition.type.clean(
                        definition.default, definition
                    )
                except ValidationError as exc:
                    errors[name] = [
                        f"The field's default no longer validates: {exc.messages[0]}"
                    ]
            elif definition.required:
                errors[name] = ["This custom field is required."]
    if errors:
        raise ExtensionValidationError(errors)
    return cleaned


def prepare(model, company, incoming: dict | None, *, instance=None) -> ExtensionWrite:
    """Validate ``incoming`` for a create (``instance=None``) or an update."""
    creating = instance is None
    planned = _planned(model, company, instance) if incoming is None else None
    if planned is not None:
        return planned.stage(instance)
    definitions = definitions_for(company, model)
    if not definitions and not incoming:
        return ExtensionWrite()
    cleaned = validate(model, company, incoming, creating=creating)
    company_id = _company_id(company)
    if creating:
        stored: Stored = {}
    else:
        # Rows a prefetch just read under the caller's lock, else read them now.
        stored = instance.__dict__.pop("_merp_extension_rows", None)
        if stored is None:
            stored = _load(company_id, model, [instance.pk], definitions)[instance.pk]
    before = _represent(definitions, stored)
    staged = ExtensionWrite(values=dict(before))
    # Only updates build rows here (a bulk create's rows are built per batch).
    content_type = None if creating else ContentType.objects.get_for_model(model)
    by_name = {d.name: d for d in definitions}
    for name, value in cleaned.items():
        definition = by_name[name]
        new = definition.represent(value)
        if new == before[name]:
            continue
        staged.changes[name] = {"old": before[name], "new": new}
        staged.values[name] = new
        if creating:
            if value is not None:
                staged.created.append((definition, value))
            continue
        row = ExtensionValue(
            company_id=company_id,
            definition=definition,
            content_type_id=content_type.pk,
            object_id=instance.pk,
        )
        if definition.pk in stored:
            row.pk, old_value = stored[definition.pk]
            row._state.adding = False
            row.set_value(old_value)
        if value is None:
            if not row._state.adding:
                staged.deletes.append(row)  # carries the old value for history
            continue
        row.set_value(value)
        staged.upserts.append(row)
    return staged


def _new_rows(instance, staged: ExtensionWrite) -> list[ExtensionValue]:
    content_type_id = ContentType.objects.get_for_model(type(instance)).pk
    rows = []
    for definition, value in staged.created:
        row = ExtensionValue(
            company_id=instance.company_id,
            definition=definition,
            content_type_id=content_type_id,
            object_id=instance.pk,
        )
        row.set_value(value)
        rows.append(row)
    return rows


def write(instance, staged: ExtensionWrite, *, user=None) -> None:
    """Save what ``prepare`` staged, with one history row per row change."""
    written = []
    for row in [*_new_rows(instance, staged), *staged.upserts]:
        row.object_id = instance.pk
        written.append(("+" if row._state.adding else "~", row))
        _save_silently(row)
    for row in staged.deletes:
        _delete_silently(row)
        written.append(("-", row))
    # History rows in the order of the writes, one batch per run of a kind.
    for history_type, run in itertools.groupby(written, key=lambda w: w[0]):
        audit.record([row for _, row in run], history_type, user=user)


def _save_silently(row: ExtensionValue) -> None:
    # audit.record writes the history row; simple-history's signal must not.
    row.skip_history_when_saving = True
    try:
        row.save()
    finally:
        del row.skip_history_when_saving


def _delete_silently(row: ExtensionValue) -> None:
    pk = row.pk
    row.skip_history_when_saving = True
    try:
        row.delete()
    finally:
        del row.skip_history_when_saving
    row.pk = pk  # the history row records the deleted row's id


@functools.cache
def _value_columns() -> list[str]:
    # Value rows as bulk_write inserts them: every column, in the order of the
    # history's tracked fields (the same columns), so that a value row is also
    # the leading part of its history row.
    return [f.attname for f in ExtensionValue.history.model.tracked_fields]


def bulk_write(pairs: list[tuple], *, user=None) -> None:
    """Insert the staged values of many new objects, with history, in batches.

    On PostgreSQL the rows are built as plain tuples with ids drawn from the
    sequence and go by COPY, their history rows likewise.
    """
    new = [
        (instance, definition, value)
        for instance, staged in pairs
        for definition, value in staged.created
    ]
    if not new:
        return
    alias = router.db_for_write(ExtensionValue)
    if connections[alias].vendor != "postgresql":
        rows = [row for pair in pairs for row in _new_rows(*pair)]
        create_objects(ExtensionValue, rows)
        audit.record(rows, "+", user=user)
        return
    columns = _value_columns()
    position = {name: i for i, name in enumerate(columns)}
    content_types: dict[type, int] = {}
    ids = allocate_ids(ExtensionValue, len(new), using=alias)
    rows = []
    for pk, (instance, definition, value) in zip(ids, new, strict=True):
        model = type(instance)
        if model not in content_types:
            content_types[model] = ContentType.objects.get_for_model(model).pk
        row = [None] * len(columns)
        row[position["id"]] = pk
        row[position["company_id"]] = instance.company_id
        row[position["definition_id"]] = definition.pk
        row[position["content_type_id"]] = content_types[model]
        row[position["object_id"]] = instance.pk
        row[position[definition.column]] = value
        rows.append(row)
    insert_values(ExtensionValue, columns, rows, using=alias)
    audit.record_rows(ExtensionValue.history.model, columns, rows, "+", user=user)


def remove(instance, *, user=None) -> None:
    """Delete every value of ``instance`` (before the object), with history."""
    content_type = ContentType.objects.get_for_model(type(instance))
    rows = list(
        ExtensionValue.objects.filter(
            company_id=instance.company_id,
            content_type_id=content_type.pk,
            object_id=instance.pk,
        )
    )
    for row in rows:
        _delete_silently(row)
    audit.record(rows, "-", user=user)
