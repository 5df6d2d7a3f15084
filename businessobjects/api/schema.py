"""OpenAPI generation: drf-spectacular's AutoSchema plus what the framework adds.

Every operation documents the errors it can answer (schemathesis checks that each
status is documented), and company-scoped operations document ``X-Company-ID``.
Business-object operations document conditional requests: ``ETag`` on object
responses, ``If-None-Match`` (304) on reads, ``If-Match`` (412) on writes.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from .permissions import COMPANY_HEADER, IsCompanyMember

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'DRF-style error: {"detail": "..."} or {"<field or parameter>": '
        '["message", ...]}.'
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}

ERRORS = {
    "400": "Invalid input; the body names each offending field or parameter.",
    "401": "Not authenticated.",
    "403": "Not allowed, or not a member of the company in X-Company-ID.",
    "404": "No such object in the active company (other companies' objects "
    "included), or no such page.",
    "409": "Version conflict (the version sent is not the stored one), or the "
    "object is still referenced.",
    "413": "Request body too large.",
    "412": "If-Match names no current version: nothing changed. The body's "
    "current_version (and the ETag header) give the stored version.",
    "415": "Unsupported media type.",
    "429": "Too many requests (throttled, or a login locked out after failures); "
    "retry after the seconds in Retry-After.",
    "503": "The database is unavailable; retry later.",
}


ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The object\'s version as a strong entity tag: "3".',
    response=["200", "201", "304", "412"],
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        'ETags you hold ("3", W/"3" or *): when one is the current version the '
        "answer is 304 Not Modified, without a body."
    ),
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        'The ETag you read ("3"; * for any version): when it is not the current '
        "version the answer is 412 and nothing changes. Weak tags never match."
    ),
)

DELETE_VERSION = OpenApiParameter(
    "version",
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    required=False,
    description=(
        'The version you read (or {"version": 3} as the body): a stale one is '
        "409 and nothing is deleted."
    ),
)


AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATETIME,
    OpenApiParameter.QUERY,
    required=False,
    description=(
        "Read as of this past instant, from the audit history (ISO 8601 date or "
        "datetime, UTC if no offset): custom fields as they were then, the same "
        "filters and pagination; 404 for an object that did not exist then. "
        "GET only (a write with as_of is a 400)."
    ),
)


class MerpAutoSchema(AutoSchema):
    def _conditional(self) -> bool:
        """A business-object operation on one object, or a create."""
        return getattr(self.view, "conditional_requests", False) and (
            self.method == "POST" or "{" in self.path
        )

    def _company_scoped(self) -> bool:
        return any(isinstance(p, IsCompanyMember) for p in self.view.get_permissions())

    def get_auth(self):
        auths = super().get_auth()
        # Views that check no permission at all (the token view) need no auth.
        if not self.view.get_permissions() and {} not in auths:
            auths.append({})
        return auths

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self._company_scoped():
            parameters.append(
                OpenApiParameter(
                    COMPANY_HEADER,
                    OpenApiTypes.INT,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "The company to act for (default: the user's default "
                        "company). A company you are not a member of: 403."
                    ),
                )
            )
        if self._conditional() and not self._is_custom_action():
            parameters.append(ETAG)
            if self.method == "GET":
                parameters.append(IF_NONE_MATCH)
            elif self.method in ("PUT", "PATCH", "DELETE"):
                parameters.append(IF_MATCH)
            if self.method == "DELETE":
                parameters.append(DELETE_VERSION)
        if getattr(self.view, "action", None) in ("list", "retrieve") and hasattr(
            self.view, "as_of_queryset"
        ):
            parameters.append(AS_OF)
        return parameters

    def _is_custom_action(self) -> bool:
        action = getattr(self.view, "action", None)
        return action not in (
            None,
            "create",
            "retrieve",
            "update",
            "partial_update",
            "destroy",
        )

    def _error_codes(self) -> list[str]:
        writes = self.method in ("POST", "PUT", "PATCH")
        codes = ["503"]
        if {} not in self.get_auth():
            codes += ["401", "403"]
        if writes or self._company_scoped() or self.get_filter_backends():
            codes.append("400")
        if writes:
            codes += ["413", "415"]
        if "{" in self.path or self._is_list_view() and self._get_paginator():
            codes.append("404")
        if self.method in ("PUT", "PATCH", "DELETE") and self._company_scoped():
            codes.append("409")
        if self._conditional() and not self._is_custom_action():
            if self.method in ("PUT", "PATCH", "DELETE"):
                codes.append("412")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in sorted(self._error_codes()):
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    "description": ERRORS[code],
                    **self._headers(code),
                },
            )
        if (
            self._conditional()
            and not self._is_custom_action()
            and self.method == "GET"
            and direction == "response"
        ):
            responses.setdefault(
                "304",
                {
                    "description": "Not modified: If-None-Match names the current "
                    "version. No body.",
                    **self._headers("304"),
                },
            )
        return responses

    def _headers(self, code: str) -> dict:
        headers = self._get_response_headers_for_code(code)
        return {"headers": headers} if headers else {}
