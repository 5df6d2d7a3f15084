"""Who is acting, for which company, under which correlation id, and why.

Kept in contextvars so services, history and events read the same values whether
the write comes from a request, a Celery task or a management command.

Services take ``reason=`` explicitly; when they are not given one, the history row
takes the reason active here, set per request from the ``X-Change-Reason`` header
(``audit.middleware.ChangeReasonMiddleware``) or per job with ``change_reason()``.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ValidationError

# Long enough for a sentence and a ticket reference; bounded so that a header or
# an import row cannot put kilobytes into every history row.
MAX_REASON_LENGTH = 500

_user: ContextVar[Any] = ContextVar("merp_user", default=None)
_company: ContextVar[Any] = ContextVar("merp_company", default=None)
_correlation_id: ContextVar[str | None] = ContextVar(
    "merp_correlation_id", default=None
)
_reason: ContextVar[str | None] = ContextVar("merp_change_reason", default=None)


def get_user():
    return _user.get()


def get_company():
    return _company.get()


def get_correlation_id() -> str:
    """Return the active correlation id, making one for this context if none is set."""
    value = _correlation_id.get()
    if value is None:
        value = str(uuid.uuid4())
        _correlation_id.set(value)
    return value


def peek_correlation_id() -> str | None:
    """Return the active correlation id or ``None``; unlike ``get_correlation_id``
    never make one (logging must not invent ids for lines outside any request)."""
    return _correlation_id.get()


def set_user(user) -> None:
    _user.set(user if getattr(user, "is_authenticated", False) else None)


def set_company(company) -> None:
    _company.set(company)


def set_correlation_id(value: str | None) -> None:
    _correlation_id.set(value)


@contextmanager
def use_context(
    *, user=None, company=None, correlation_id: str | None = None
) -> Iterator[None]:
    """Run a block as ``user`` in ``company`` (for tasks, commands and scripts)."""
    tokens = (
        _user.set(user),
        _company.set(company),
        _correlation_id.set(
            correlation_id or _correlation_id.get() or str(uuid.uuid4())
        ),
    )
    try:
        yield
    finally:
        _correlation_id.reset(tokens[2])
        _company.reset(tokens[1])
        _user.reset(tokens[0])


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
