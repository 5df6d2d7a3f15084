"""Custom fields, the service API: definitions and values of one object.

``definition_create`` / ``definition_update`` / ``definition_delete`` manage the
definitions (``extensions.definitions``); ``set_extension`` / ``set_extensions``
change an object's values through its update (``businessobjects.services``), and
``get_extensions`` reads them. The hooks the business-object write path calls
(``prepare``, ``write``, ``bulk_write``, ``remove``, ``current_values``,
``prefetch``) live in ``extensions.values`` and are importable from here too.
"""

from collections.abc import Mapping
from typing import Any

from businessobjects import services

from .conversions import check_conversion
from .definitions import (
    DEFINITION_ATTRIBUTES,
    DefinitionDeletion,
    content_type_for,
    definition_create,
    definition_delete,
    definition_update,
)
from .values import (
    ExtensionValidationError,
    ExtensionWrite,
    Transition,
    bulk_write,
    current_values,
    definitions_for,
    pinned_definitions,
    prefetch,
    prepare,
    remove,
    transition,
    validate,
    write,
)


def get_extensions(instance) -> dict:
    """Return ``{name: value}`` of ``instance``'s active custom fields, fresh."""
    return current_values(instance)


def set_extension(
    instance, name: str, value: Any, *, user=None, expected_version: int | None = None
):
    """Set one custom field (``None`` clears it) through the object's update.

    Like any update it bumps ``version`` and writes one history entry and one
    ``<model>.updated`` event, in one transaction.
    """
    return set_extensions(
        instance, {name: value}, user=user, expected_version=expected_version
    )


def set_extensions(
    instance,
    values: Mapping[str, Any],
    *,
    user=None,
    expected_version: int | None = None,
):
    """Merge ``values`` into ``instance``'s custom fields (``None`` clears one)."""
    return services.update(
        instance,
        extensions=dict(values),
        expected_version=expected_version,
        user=user,
    )


__all__ = [
    "DEFINITION_ATTRIBUTES",
    "DefinitionDeletion",
    "ExtensionValidationError",
    "ExtensionWrite",
    "Transition",
    "bulk_write",
    "check_conversion",
    "content_type_for",
    "current_values",
    "definition_create",
    "definition_delete",
    "definition_update",
    "definitions_for",
    "get_extensions",
    "pinned_definitions",
    "prefetch",
    "prepare",
    "remove",
    "set_extension",
    "set_extensions",
    "transition",
    "validate",
    "write",
]
