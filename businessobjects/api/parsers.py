import io

from django.conf import settings
from rest_framework import exceptions, parsers, status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int):
        super().__init__(
            f"Request body too large: the limit is {limit} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE)."
        )


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the body size limit and nesting depth as 4xx.

    DRF streams the body into ``json.load`` without Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check, and a deeply nested document raises
    RecursionError (a 500) instead of a parse error.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(limit)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - the document is nested too deeply."
            ) from None
