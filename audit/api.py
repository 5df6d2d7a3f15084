"""History over HTTP: one object's history and the company-wide audit log."""

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers
from rest_framework.decorators import action

from businessobjects.api.permissions import IsCompanyMember, is_company_admin
from businessobjects.params import (
    collect,
    integer_param,
    is_id,
    moment_param,
    text_param,
)
from businessobjects.registry import registrations

from . import selectors
from .pagination import AuditLogPagination, HistoryPagination

_ACTIONS = {"+": "created", "~": "updated", "-": "deleted"}


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {"old": {}, "new": {}},
            "required": ["old", "new"],
        },
        "description": (
            "{field: {old, new}} with values as the API shows them; custom fields "
            'as "extensions.<name>". Created: old values null; deleted: new null.'
        ),
    }
)
class ChangesField(serializers.JSONField):
    pass


_action_schema = extend_schema_field(
    {"type": "string", "enum": ["created", "updated", "deleted"]}
)


class HistoryEntrySerializer(serializers.Serializer):
    """One change of one object: who, when, under which correlation id, what."""

    history_id = serializers.IntegerField()
    action = serializers.SerializerMethodField()
    changed_at = serializers.DateTimeField(source="history_date")
    user = serializers.SerializerMethodField()
    correlation_id = serializers.CharField()
    version = serializers.IntegerField(help_text="The object's version after it.")
    reason = serializers.CharField(source="history_change_reason", allow_null=True)
    changes = ChangesField()

    @_action_schema
    def get_action(self, record) -> str:
        return _ACTIONS[record.history_type]

    def get_user(self, record) -> str | None:
        user = record.history_user
        return user.get_username() if user is not None else None


class HistoryMixin:
    """Add ``GET <objects>/{id}/history/``: newest first, paginated, after delete."""

    @extend_schema(responses=HistoryEntrySerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=HistoryPagination,
    )
    def history(self, request, pk=None):
        # Ids are bigints: anything else (or thousands of digits, which int()
        # refuses) cannot name a row.
        if not is_id(pk):
            raise Http404
        unknown = sorted(set(request.query_params) - _PAGING)
        if unknown:  # ?as_of= above all: ignored, it would answer all history
            raise exceptions.ValidationError(
                {key: [f"Unknown parameter '{key}'."] for key in unknown}
            )
        records = selectors.object_history(
            self.registration.model, company=request.company, pk=int(pk)
        )
        page = self.paginate_queryset(records)
        if not page and not records.exists():
            # No rows in this company: never existed here, or another company's.
            raise Http404
        serializer = HistoryEntrySerializer(page, many=True)
        return self.get_paginated_response(serializer.data)


class AuditLogEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField(
        help_text="Unique per object type, as in the object's history."
    )
    object_type = serializers.CharField(help_text="Business object name: partner.")
    object_id = serializers.IntegerField(source="id")
    action = serializers.SerializerMethodField()
    changed_at = serializers.DateTimeField(source="history_date")
    user = serializers.SerializerMethodField()
    correlation_id = serializers.CharField()
    version = serializers.IntegerField(help_text="The object's version after it.")
    reason = serializers.CharField(source="history_change_reason", allow_null=True)
    changes = ChangesField()

    @_action_schema
    def get_action(self, row) -> str:
        return _ACTIONS[row["history_type"]]

    def get_user(self, row) -> str | None:
        return self.context["usernames"].get(row["history_user_id"])


class IsCompanyAdmin(IsCompanyMember):
    message = "Only company admins may read the audit log."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and is_company_admin(request)


_FILTERS = {
    "object_type": "Business object names, comma-separated (partner,contact).",
    "object_id": "The object's id (combine with object_type: ids repeat).",
    "user": "Username of who made the change.",
    "user_id": "Id of who made the change.",
    "correlation_id": "Everything one request or job did.",
    "action": "created, updated or deleted; comma-separated.",
    "changed_after": "ISO 8601 date or datetime, inclusive (UTC if no offset).",
    "changed_before": "ISO 8601 date or datetime, exclusive (UTC if no offset).",
}
_PAGING = {"page", "page_size", "cursor", "format"}


@extend_schema(
    parameters=[
        OpenApiParameter(
            name,
            OpenApiTypes.INT
            if name.endswith("_id") and name != "correlation_id"
            else OpenApiTypes.STR,
            description=description,
        )
        for name, description in _FILTERS.items()
    ]
)
class AuditLogView(generics.ListAPIView):
    """The active company's audit log across all business objects, newest first.

    Company admins only. Each entry is a history entry plus ``object_type``,
    ``object_id`` and the change ``reason``.
    """

    serializer_class = AuditLogEntrySerializer
    permission_classes = [IsCompanyAdmin]
    pagination_class = AuditLogPagination
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        unknown = sorted(set(params) - set(_FILTERS) - _PAGING)
        if unknown:
            raise exceptions.ValidationError(
                {key: [f"Unknown filter parameter '{key}'."] for key in unknown}
            )
        errors: dict[str, list[str]] = {}
        filters = {
            "object_types": _choices(params, "object_type", _object_types(), errors),
            "actions": _choices(params, "action", set(selectors.ACTIONS), errors),
            "object_id": collect(errors, integer_param, params, "object_id"),
            "user_id": collect(errors, integer_param, params, "user_id"),
            "correlation_id": collect(errors, text_param, params, "correlation_id"),
            "changed_after": collect(errors, moment_param, params, "changed_after"),
            "changed_before": collect(errors, moment_param, params, "changed_before"),
        }
        username = collect(errors, text_param, params, "user")
        if errors:
            raise exceptions.ValidationError(errors)
        if username:
            User = get_user_model()
            user_ids = list(
                User.objects.filter(**{User.USERNAME_FIELD: username}).values_list(
                    "pk", flat=True
                )
            )
            if not user_ids or filters["user_id"] not in (None, user_ids[0]):
                return selectors.CompanyLog()
            filters["user_id"] = user_ids[0]
        return selectors.company_log(company=self.request.company, **filters)

    def get_serializer(self, *args, **kwargs):
        rows = args[0] if args else []
        kwargs.setdefault("context", self.get_serializer_context())
        kwargs["context"]["usernames"] = _usernames(rows)
        return super().get_serializer(*args, **kwargs)


def _object_types() -> set[str]:
    return {registration.name for registration in registrations()}


def _choices(params, name: str, allowed: set[str], errors) -> list[str] | None:
    raw = params.get(name)
    if not raw:
        return None
    values = [value.strip() for value in raw.split(",") if value.strip()]
    bad = [value for value in values if value not in allowed]
    if bad:
        errors[name] = [
            f"Unknown value '{value}'. Choose from: {', '.join(sorted(allowed))}."
            for value in bad
        ]
    return values


def _usernames(rows) -> dict:
    ids = {row["history_user_id"] for row in rows or () if row["history_user_id"]}
    if not ids:
        return {}
    User = get_user_model()
    return dict(User.objects.filter(pk__in=ids).values_list("pk", User.USERNAME_FIELD))
