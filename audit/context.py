"""Why a change is made: the change reason of the writes in the current context.

Services take ``reason=`` explicitly; when they are not given one, the history row
takes the reason active here, set per request from the ``X-Change-Reason`` header
(``audit.middleware.ChangeReasonMiddleware``) or per job with ``change_reason()``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.exceptions import ValidationError

# Long enough for a sentence and a ticket reference; bounded so that a header or
# an import row cannot put kilobytes into every history row.
MAX_REASON_LENGTH = 500

_reason: ContextVar[str | None] = ContextVar("merp_change_reason", default=None)


def clean_reason(reason: str | None, *, field: str = "reason") -> str | None:
    """Return ``reason`` stripped (``None`` when blank); refuse an over-long one."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ValidationError({field: ["A change reason must be a string."]})
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            {
                field: [
                    f"Ensure the change reason has at most {MAX_REASON_LENGTH} "
                    f"characters (it has {len(reason)})."
                ]
            }
        )
    return reason or None


def get_change_reason() -> str | None:
    return _reason.get()


def set_change_reason(reason: str | None) -> object:
    """Set the reason for this context; return a token for ``reset_change_reason``."""
    return _reason.set(clean_reason(reason))


def reset_change_reason(token) -> None:
    _reason.reset(token)


@contextmanager
def change_reason(reason: str | None) -> Iterator[None]:
    """Record ``reason`` on every history row written inside the block."""
    token = set_change_reason(reason)
    try:
        yield
    finally:
        _reason.reset(token)
