"""Custom-field regexes run by RE2: linear time, so no pattern can hang a worker."""

import functools

import re2
from django.core.exceptions import ValidationError


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
