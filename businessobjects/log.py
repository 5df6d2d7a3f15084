"""Logging that says which request, company and user a line belongs to.

``ContextFilter`` (on the console handler, see ``LOGGING`` in merp/settings.py)
stamps every record with ``correlation_id``, ``company_id`` and ``user_id`` from
``businessobjects.context``, so lines written by the framework, by Django and by
libraries during a request, task or command all carry them. ``LOG_FORMAT=json``
writes one JSON object per line (python-json-logger) for log collectors.
"""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from . import context

CONTEXT_FIELDS = ("correlation_id", "company_id", "user_id")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs 4xx/5xx after the middleware has left the request:
        # fall back to what the middleware stored on the request itself.
        request = getattr(record, "request", None)
        company = context.get_company() or getattr(request, "company", None)
        user = context.get_user()
        values = {
            "correlation_id": context.peek_correlation_id()
            or getattr(request, "correlation_id", None),
            "company_id": getattr(company, "pk", company),
            "user_id": getattr(user, "pk", None),
        }
        for name, value in values.items():
            # An explicit extra={...} wins over the context.
            if not hasattr(record, name):
                setattr(record, name, value)
        # For the text format: " [<correlation id> company=1 user=2]" or nothing.
        parts = [str(record.correlation_id)] if record.correlation_id else []
        parts += [
            f"{name.removesuffix('_id')}={getattr(record, name)}"
            for name in ("company_id", "user_id")
            if getattr(record, name) is not None
        ]
        record.merp_context = f" [{' '.join(parts)}]" if parts else ""
        return True


def json_formatter(**kwargs) -> JsonFormatter:
    """Return the JSON formatter (``()`` factory for ``LOGGING``)."""
    kwargs.setdefault("fmt", ["levelname", "name", "message", *CONTEXT_FIELDS])
    kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
    kwargs.setdefault("timestamp", True)  # ISO 8601, UTC
    # Django attaches the request object and the socket to some records: not data.
    kwargs.setdefault(
        "reserved_attrs",
        [*RESERVED_ATTRS, "request", "server_time", "merp_context"],
    )
    return JsonFormatter(**kwargs)
