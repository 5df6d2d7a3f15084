"""Parse and validate query parameters and headers: one place, one set of rules.

Every API reads its parameters through these functions, so a bad value is a 400
naming the parameter everywhere (``{"after": ["Must be ..."]}``), never a 500:

- integers are ASCII digits only (``"²".isdigit()`` is true, ``int("²")``
  raises; ``int("١")`` is 1) and short enough for a bigint;
- booleans are ``true/false/1/0/yes/no/on/off``, case-insensitive;
- moments are ISO 8601 dates or datetimes whose value exists in UTC
  (``9999-12-31T23:59:59-23:59`` does not);
- text carries no NUL character and no lone surrogate (PostgreSQL refuses both).

The ``parse_*`` functions raise Django's ``ValidationError`` (no parameter name;
for forms and for callers that collect errors); the ``*_param`` functions read a
``QueryDict`` (or headers) and raise DRF's ``ValidationError({name: [message]})``.
"""

import re
from datetime import UTC, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import exceptions

BIGINT_MAX = 2**63 - 1
TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})
FALSE_STRINGS = frozenset({"false", "0", "no", "off"})
# Longer than any id a client saw; guards int() and the database.
MAX_TEXT_LENGTH = 1000

_DIGITS = re.compile(r"[0-9]{1,19}")
_MISSING = object()


def _shown(raw: str) -> str:
    """``raw`` for an error message: cut, with anything unprintable escaped."""
    return ascii(raw[:40])


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code="invalid")


def unsafe_text(raw: str) -> bool:
    """Whether ``raw`` holds what PostgreSQL cannot store or compare."""
    return "\x00" in raw or any("\ud800" <= char <= "\udfff" for char in raw)


def parse_text(raw: str, *, max_length: int | None = MAX_TEXT_LENGTH) -> str:
    if unsafe_text(raw):
        raise _invalid("Cannot contain NUL characters or lone surrogates.")
    if max_length is not None and len(raw) > max_length:
        raise _invalid(f"Ensure this value has at most {max_length} characters.")
    return raw


def parse_integer(
    raw: str, *, minimum: int = 0, maximum: int = BIGINT_MAX, what: str = ""
) -> int:
    """ASCII digits (no sign, no spaces, no underscores) within the bounds."""
    what = what or ("a positive integer" if minimum == 1 else "a non-negative integer")
    if not _DIGITS.fullmatch(raw):
        raise _invalid(f"Must be {what}, not {_shown(raw)}.")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise _invalid(f"Must be {what} between {minimum} and {maximum}.")
    return value


def parse_boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise _invalid(f"Must be true or false, not {_shown(raw)}.")


def parse_moment(raw: str) -> datetime:
    """An ISO 8601 date (midnight) or datetime, as an aware datetime in UTC.

    A value without an offset is read in the project time zone. A value that
    does not exist in UTC (year 0 or 10000 once the offset is applied) is refused.
    """
    moment = None
    if isinstance(raw, str) and not unsafe_text(raw):
        try:
            moment = parse_datetime(raw)
            if moment is None and (day := parse_date(raw)) is not None:
                moment = datetime.combine(day, time.min)
        except ValueError:
            moment = None
    if moment is None:
        raise _invalid(
            f"Not an ISO 8601 date or datetime: {_shown(str(raw))} "
            "(e.g. 2025-01-31 or 2025-01-31T12:00:00Z)."
        )
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_default_timezone())
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _invalid(
            "Out of range: must fall within years 1 to 9999 in UTC."
        ) from None


def _named(name: str, parse, *args, **kwargs) -> Any:
    try:
        return parse(*args, **kwargs)
    except ValidationError as exc:
        raise exceptions.ValidationError({name: exc.messages}) from None


def _raw(params, name: str):
    raw = params.get(name)
    return _MISSING if raw is None or raw == "" else raw


def integer_param(params, name: str, default=None, **bounds) -> int | None:
    raw = _raw(params, name)
    return default if raw is _MISSING else _named(name, parse_integer, raw, **bounds)


def boolean_param(params, name: str, default=None) -> bool | None:
    raw = _raw(params, name)
    return default if raw is _MISSING else _named(name, parse_boolean, raw)


def moment_param(params, name: str, default=None) -> datetime | None:
    raw = _raw(params, name)
    return default if raw is _MISSING else _named(name, parse_moment, raw)


def text_param(
    params, name: str, default=None, *, max_length: int | None = MAX_TEXT_LENGTH
) -> str | None:
    raw = _raw(params, name)
    if raw is _MISSING:
        return default
    return _named(name, parse_text, raw, max_length=max_length)


def collect(errors: dict, read, *args, **kwargs) -> Any:
    """Call ``read(*args, **kwargs)``; on a 400, add its errors to ``errors``."""
    try:
        return read(*args, **kwargs)
    except exceptions.ValidationError as exc:
        errors.update(exc.detail)
        return None


def is_id(raw: Any) -> bool:
    """Whether ``raw`` (a URL part, a form value) can name a row: ASCII digits
    that fit a bigint."""
    return isinstance(raw, str | int) and bool(_DIGITS.fullmatch(str(raw)))
