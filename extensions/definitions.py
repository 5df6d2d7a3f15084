"""Custom field definitions: create, change (converting values), delete or purge.

Every write path (admin, API, code) comes here, so validation, value conversion
and cache invalidation (``extensions.receivers``) are the same everywhere.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction

from audit import recorder as audit
from businessobjects import context
from businessobjects.conf import merp_settings

from . import types
from .conversions import (
    RULE_ATTRIBUTES,
    retyped,
)
from .models import ExtensionValue, FieldDefinition

DEFINITION_ATTRIBUTES = frozenset(
    {
        "name",
        "label",
        "field_type",
        "required",
        "default",
        "choices",
        "min_value",
        "max_value",
        "max_length",
        "decimal_places",
        "regex",
        "help_text",
        "is_active",
        "order",
    }
)


@dataclass(frozen=True)
class DefinitionDeletion:
    deleted: bool
    deactivated: bool
    values: int


def content_type_for(model) -> ContentType:
    """Return the content type of a registered business object (name or class)."""
    from businessobjects.registry import get_registration, registrations

    try:
        registration = get_registration(model)
    except LookupError:
        known = ", ".join(sorted(r.name for r in registrations()))
        raise ValidationError(
            {"model": [f"Unknown business object '{model}'. Registered: {known}."]}
        ) from None
    return ContentType.objects.get_for_model(registration.model)


def _check_attributes(attrs: Mapping[str, Any]) -> None:
    unknown = set(attrs) - DEFINITION_ATTRIBUTES
    if unknown:
        raise TypeError(
            f"Unknown custom field attribute(s): {', '.join(sorted(unknown))}. "
            f"Expected some of: {', '.join(sorted(DEFINITION_ATTRIBUTES))}."
        )


def _save_definition(definition: FieldDefinition) -> None:
    definition.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            definition.save()
    except IntegrityError as exc:
        # Two writers raced past the clean() check.
        raise ValidationError(
            {"name": [f"A custom field named '{definition.name}' already exists."]}
        ) from exc


def definition_create(*, company, model, **attrs) -> FieldDefinition:
    """Define a custom field on business object ``model`` for ``company``."""
    _check_attributes(attrs)
    content_type = content_type_for(model)
    definition = FieldDefinition(company=company, content_type=content_type, **attrs)
    with transaction.atomic():
        _save_definition(definition)
    return definition


def definition_update(definition: FieldDefinition, *, user=None, **attrs):
    """Change a definition, keeping what objects show in step with their history.

    A change of what the API shows (type, decimal places, name, active or not)
    is an update of every object that holds a value: its version goes up and it
    gets one history entry and one ``<model>.updated`` event, through
    ``businessobjects.services.bulk_update``, in this transaction. A type change
    whose values do not all convert, and a rule that stored values (or objects
    without one, for ``required``) would break, are refused.
    """
    model = attrs.pop("model", None)
    _check_attributes(attrs)
    try:
        with transaction.atomic():
            locked = _lock_definition().get(pk=definition.pk)
            if (
                model is not None
                and content_type_for(model).pk != locked.content_type_id
            ):
                raise ValidationError(
                    {
                        "model": [
                            "A custom field cannot move to another business object; "
                            "define a new field there instead."
                        ]
                    }
                )
            original = copy.copy(locked)
            for name, value in attrs.items():
                setattr(locked, name, value)
            if _touches_values(original, locked):
                _lock_for_change(original)
            # full_clean() checks the stored values against the change, under
            # the locks taken above.
            _save_definition(locked)
            _rewrite_objects(original, locked, user=user)
    except BaseException:
        _forget_definitions(definition)
        raise
    definition.__dict__.update(
        {k: v for k, v in locked.__dict__.items() if not k.startswith("_state")}
    )
    return definition


def definition_delete(
    definition: FieldDefinition, *, purge: bool = False, user=None
) -> DefinitionDeletion:
    """Delete a definition; one that holds values is deactivated unless ``purge``.

    Deactivating hides the values: each object that held one gets an update
    (version, history entry, event) saying so. Purging is such an update too,
    deleting the values (each leaves a value history row), then the definition:
    it is the only path that destroys custom-field data.
    """
    try:
        with transaction.atomic():
            locked = _lock_definition().get(pk=definition.pk)
            count = ExtensionValue.objects.filter(definition_id=locked.pk).count()
            if count and not purge:
                if locked.is_active:
                    definition_update(locked, user=user, is_active=False)
                definition.is_active = False
                return DefinitionDeletion(deleted=False, deactivated=True, values=count)
            if count:
                _lock_for_change(locked)
                _rewrite_objects(locked, None, user=user)
                _purge_values(locked, user=user)
            locked.delete()
    except BaseException:
        _forget_definitions(definition)
        raise
    return DefinitionDeletion(deleted=True, deactivated=False, values=count)


def _lock_definition():
    # Only the definition row (not its company and content type: every write
    # checks its foreign keys to those), and FOR NO KEY UPDATE: value rows
    # committing meanwhile check their foreign key to it (FOR KEY SHARE, at
    # commit, the constraints being deferred) and must not wait for us while
    # we wait for them.
    return FieldDefinition.objects.select_for_update(
        of=("self",), no_key=True
    ).select_related("content_type", "company")


def _forget_definitions(definition: FieldDefinition) -> None:
    # The change saved the definition (and a bulk update may have cached it)
    # before it was rolled back: the cache must not keep serving it.
    from . import cache

    cache.invalidate(definition.company_id, definition.content_type_id)


# -- what objects show ------------------------------------------------------------

# Attributes whose change alters what the API shows of objects holding a value.
SHOWN_ATTRIBUTES = ("field_type", "decimal_places", "name", "is_active")


def _touches_values(original: FieldDefinition, changed: FieldDefinition) -> bool:
    return any(
        getattr(original, attr) != getattr(changed, attr)
        for attr in SHOWN_ATTRIBUTES + RULE_ATTRIBUTES
    )


def _rewrite_objects(
    original: FieldDefinition, changed: FieldDefinition | None, *, user
) -> None:
    """Bring every object holding a value of ``original`` to ``changed``.

    ``changed`` None is a purge. Objects whose shown value changes are updated
    through ``bulk_update`` (the planned change set in ``extensions.services.
    Transition``); value rows that only move to another column (an integer
    becoming json shows the same) are rewritten with value history alone.
    """
    from businessobjects import services as bo

    from . import values as services

    converted = changed is not None and retyped(original, changed)
    renamed = changed is not None and changed.name != original.name
    shown_before = original.is_active
    shown_after = changed is not None and changed.is_active
    if not (converted or renamed or shown_before != shown_after):
        return
    target = changed or original
    model = original.content_type.model_class()
    reason = context.get_change_reason() or _reason(original, changed)
    rows = ExtensionValue.objects.filter(definition_id=original.pk).order_by(
        "object_id"
    )
    after_id = -1
    while True:
        batch = list(rows.filter(object_id__gt=after_id)[: _batch_size()])
        if not batch:
            return
        after_id = batch[-1].object_id
        planned = services.Transition(
            model=model,
            company_id=original.company_id,
            definition_id=original.pk,
            name=target.name,
            shown=shown_after,
        )
        moved = []
        for row in batch:
            new, changes, upserts, deletes = _plan_row(
                row, original, changed, converted=converted, renamed=renamed
            )
            if not changes:
                moved.extend(upserts)  # the value moves, nothing shown changes
                continue
            planned.plans[row.object_id] = (new, changes, upserts, deletes)
        if planned.plans:
            with services.transition(planned):
                bo.bulk_update(
                    model,
                    rows=[{"id": pk} for pk in planned.plans],
                    company=original.company,
                    user=user,
                    reason=reason,
                )
        _bulk_update_values(moved, user=user)


def _plan_row(
    row: ExtensionValue,
    original: FieldDefinition,
    changed: FieldDefinition | None,
    *,
    converted: bool,
    renamed: bool,
) -> tuple:
    """Return ``(shown value after, changes by name, upserts, deletes)`` of one
    stored value under the definition change."""
    shown_before = original.is_active
    shown_after = changed is not None and changed.is_active
    stored = getattr(row, original.column)
    old = original.represent(stored)
    value, new = None, None
    if changed is not None:
        value = stored
        if converted and old is not None:
            value = _convert(row, old, changed)
        new = changed.represent(value)
    changes = {}
    if shown_before and shown_after and not renamed:
        if old != new:
            changes[original.name] = {"old": old, "new": new}
    else:
        if shown_before and old is not None:
            changes[original.name] = {"old": old, "new": None}
        if shown_after and new is not None:
            changes[changed.name] = {"old": None, "new": new}
    upserts, deletes = [], []
    if changed is None:
        deletes.append(row)  # carries the old value for its history row
    elif converted:
        row.definition = changed
        row.set_value(value)
        upserts.append(row)
    return new, changes, upserts, deletes


def _reason(original: FieldDefinition, changed: FieldDefinition | None) -> str:
    what = f"custom field {original.name!r}"
    if changed is None:
        return f"{what} purged"
    done = []
    if changed.name != original.name:
        done.append(f"renamed to {changed.name!r}")
    if retyped(original, changed):
        done.append(f"changed to {changed.field_type}")
    if changed.is_active != original.is_active:
        done.append("activated" if changed.is_active else "deactivated")
    return f"{what} {', '.join(done)}"


def _convert(row: ExtensionValue, old, changed: FieldDefinition):
    try:
        return changed.type.clean(types.conversion_input(old, changed.type), changed)
    except ValidationError as exc:
        # clean() checked every value under the lock: only a bug gets here.
        raise ValidationError(
            {"field_type": [f"object {row.object_id}: {exc.messages[0]}"]}
        ) from exc


def _batch_size() -> int:
    return merp_settings.BULK_BATCH_SIZE


def _bulk_update_values(rows: list[ExtensionValue], *, user) -> None:
    if not rows:
        return
    ExtensionValue.objects.bulk_update(rows, list(types.VALUE_COLUMNS))
    audit.record(rows, "~", user=user)


def _purge_values(definition: FieldDefinition, *, user) -> None:
    batch_size = merp_settings.BULK_BATCH_SIZE
    queryset = ExtensionValue.objects.filter(definition_id=definition.pk)
    while True:
        rows = list(queryset.order_by("pk")[:batch_size])
        if not rows:
            break
        audit.record(rows, "-", user=user)
        # The history rows were written above in one batch; a plain delete()
        # would write them again, one INSERT per row, from post_delete.
        ExtensionValue.objects.filter(pk__in=[r.pk for r in rows])._raw_delete(
            queryset.db
        )


def _lock_for_change(definition: FieldDefinition) -> None:
    """Lock the objects holding a value of ``definition``, then the value table.

    The objects first, as every write does (object row, then its values), so
    that a writer holding an object and waiting for the values cannot deadlock
    with us. Values written meanwhile belong to objects we then lock without
    waiting; one locked by a writer now waiting for us makes us start over.
    """
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers
    model = definition.content_type.model_class()
    objects = model.objects.for_company(definition.company_id).select_for_update()
    values = ExtensionValue.objects.filter(definition_id=definition.pk)
    for attempt in range(5):
        try:
            with transaction.atomic():  # a retry releases what this one took
                held = set(values.values_list("object_id", flat=True))
                list(objects.filter(pk__in=held).order_by("pk").values_list("pk"))
                _lock_values()
                new = set(values.values_list("object_id", flat=True)) - held
                if new:
                    list(
                        objects.select_for_update(nowait=True)
                        .filter(pk__in=new)
                        .order_by("pk")
                        .values_list("pk")
                    )
            return
        except OperationalError:
            if attempt == 4:
                raise


def _lock_values() -> None:
    # A type change or purge rewrites every value of a definition; concurrent
    # value writes would land in the old column or block the definition's
    # delete. Block writers (not readers) until commit. SQLite serialises
    # writers anyway.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {ExtensionValue._meta.db_table} "
                "IN SHARE ROW EXCLUSIVE MODE"
            )
