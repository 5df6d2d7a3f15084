"""JSON custom-field values: strict parsing, depth and storability limits, and
the admin's form field that survives values nested beyond the recursion limit."""

import json
import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from businessobjects.conf import merp_settings
from businessobjects.display import json_display


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code="invalid")


def storable_text(value: str) -> str:
    """Refuse what PostgreSQL cannot store in text or jsonb (history and events
    carry the value too): NUL characters and lone surrogates."""
    if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
        raise _invalid("Cannot contain NUL characters or lone surrogates.")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite_float(raw: str) -> float:
    number = float(raw)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def parse_json(raw: str) -> Any:
    """Parse strict JSON text: no NaN or Infinity, no number that overflows a
    float (1e999), nesting within MERP_EXTENSIONS_JSON_MAX_DEPTH."""
    try:
        value = json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise _invalid(_too_deep_message()) from None
    except ValueError:
        raise _invalid(
            "Must be JSON (strings in double quotes; no NaN or Infinity; numbers "
            "within range)."
        ) from None
    check_json_depth(value)
    return value


def _too_deep_message() -> str:
    return (
        f"Nested too deeply: at most {merp_settings.EXTENSIONS_JSON_MAX_DEPTH} "
        "levels of arrays and objects (MERP_EXTENSIONS_JSON_MAX_DEPTH)."
    )


def json_depth(value: Any) -> int:
    """The nesting depth of arrays and objects in ``value`` (iteratively)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_json_depth(value: Any) -> None:
    if json_depth(value) > merp_settings.EXTENSIONS_JSON_MAX_DEPTH:
        raise _invalid(_too_deep_message())


class SafeJSONField(forms.JSONField):
    """The admin's JSON form field, safe with values nested beyond the recursion
    limit: shown iteratively, refused (not a RecursionError) when submitted."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if value is None:
            return ""  # an empty field, not the literal ``null``
        if json_depth(value) > merp_settings.EXTENSIONS_JSON_MAX_DEPTH:
            return json_display(value, limit=merp_settings.EXTENSIONS_JSON_MAX_BYTES)
        return super().prepare_value(value)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(_too_deep_message(), code="invalid") from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial, data):
        try:
            return super().has_changed(initial, data)
        except RecursionError:
            return True


def storable_json(value: Any) -> Any:
    """Refuse what PostgreSQL's jsonb cannot hold (it answered with a 500): NUL
    characters and lone surrogates, in strings or keys."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            storable_text(item)
    return value
