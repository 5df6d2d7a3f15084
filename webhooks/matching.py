"""Which events an endpoint receives: ``event_types`` patterns and
``changed_fields``; and the validation of both."""

import re

from django.core.exceptions import ValidationError

from businessobjects.api.serializers import serializer_for
from businessobjects.registry import registrations

ACTIONS = ("created", "updated", "deleted", "restored")
_PATTERN = re.compile(r"^([a-z][a-z0-9_]*)\.(created|updated|deleted|restored|\*)$")
_EXTENSION = re.compile(r"^extensions\.[a-z][a-z0-9_]{0,62}$")


def matches(event_types: list[str], changed_fields, event_type: str, changes) -> bool:
    """Whether an event of ``event_type`` with ``changes`` goes to an endpoint."""
    model = event_type.partition(".")[0]
    if not any(p in ("*", event_type, f"{model}.*") for p in event_types):
        return False
    if changed_fields and event_type.endswith(".updated"):
        return any(name in (changes or {}) for name in changed_fields)
    return True


def validate_event_types(value) -> list[str]:
    """Return ``value`` as a list of known patterns; ``ValidationError`` naming
    ``event_types`` otherwise."""
    models = {r.name for r in registrations()}
    if not isinstance(value, list) or not value:
        raise _invalid("event_types", "Send a non-empty list of event types.")
    for item in value:
        if not isinstance(item, str):
            raise _invalid("event_types", f"{item!r} is not a string.")
        if item == "*":
            continue
        match = _PATTERN.match(item)
        if not match:
            raise _invalid(
                "event_types",
                f"{item!r} is not '<model>.<action>', '<model>.*' or '*' "
                f"(actions: {', '.join(ACTIONS)}).",
            )
        if match.group(1) not in models:
            raise _invalid(
                "event_types",
                f"Unknown business object {match.group(1)!r} in {item!r}; known: "
                f"{', '.join(sorted(models))}.",
            )
    return list(dict.fromkeys(value))


def validate_changed_fields(value, event_types: list[str]):
    """Return ``value`` (None for no filter); every plain name must be a field of
    a subscribed object, custom fields go as ``extensions.<name>``."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise _invalid("changed_fields", "Send a list of field names, or null.")
    subscribed = {p.partition(".")[0] for p in event_types}
    fields: set[str] = set()
    for registration in registrations():
        if "*" in subscribed or registration.name in subscribed:
            fields |= set(serializer_for(registration.model)().fields) - {"extensions"}
    for item in value:
        if not isinstance(item, str):
            raise _invalid("changed_fields", f"{item!r} is not a string.")
        if item.startswith("extensions."):
            if not _EXTENSION.match(item):
                raise _invalid(
                    "changed_fields",
                    f"{item!r} is not 'extensions.<custom field name>'.",
                )
        elif item not in fields:
            raise _invalid(
                "changed_fields",
                f"{item!r} is not a field of the subscribed objects; known: "
                f"{', '.join(sorted(fields))} (custom fields: extensions.<name>).",
            )
    return list(dict.fromkeys(value))


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})
