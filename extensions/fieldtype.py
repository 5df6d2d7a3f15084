"""The base of the custom field types and the storage limits they share."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .regexes import regex_matches

# Text values are indexed with (definition, value) btree indexes; a btree entry
# must stay under ~2.7 kB, so text values are capped (500 chars <= 2000 bytes).
MAX_TEXT_LENGTH = 500
# value_decimal is numeric(30, 10).
DECIMAL_MAX_DIGITS = 30
DECIMAL_MAX_PLACES = 10
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code="invalid")


class FieldType:
    """Base of the field types; subclasses set ``name`` and ``column``."""

    name: str = ""
    column: str = ""
    lookups: frozenset[str] = frozenset({"exact", "in", "isnull"})
    # Which definition attributes apply to this type.
    has_range = False  # min_value / max_value
    has_text_rules = False  # max_length / regex

    def to_python(self, value: Any, definition) -> Any:
        """Return the value to store; raise ValidationError if it does not parse."""
        raise NotImplementedError

    def to_representation(self, value: Any, definition) -> Any:
        return value

    def from_query(self, raw: str, definition) -> Any:
        """Parse one query-string value (filters)."""
        return self.to_python(raw, definition)

    def validate(self, value: Any, definition) -> None:
        """Check the definition's rules on a parsed value."""
        if self.has_range:
            minimum = self.bound(definition.min_value, definition)
            maximum = self.bound(definition.max_value, definition)
            if minimum is not None and value < minimum:
                shown = self.to_representation(minimum, definition)
                raise ValidationError(
                    f"Ensure this value is greater than or equal to {shown}.",
                    code="min_value",
                )
            if maximum is not None and value > maximum:
                shown = self.to_representation(maximum, definition)
                raise ValidationError(
                    f"Ensure this value is less than or equal to {shown}.",
                    code="max_value",
                )
        if self.has_text_rules:
            limit = min(definition.max_length or MAX_TEXT_LENGTH, MAX_TEXT_LENGTH)
            if len(value) > limit:
                raise ValidationError(
                    f"Ensure this value has at most {limit} characters "
                    f"(it has {len(value)}).",
                    code="max_length",
                )
            if definition.regex and not regex_matches(definition.regex, value):
                raise ValidationError(
                    f"Does not match the required pattern {definition.regex!r}.",
                    code="regex",
                )

    def clean(self, value: Any, definition) -> Any:
        """Parse and validate ``value``; return what to store."""
        value = self.to_python(value, definition)
        self.validate(value, definition)
        return value

    def bound(self, raw, definition):
        """Parse a stored ``min_value``/``max_value`` (``None`` when unset)."""
        return None if raw is None else self.to_python(raw, definition)

    def formfield(self, definition, **kwargs) -> forms.Field:
        return forms.CharField(**kwargs)

    def form_initial(self, value: Any, definition) -> Any:
        return value
