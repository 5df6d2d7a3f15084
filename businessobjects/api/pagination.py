from django.core.exceptions import ValidationError
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination

from businessobjects import params
from businessobjects.conf import merp_settings

INVALID_CURSOR = "Invalid cursor: follow the `next` or `previous` links."


def strict_page_size(pagination, request) -> int:
    """``?page_size=`` of a DRF pagination class (``page_size_param``)."""
    return page_size_param(
        request.query_params,
        pagination.page_size_query_param,
        pagination.page_size,
        pagination.max_page_size,
    )


def page_size_param(query_params, name: str, default: int, cap: int) -> int:
    """``?<name>=``: a positive integer, cut to ``cap``; absent: ``default``;
    anything else (an empty value too) is a 400 naming it (DRF would silently fall
    back to the default page size)."""
    raw = query_params.get(name)
    if raw is None:
        return default
    significant = raw.lstrip("0")
    if len(significant) > 9 and significant.isascii() and significant.isdigit():
        return cap  # a huge number asks for the most
    try:
        size = params.parse_integer(significant or raw, minimum=1)
    except ValidationError:
        raise exceptions.ValidationError(
            {
                name: [
                    f"Must be a positive integer, not {ascii(raw[:40])} (values "
                    f"above {cap} are cut to {cap})."
                ]
            }
        ) from None
    return min(size, cap)


def refuse_page_with_cursor(request) -> None:
    """A cursor page ignores ``?page=``; refuse the pair rather than ignore one."""
    if "page" in request.query_params:
        raise exceptions.ValidationError(
            {"page": ["Cannot be combined with cursor; follow the next link instead."]}
        )


class CappedPageNumberPagination(PageNumberPagination):
    """``?page=`` and ``?page_size=``; a page size above the cap is cut to the cap."""

    page_size_query_param = "page_size"

    def __init__(self):
        # Read per request, so settings overrides apply.
        self.page_size = merp_settings.PAGE_SIZE
        self.max_page_size = merp_settings.MAX_PAGE_SIZE

    # Subclasses that also answer cursor pages (no ``count``) set this.
    supports_cursor = False

    def get_page_size(self, request):
        return strict_page_size(self, request)

    def get_page_number(self, request, paginator):
        # DRF reads an empty ?page= as page 1; the schema says integer, so refuse it.
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not raw.strip():
            raise exceptions.ValidationError(
                {self.page_query_param: ["Must be a positive integer, not empty."]}
            )
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        if self.supports_cursor:
            response["required"] = ["results"]
            response["properties"]["count"]["description"] = (
                "Total number of rows; absent on cursor pages (?cursor=)."
            )
        return response


class CappedCursorPagination(CursorPagination):
    page_size_query_param = "page_size"
    ordering = "-id"

    def __init__(self):
        self.page_size = merp_settings.PAGE_SIZE
        self.max_page_size = merp_settings.MAX_PAGE_SIZE

    def get_page_size(self, request):
        return strict_page_size(self, request)

    def decode_cursor(self, request):
        """DRF's decoding, plus a check that the position is an id (the lists
        order by id): a forged ``p=' OR 1=1`` reached the database as a 500.
        A cursor that does not decode is a 400 naming it (DRF: 404)."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = Cursor(offset=0, reverse=False, position="-")
        if cursor is not None and not (
            cursor.position is None or self.valid_position(cursor.position)
        ):
            raise exceptions.ValidationError(
                {self.cursor_query_param: [INVALID_CURSOR]}
            )
        return cursor

    def valid_position(self, position: str) -> bool:
        """Whether ``position`` can be compared with the first ordering field."""
        return params.is_id(position)


class BusinessObjectPagination(CappedPageNumberPagination):
    """Page numbers by default; ``?cursor=`` switches to cursor pagination.

    Page numbers cost a ``COUNT(*)`` and an ``OFFSET`` per page; on large lists a
    client sends ``?cursor=`` (empty for the first page) and follows ``next``,
    which costs neither. Cursor pages answer ``{next, previous, results}`` and
    order by ``id`` (``?ordering=id`` or the default ``-id``).
    """

    cursor_query_param = "cursor"
    supports_cursor = True

    def paginate_queryset(self, queryset, request, view=None):
        self._cursor = None
        if self.cursor_query_param not in request.query_params:
            return super().paginate_queryset(queryset, request, view)
        refuse_page_with_cursor(request)
        ordering = request.query_params.get("ordering", "-id") or "-id"
        if ordering not in ("id", "-id"):
            raise exceptions.ValidationError(
                {"ordering": ["Cursor pagination orders by 'id' or '-id' only."]}
            )
        self._cursor = CappedCursorPagination()
        self._cursor.ordering = ordering
        # Ordering is fixed above; don't let the view's filter override it.
        return self._cursor.paginate_queryset(queryset.order_by(ordering), request)

    def get_paginated_response(self, data):
        if self._cursor is not None:
            return self._cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Use cursor pagination (no count; send empty for the first "
                    "page, then follow `next`). Orders by id."
                ),
                "schema": {"type": "string"},
            }
        )
        return parameters
