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
from django.db import IntegrityError, connection, transaction
from simple_history.utils import bulk_update_with_history

from audit import context as audit_context
from businessobjects import context
from businessobjects.conf import merp_settings

from . import history, types
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
    """Change a definition; a type change converts every value or is refused."""
    model = attrs.pop("model", None)
    _check_attributes(attrs)
    with transaction.atomic():
        locked = (
            FieldDefinition.objects.select_for_update()
            .select_related("content_type")
            .get(pk=definition.pk)
        )
        if model is not None and content_type_for(model).pk != locked.content_type_id:
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
        if (original.field_type, original.decimal_places) != (
            locked.field_type,
            locked.decimal_places,
        ):
            _lock_values()
        _save_definition(locked)
        _convert_values(original, locked, user=user)
    definition.__dict__.update(
        {k: v for k, v in locked.__dict__.items() if not k.startswith("_state")}
    )
    return definition


def definition_delete(
    definition: FieldDefinition, *, purge: bool = False, user=None
) -> DefinitionDeletion:
    """Delete a definition; one that holds values is deactivated unless ``purge``.

    Purging deletes the values first (each leaves a history row), then the
    definition: it is the only path that destroys custom-field data.
    """
    with transaction.atomic():
        locked = FieldDefinition.objects.select_for_update().get(pk=definition.pk)
        if purge:
            _lock_values()
        count = ExtensionValue.objects.filter(definition_id=locked.pk).count()
        if count and not purge:
            if locked.is_active:
                locked.is_active = False
                locked.save(update_fields=["is_active", "updated_at"])
            definition.is_active = False
            return DefinitionDeletion(deleted=False, deactivated=True, values=count)
        if count:
            _purge_values(locked, user=user)
        locked.delete()
    return DefinitionDeletion(deleted=True, deactivated=False, values=count)


def value_conversions(original: FieldDefinition, changed: FieldDefinition):
    """Yield ``(row, new value, error message or None)`` for a type change."""
    rows = (
        ExtensionValue.objects.filter(definition_id=original.pk)
        .order_by("pk")
        .iterator(chunk_size=2000)
    )
    for row in rows:
        old = original.represent(getattr(row, original.column))
        if old is None:
            continue
        try:
            value = changed.type.clean(
                types.conversion_input(old, changed.type), changed
            )
        except ValidationError as exc:
            yield row, old, exc.messages[0]
        else:
            yield row, value, None


def check_conversion(original: FieldDefinition, changed: FieldDefinition) -> None:
    """Raise ValidationError unless every stored value converts to ``changed``."""
    if (original.field_type, original.decimal_places) == (
        changed.field_type,
        changed.decimal_places,
    ):
        return
    total, failures = 0, []
    for row, value, error in value_conversions(original, changed):
        total += 1
        if error is not None:
            failures.append(f"object {row.object_id}: {value!r} ({error})")
    if failures:
        attr = (
            "field_type"
            if original.field_type != changed.field_type
            else "decimal_places"
        )
        raise ValidationError(
            {
                attr: [
                    f"Cannot change '{original.name}' from {original.field_type} to "
                    f"{changed.field_type}"
                    + (
                        f" with {changed.decimal_places} decimal places"
                        if changed.field_type == "decimal"
                        and changed.decimal_places is not None
                        else ""
                    )
                    + f": {len(failures)} of {total} values do not convert "
                    f"({'; '.join(failures[:3])}). Change or clear those values "
                    "first."
                ]
            }
        )


def _convert_values(original, changed, *, user) -> None:
    if (original.field_type, original.decimal_places) == (
        changed.field_type,
        changed.decimal_places,
    ):
        return
    batch: list[ExtensionValue] = []
    for row, value, error in value_conversions(original, changed):
        if error is not None:  # clean() checked; this is a concurrent write
            raise ValidationError({"field_type": [f"object {row.object_id}: {error}"]})
        row.definition = changed
        row.set_value(value)
        batch.append(row)
        if len(batch) >= merp_settings.BULK_BATCH_SIZE:
            _bulk_update_values(batch, user=user)
            batch = []
    _bulk_update_values(batch, user=user)


def _bulk_update_values(rows: list[ExtensionValue], *, user) -> None:
    if not rows:
        return
    if merp_settings.AUDIT_ENABLED:
        bulk_update_with_history(
            rows,
            ExtensionValue,
            list(types.VALUE_COLUMNS),
            default_user=user if user is not None else context.get_user(),
            default_change_reason=audit_context.get_change_reason(),
            custom_historical_attrs={"correlation_id": context.get_correlation_id()},
        )
    else:
        ExtensionValue.objects.bulk_update(rows, list(types.VALUE_COLUMNS))


def _purge_values(definition: FieldDefinition, *, user) -> None:
    batch_size = merp_settings.BULK_BATCH_SIZE
    queryset = ExtensionValue.objects.filter(definition_id=definition.pk)
    while True:
        rows = list(queryset.order_by("pk")[:batch_size])
        if not rows:
            break
        history.record(rows, "-", user=user)
        # The history rows were written above in one batch; a plain delete()
        # would write them again, one INSERT per row, from post_delete.
        ExtensionValue.objects.filter(pk__in=[r.pk for r in rows])._raw_delete(
            queryset.db
        )


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
