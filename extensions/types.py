"""The custom field types: parsing, validation, representation, storage column.

Every type turns an incoming value (JSON from the API, a Python value from a
service call or an admin form, a string from a query parameter) into the Python
value stored in its typed column, checks the definition's rules, and turns the
stored value back into its API representation (decimals as strings, dates and
datetimes ISO 8601).
"""

import functools
import json
import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import re2
from django import forms
from django.contrib.admin import widgets as admin_widgets
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.fields import DateTimeField as _DRFDateTimeField

from businessobjects import params
from businessobjects.conf import merp_settings
from businessobjects.display import json_display

# Text values are indexed with (definition, value) btree indexes; a btree entry
# must stay under ~2.7 kB, so text values are capped (500 chars <= 2000 bytes).
MAX_TEXT_LENGTH = 500
# value_decimal is numeric(30, 10).
DECIMAL_MAX_DIGITS = 30
DECIMAL_MAX_PLACES = 10
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1

# One vocabulary of booleans for values, filters and query parameters.
TRUE_STRINGS = params.TRUE_STRINGS
FALSE_STRINGS = params.FALSE_STRINGS

# E.164-ish: optional leading +, digits with common separators, 4 to 20 digits.
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-/]*$")
_EMAIL = EmailValidator()
_URL = URLValidator()
_DATETIME_REPR = _DRFDateTimeField()


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
        return _storable_text(value if isinstance(value, str) else str(value))

    def from_query(self, raw: str, definition) -> str:
        # Filters match parts of values ("startswith=info@"): no format check.
        return _storable_text(raw)

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


class IntegerType(FieldType):
    name = "integer"
    column = "value_integer"
    has_range = True
    lookups = frozenset({"exact", "gt", "gte", "lt", "lte", "in", "isnull"})

    def to_python(self, value, definition) -> int:
        if isinstance(value, bool):
            raise _invalid("Must be an integer.")
        if isinstance(value, float | Decimal):
            if value != value or value in (float("inf"), float("-inf")):
                raise _invalid("Must be an integer.")
            if value != int(value):
                raise _invalid("Must be an integer.")
            value = int(value)
        elif isinstance(value, str):
            if not re.fullmatch(r"\s*[+-]?\d{1,20}\s*", value):
                raise _invalid("Must be an integer.")
            value = int(value)
        elif not isinstance(value, int):
            raise _invalid("Must be an integer.")
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            raise _invalid("Must be between -2^63 and 2^63-1.")
        return value

    def formfield(self, definition, **kwargs):
        return forms.IntegerField(**kwargs)


class DecimalType(FieldType):
    name = "decimal"
    column = "value_decimal"
    has_range = True
    lookups = frozenset({"exact", "gt", "gte", "lt", "lte", "in", "isnull"})

    def to_python(self, value, definition) -> Decimal:
        if isinstance(value, bool) or not isinstance(
            value, str | int | float | Decimal
        ):
            raise _invalid("Must be a decimal number (send it as a string).")
        try:
            number = Decimal(
                str(value).strip() if not isinstance(value, Decimal) else value
            )
        except InvalidOperation:
            raise _invalid("Must be a decimal number (send it as a string).") from None
        if not number.is_finite():
            raise _invalid("Must be a finite decimal number.")
        number = number.normalize() if number else Decimal(0)
        places = max(-number.as_tuple().exponent, 0)
        allowed = definition.decimal_places
        limit = DECIMAL_MAX_PLACES if allowed is None else allowed
        if places > limit:
            raise ValidationError(
                f"Ensure that there are no more than {limit} decimal places.",
                code="max_decimal_places",
            )
        whole = len(number.as_tuple().digits) + number.as_tuple().exponent
        if whole > DECIMAL_MAX_DIGITS - DECIMAL_MAX_PLACES:
            raise ValidationError(
                "Ensure that there are no more than "
                f"{DECIMAL_MAX_DIGITS - DECIMAL_MAX_PLACES} digits before the "
                "decimal point.",
                code="max_whole_digits",
            )
        return number

    def from_query(self, raw: str, definition) -> Decimal:
        # No places limit: filtering by 10.005 on a 2-place field is meaningful.
        try:
            number = Decimal(raw.strip())
        except InvalidOperation:
            raise _invalid("Must be a decimal number.") from None
        if not number.is_finite():
            raise _invalid("Must be a finite decimal number.")
        # Beyond these the database cannot compare (1e999999: a 500 before).
        whole = len(number.as_tuple().digits) + number.as_tuple().exponent
        if whole > DECIMAL_MAX_DIGITS - DECIMAL_MAX_PLACES:
            raise _invalid(
                "Out of range: at most "
                f"{DECIMAL_MAX_DIGITS - DECIMAL_MAX_PLACES} digits before the "
                "decimal point."
            )
        if -number.as_tuple().exponent > 100:
            raise _invalid("Out of range: at most 100 decimal places.")
        return number

    def to_representation(self, value, definition) -> str:
        value = Decimal(value)
        if definition.decimal_places is not None:
            return str(value.quantize(Decimal(1).scaleb(-definition.decimal_places)))
        value = value.normalize() if value else Decimal(0)
        return format(value, "f")

    def form_initial(self, value, definition) -> Decimal:
        # Shown as in the API (12.50, not the stored 12.5000000000).
        return Decimal(self.to_representation(value, definition))

    def formfield(self, definition, **kwargs):
        places = definition.decimal_places
        return forms.DecimalField(
            max_digits=DECIMAL_MAX_DIGITS,
            decimal_places=DECIMAL_MAX_PLACES if places is None else places,
            **kwargs,
        )


class BooleanType(FieldType):
    name = "boolean"
    column = "value_boolean"
    lookups = frozenset({"exact", "isnull"})

    def to_python(self, value, definition) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in TRUE_STRINGS:
                return True
            if lowered in FALSE_STRINGS:
                return False
        raise _invalid("Must be true or false.")

    def formfield(self, definition, **kwargs):
        return forms.NullBooleanField(**kwargs)


class DateType(FieldType):
    name = "date"
    column = "value_date"
    has_range = True
    lookups = frozenset({"exact", "gt", "gte", "lt", "lte", "in", "isnull"})

    def to_python(self, value, definition) -> date:
        if isinstance(value, datetime):
            raise _invalid("Must be a date (YYYY-MM-DD), not a datetime.")
        if isinstance(value, date):
            return value
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_date(value.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            raise _invalid("Must be a date in ISO 8601 format (YYYY-MM-DD).")
        return parsed

    def to_representation(self, value, definition) -> str:
        return value.isoformat()

    def formfield(self, definition, **kwargs):
        return forms.DateField(widget=admin_widgets.AdminDateWidget, **kwargs)


class DateTimeType(FieldType):
    name = "datetime"
    column = "value_datetime"
    has_range = True
    lookups = frozenset({"exact", "gt", "gte", "lt", "lte", "in", "isnull"})

    def to_python(self, value, definition) -> datetime:
        parsed = None
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            raise _invalid(
                "Must be a datetime in ISO 8601 format "
                "(YYYY-MM-DDThh:mm[:ss[.ffffff]][Z or ±hh:mm])."
            )
        try:
            if timezone.is_naive(parsed):
                # Naive values are read in the project time zone (UTC by default).
                parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
            # In UTC, so the database never sees an offset it refuses (-23:00)
            # and a value past year 9999 fails here, not as a 500.
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise _invalid(
                "Out of range: must fall within years 1 to 9999 in UTC."
            ) from None

    def to_representation(self, value, definition) -> str:
        return _DATETIME_REPR.to_representation(value)

    def formfield(self, definition, **kwargs):
        return forms.SplitDateTimeField(
            widget=admin_widgets.AdminSplitDateTime, **kwargs
        )


class JsonType(FieldType):
    name = "json"
    column = "value_json"
    lookups = frozenset({"exact", "contains", "isnull"})

    def to_python(self, value, definition) -> Any:
        _check_json_depth(value)
        try:
            # Round-trip so that what is stored is exactly what is read back.
            text = json.dumps(value, allow_nan=False)
            value = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            raise _invalid(
                "Must be a JSON value (object, array, string, number or boolean)."
            ) from None
        limit = merp_settings.EXTENSIONS_JSON_MAX_BYTES
        if len(text.encode()) > limit:
            raise _invalid(
                f"Too large: at most {limit} bytes of JSON "
                "(MERP_EXTENSIONS_JSON_MAX_BYTES)."
            )
        return _storable_json(value)

    def from_query(self, raw: str, definition) -> Any:
        return _storable_json(parse_json(raw))

    def formfield(self, definition, **kwargs):
        return SafeJSONField(**kwargs)


def _storable_text(value: str) -> str:
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
    _check_json_depth(value)
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


def _check_json_depth(value: Any) -> None:
    if json_depth(value) > merp_settings.EXTENSIONS_JSON_MAX_DEPTH:
        raise _invalid(_too_deep_message())


class SafeJSONField(forms.JSONField):
    """The admin's JSON form field, safe with values nested beyond the recursion
    limit: shown iteratively, refused (not a RecursionError) when submitted."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
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


def _storable_json(value: Any) -> Any:
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
            _storable_text(item)
    return value


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        StringType(),
        IntegerType(),
        DecimalType(),
        BooleanType(),
        DateType(),
        DateTimeType(),
        JsonType(),
        EmailType(),
        PhoneType(),
        UrlType(),
        ChoiceType(),
    )
}
VALUE_COLUMNS = tuple(dict.fromkeys(t.column for t in FIELD_TYPES.values()))
ALL_LOOKUPS = (
    "exact",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "contains",
    "icontains",
    "startswith",
    "isnull",
)


def _re2_options():
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    return options


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str):
    """Compile a custom field's ``regex`` with RE2 (linear time, no backtracking).

    Raise ValidationError for what RE2 does not support (backreferences,
    lookarounds) or cannot compile; a pattern like ``^(a+)+$`` that makes
    Python's ``re`` take exponential time is fine here.
    """
    try:
        return re2.compile(pattern, _re2_options())
    except (re2.error, UnicodeEncodeError, TypeError) as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValidationError(
            f"Not a supported regular expression ({detail}). Custom fields use "
            "RE2 syntax: no backreferences or lookarounds.",
            code="invalid_regex",
        ) from None


def regex_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` somewhere (``re.search``), in time
    linear in the length of ``value``."""
    return compile_regex(pattern).search(value) is not None


def validate_field_type(value: str) -> None:
    if value not in FIELD_TYPES:
        raise ValidationError(
            f"Invalid field type '{value}'. Supported types: {', '.join(FIELD_TYPES)}.",
            code="invalid_field_type",
        )


def conversion_input(value: Any, target: FieldType) -> Any:
    """Return an API value of another type as input for ``target`` (type changes)."""
    if isinstance(target, TextType) and not isinstance(value, str):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
    return value
