from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

_ACTIONS = {"+": "created", "~": "updated", "-": "deleted"}


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    action = serializers.SerializerMethodField()
    changed_at = serializers.DateTimeField(source="history_date")
    user = serializers.SerializerMethodField()
    correlation_id = serializers.CharField()
    changes = serializers.JSONField()

    def get_action(self, record) -> str:
        return _ACTIONS[record.history_type]

    def get_user(self, record) -> str | None:
        user = record.history_user
        return user.get_username() if user is not None else None


class HistoryMixin:
    """Add ``GET <objects>/{id}/history/``: newest first, paginated, after delete."""

    @extend_schema(responses=HistoryEntrySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, pk=None):
        model = self.registration.model
        # Ids are bigints: anything else (or thousands of digits, which int()
        # refuses) cannot name a row.
        if not (str(pk).isascii() and str(pk).isdigit() and len(str(pk)) <= 19):
            raise Http404
        records = (
            model.history.filter(company_id=request.company.pk, id=pk)
            .select_related("history_user")
            .order_by("-history_date", "-history_id")
        )
        page = self.paginate_queryset(records)
        if not page:
            if not records.exists():
                raise Http404
        serializer = HistoryEntrySerializer(page, many=True)
        return self.get_paginated_response(serializer.data)
