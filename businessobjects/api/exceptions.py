import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from businessobjects.exceptions import (
    ObjectInUse,
    ObjectNotFound,
    PreconditionFailed,
    VersionConflict,
)

from .parsers import RequestTooLarge

logger = logging.getLogger("businessobjects.api")


def exception_handler(exc, context):
    """DRF's handler, plus the framework's own errors mapped to 4xx (and a lost
    database connection to a JSON 503)."""
    if isinstance(exc, OperationalError | InterfaceError):
        # A lost connection (or a server going away): the open transaction is
        # rolled back by PostgreSQL, so the client may retry.
        logger.error(
            "Database unavailable during %s", context.get("request"), exc_info=exc
        )
        set_rollback()
        return Response(
            {"detail": "The database is unavailable. Retry later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DjangoValidationError):
        # An error may carry its API shape (custom fields: nested per field name).
        detail = getattr(exc, "api_detail", None) or (
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
        exc = exceptions.ValidationError(detail)
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    elif isinstance(exc, SuspiciousOperation):
        # Django would answer these with an HTML 400 page.
        exc = exceptions.ParseError(str(exc))
    if isinstance(exc, PreconditionFailed):
        return Response(
            {"detail": str(exc), "current_version": exc.actual},
            status=status.HTTP_412_PRECONDITION_FAILED,
            headers={"ETag": f'"{exc.actual}"'},
        )
    if isinstance(exc, VersionConflict):
        return Response(
            {"version": [str(exc)], "current_version": exc.actual},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ObjectNotFound):
        # Deleted by a concurrent request after this one looked it up.
        exc = exceptions.NotFound()
    if isinstance(exc, ObjectInUse):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = _encodable(response.data)
    return response


def _encodable(data):
    """``data`` with lone surrogates escaped (``\\ud800``): an error that echoes a
    client's key or value must still render as UTF-8."""
    if isinstance(data, dict):
        return {_encodable(key): _encodable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_encodable(item) for item in data]
    if isinstance(data, str) and any("\ud800" <= c <= "\udfff" for c in data):
        escaped = data.encode("utf-8", "backslashreplace").decode("utf-8")
        code = getattr(data, "code", None)
        return exceptions.ErrorDetail(escaped, code) if code else escaped
    return data


def bad_request(request, exception):
    """``handler400``: JSON under /api/. Django answers what it refuses before any
    view runs (a forged Host header, a malformed cookie) with this handler."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request, exception):
    """``handler404``: JSON under /api/ (URLs no route matches), HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """``handler500``: JSON under /api/, so API clients always get JSON errors."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)
