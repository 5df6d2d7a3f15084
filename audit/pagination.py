"""Pages of history: page numbers by default, ``?cursor=`` for long scans.

Like the business-object lists (``businessobjects.api.pagination``), a client
sends ``?cursor=`` (empty for the first page) and follows ``next``/``previous``;
cursor pages cost no ``COUNT(*)`` and no ``OFFSET``. History orders newest first
by ``history_date`` (ties: ``history_id``), not by the object ``id``.
"""

import base64
import binascii
import json
from collections import OrderedDict

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from businessobjects.api.pagination import (
    CappedCursorPagination,
    CappedPageNumberPagination,
    refuse_page_with_cursor,
)
from businessobjects.params import is_id, parse_moment, parse_text

CURSOR = "cursor"
_CURSOR_PARAMETER = {
    "name": CURSOR,
    "required": False,
    "in": "query",
    "description": (
        "Use cursor pagination (no count; send empty for the first page, then "
        "follow `next` / `previous`). Newest first."
    ),
    "schema": {"type": "string"},
}


class _HistoryCursorPagination(CappedCursorPagination):
    ordering = ("-history_date", "-history_id")

    def valid_position(self, position: str) -> bool:
        try:
            parse_moment(position)
        except DjangoValidationError:
            return False
        return True


class HistoryPagination(CappedPageNumberPagination):
    """One object's history: page numbers, or cursor pages newest first."""

    supports_cursor = True

    def paginate_queryset(self, queryset, request, view=None):
        self._cursor = None
        if CURSOR not in request.query_params:
            return super().paginate_queryset(queryset, request, view)
        refuse_page_with_cursor(request)
        self._cursor = _HistoryCursorPagination()
        return self._cursor.paginate_queryset(queryset, request)

    def get_paginated_response(self, data):
        if self._cursor is not None:
            return self._cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), _CURSOR_PARAMETER]


class AuditLogPagination(CappedPageNumberPagination):
    """The company log (``audit.selectors.CompanyLog``): page numbers, or keyset
    cursor pages that seek each history table from its company-first index."""

    supports_cursor = True

    def paginate_queryset(self, log, request, view=None):
        self._keyset = None
        if CURSOR not in request.query_params:
            return super().paginate_queryset(log, request, view)
        refuse_page_with_cursor(request)
        self.request = request
        position, backwards = _decode(request.query_params[CURSOR])
        size = self.get_page_size(request)
        rows = log.seek(position, size + 1, backwards=backwards)
        more = len(rows) > size
        rows = (rows[1:] if backwards else rows[:size]) if more else rows
        self._keyset = {
            "next": rows[-1] if rows and (more or backwards) else None,
            "previous": rows[0]
            if rows and position and (more or not backwards)
            else None,
        }
        return rows

    def get_paginated_response(self, data):
        if self._keyset is None:
            return super().get_paginated_response(data)
        return Response(
            OrderedDict(
                [
                    ("next", self._link(self._keyset["next"], backwards=False)),
                    ("previous", self._link(self._keyset["previous"], backwards=True)),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["results"]
        return response

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), _CURSOR_PARAMETER]

    def _link(self, row, *, backwards: bool) -> str | None:
        if row is None:
            return None
        token = _encode(row, backwards)
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, self.page_query_param)
        return replace_query_param(url, CURSOR, token)


def _encode(row: dict, backwards: bool) -> str:
    raw = json.dumps(
        [
            row["history_date"].isoformat(),
            row["history_id"],
            row["object_type"],
            int(backwards),
        ]
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[tuple | None, bool]:
    if not token:
        return None, False
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        date, history_id, object_type, backwards = json.loads(raw)
        moment = parse_moment(date)
        if not (is_id(history_id) and isinstance(history_id, int)):
            raise ValueError
        return (moment, history_id, parse_text(object_type)), bool(backwards)
    except (
        ValueError,
        TypeError,
        RecursionError,
        DjangoValidationError,
        binascii.Error,
        UnicodeDecodeError,
    ):
        raise exceptions.ValidationError(
            {CURSOR: ["Invalid cursor: follow the `next` or `previous` links."]}
        ) from None
