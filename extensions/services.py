"""Custom-field values as the business-object services see them.

The write path calls, inside its one transaction:

1. ``prepare(model, company, incoming, instance=...)`` before saving the row
   (``company`` is a Company or its id):
   validate ``incoming`` (merge semantics: keys set, ``None`` clears, missing keys
   kept; required fields enforced on create) and return an ``ExtensionWrite`` with
   the change set ``{name: {old, new}}`` in API representation;
2. ``write(instance, staged)`` after the row is saved (it has a pk).

``current_values(instance)`` returns ``{name: value}`` as the API shows it.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError


@dataclass
class ExtensionWrite:
    values: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)


def current_values(instance) -> dict:
    return {}


def prepare(model, company, incoming: dict | None, *, instance=None) -> ExtensionWrite:
    if incoming:
        raise ValidationError(
            {"extensions": [f"Unknown custom field '{name}'." for name in incoming]}
        )
    return ExtensionWrite(values=current_values(instance) if instance else {})


def write(instance, staged: ExtensionWrite) -> None:
    return None


def bulk_write(pairs: list[tuple]) -> None:
    return None


def remove(instance) -> None:
    return None


def prefetch(instances: list) -> None:
    """Load the custom-field values of ``instances`` in a constant number of queries."""
    for instance in instances:
        instance._merp_extensions = {}
