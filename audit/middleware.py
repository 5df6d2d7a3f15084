from urllib.parse import unquote

from django.core.exceptions import ValidationError
from django.http import JsonResponse

from businessobjects import context
from businessobjects.params import parse_text

CHANGE_REASON_HEADER = "X-Change-Reason"


class ChangeReasonMiddleware:
    """Take the change reason of a request's writes from ``X-Change-Reason``.

    Header values are Latin-1 on the wire, so a client that needs other characters
    sends percent-encoded UTF-8 (``Price%20f%C3%BCr%202025``), which is decoded here.
    An over-long reason is a 400 naming the header, before anything is written.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request.headers.get(CHANGE_REASON_HEADER)
        try:
            reason = None if raw is None else parse_text(unquote(raw), max_length=None)
            token = context.set_change_reason(reason)
        except ValidationError as exc:
            messages = (
                exc.message_dict["reason"]
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            return JsonResponse({CHANGE_REASON_HEADER: messages}, status=400)
        try:
            return self.get_response(request)
        finally:
            context.reset_change_reason(token)
