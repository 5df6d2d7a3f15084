"""The text-stored custom field types: string, email, phone, url, choice."""

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from .fieldtype import MAX_TEXT_LENGTH, FieldType, _invalid
from .jsonvalues import storable_text

# E.164-ish: optional leading +, digits with common separators, 4 to 20 digits.
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-/]*$")
_EMAIL = EmailValidator()
_URL = URLValidator()


class TextType(FieldType):
    column = "value_text"
    has_text_rules = True
    lookups = frozenset(
        {"exact", "in", "contains", "icontains", "startswith", "isnull"}
    )

    def to_python(self, value, definition) -> str:
        if isinstance(value, bool) or not isinstance(
            value, str | int | float | Decimal
        ):
            raise _invalid("Must be a string.")
        return storable_text(value if isinstance(value, str) else str(value))

    def from_query(self, raw: str, definition) -> str:
        # Filters match parts of values ("startswith=info@"): no format check.
        return storable_text(raw)

    def formfield(self, definition, **kwargs):
        return forms.CharField(
            max_length=min(definition.max_length or MAX_TEXT_LENGTH, MAX_TEXT_LENGTH),
            **kwargs,
        )


class StringType(TextType):
    name = "string"


class EmailType(TextType):
    name = "email"

    def to_python(self, value, definition) -> str:
        value = super().to_python(value, definition).strip()
        try:
            _EMAIL(value)
        except ValidationError:
            raise _invalid("Enter a valid email address.") from None
        return value

    def formfield(self, definition, **kwargs):
        return forms.EmailField(**kwargs)


class PhoneType(TextType):
    name = "phone"

    def to_python(self, value, definition) -> str:
        value = super().to_python(value, definition).strip()
        digits = sum(c.isdigit() for c in value)
        if not _PHONE.match(value) or not 4 <= digits <= 20:
            raise _invalid(
                "Enter a valid phone number: digits with an optional leading '+' "
                "and spaces, dots, dashes, slashes or parentheses (4 to 20 digits)."
            )
        return value


class UrlType(TextType):
    name = "url"

    def to_python(self, value, definition) -> str:
        value = super().to_python(value, definition).strip()
        try:
            _URL(value)
        except ValidationError:
            raise _invalid("Enter a valid URL.") from None
        return value

    def formfield(self, definition, **kwargs):
        return forms.URLField(assume_scheme="https", **kwargs)


class ChoiceType(TextType):
    name = "choice"
    has_text_rules = False
    lookups = frozenset({"exact", "in", "isnull"})

    def from_query(self, raw: str, definition) -> str:
        self.validate(raw, definition)
        return raw

    def validate(self, value, definition) -> None:
        choices = definition.choices or []
        if value not in choices:
            raise ValidationError(
                f"{value[:100]!r} is not one of the choices: {', '.join(choices)}.",
                code="invalid_choice",
            )

    def formfield(self, definition, **kwargs):
        return forms.ChoiceField(
            choices=[("", "---------")] + [(c, c) for c in definition.choices or []],
            **kwargs,
        )
