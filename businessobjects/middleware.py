import logging
import re
import time
import uuid

from . import context

CORRELATION_HEADER = "X-Correlation-ID"
# One line per request, written while the request's company and user are known.
access_log = logging.getLogger("merp.request")
# Accept caller ids that are safe to store and echo; anything else gets a fresh one.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


class RequestContextMiddleware:
    """Set the correlation id (and the session user) for the request and echo the id.

    The active company is resolved later, by the API permission or the admin, once
    DRF has authenticated the user; this middleware clears it afterwards.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(CORRELATION_HEADER, "")
        correlation_id = incoming if _SAFE_ID.match(incoming) else str(uuid.uuid4())
        request.correlation_id = correlation_id
        context.set_correlation_id(correlation_id)
        context.set_user(getattr(request, "user", None))
        context.set_company(None)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            if not request.path.startswith("/health/"):  # probes would flood it
                self._log(request, response, time.monotonic() - started)
        finally:
            context.set_user(None)
            context.set_company(None)
            context.set_correlation_id(None)
        response[CORRELATION_HEADER] = correlation_id
        return response

    def _log(self, request, response, seconds: float) -> None:
        # Token users are authenticated inside DRF, which sets request.user too.
        user = getattr(request, "user", None)
        user_id = context.get_user() and context.get_user().pk
        if user_id is None and getattr(user, "is_authenticated", False):
            user_id = user.pk
        access_log.info(
            "%s %s %s",
            request.method,
            request.get_full_path(),
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "user_id": user_id,
            },
        )
