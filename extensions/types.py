"""The custom field types: parsing, validation, representation, storage column.

Every type turns an incoming value (JSON from the API, a Python value from a
service call or an admin form, a string from a query parameter) into the Python
value stored in its typed column, checks the definition's rules, and turns the
stored value back into its API representation (decimals as strings, dates and
datetimes ISO 8601).
"""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib.admin import widgets as admin_widgets
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.fields import DateTimeField as _DRFDateTimeField

from businessobjects import params
from businessobjects.conf import merp_settings

from .fieldtype import (
    DECIMAL_MAX_DIGITS,
    DECIMAL_MAX_PLACES,
    INTEGER_MAX,
    INTEGER_MIN,
    MAX_TEXT_LENGTH,
    FieldType,
    _invalid,
)
from .jsonvalues import (
    SafeJSONField,
    check_json_depth,
    json_depth,
    parse_json,
    storable_json,
)
from .regexes import compile_regex, regex_matches
from .texttypes import (
    ChoiceType,
    EmailType,
    PhoneType,
    StringType,
    TextType,
    UrlType,
)

__all__ = [  # what other modules import from here (the types are defined in
    # fieldtype, texttypes and below; their names are the module's API)
    "DECIMAL_MAX_DIGITS",
    "DECIMAL_MAX_PLACES",
    "INTEGER_MAX",
    "INTEGER_MIN",
    "MAX_TEXT_LENGTH",
    "ChoiceType",
    "EmailType",
    "FieldType",
    "PhoneType",
    "SafeJSONField",
    "StringType",
    "TextType",
    "UrlType",
    "compile_regex",
    "json_depth",
    "parse_json",
    "regex_matches",
]

# One vocabulary of booleans for values, filters and query parameters.
TRUE_STRINGS = params.TRUE_STRINGS
FALSE_STRINGS = params.FALSE_STRINGS

_DATETIME_REPR = _DRFDateTimeField()


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
        check_json_depth(value)
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
        return storable_json(value)

    def from_query(self, raw: str, definition) -> Any:
        return storable_json(parse_json(raw))

    def formfield(self, definition, **kwargs):
        return SafeJSONField(**kwargs)


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
