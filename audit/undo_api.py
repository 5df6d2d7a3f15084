"""``POST /api/audit/undo/``: undo one correlation id (company admins)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from businessobjects.api.serializers import StrictInputMixin
from businessobjects.params import boolean_param, parse_text

from . import undo
from .api import IsCompanyAdmin


class TextField(serializers.CharField):
    """Text only: DRF's CharField would read the number 42 as "42"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UndoRequestSerializer(StrictInputMixin, serializers.Serializer):
    correlation_id = TextField(
        max_length=100, help_text="The correlation id whose changes to undo."
    )

    def validate_correlation_id(self, value: str) -> str:
        try:
            return parse_text(value)
        except Exception as exc:
            raise serializers.ValidationError(exc.messages) from None


class UndoStepSerializer(serializers.Serializer):
    object_type = serializers.CharField()
    object_id = serializers.IntegerField()
    action = serializers.ChoiceField(["delete", "update", "restore"])
    changes = serializers.JSONField(
        help_text="{field: {old: now, new: after the undo}}; custom fields as "
        '"extensions.<name>".'
    )


class UndoResultSerializer(serializers.Serializer):
    correlation_id = serializers.CharField(help_text="The correlation id undone.")
    undo_correlation_id = serializers.CharField(
        allow_null=True, help_text="The undo's own correlation id (null: dry run)."
    )
    reason = serializers.CharField(help_text='"undo <correlation id>".')
    dry_run = serializers.BooleanField()
    steps = UndoStepSerializer(many=True)


class MayUndo(IsCompanyAdmin):
    message = "Only company admins may undo changes."


class UndoView(APIView):
    """Undo every change one correlation id made in the active company.

    Creates are deleted, updates get the old values of the fields they changed
    back (custom fields included), deletes are restored under their id with
    their custom fields; in one transaction, through the services (each step
    audited and evented), under a new correlation id and the reason
    ``undo <correlation id>``. When a later change touched the same field of the
    same object (or an object the undo would delete or restore), the answer is
    409 listing the conflicts and nothing changes. ``?dry_run=true`` answers the
    plan and writes nothing.
    """

    permission_classes = [MayUndo]

    @extend_schema(
        request=UndoRequestSerializer,
        parameters=[
            OpenApiParameter(
                "dry_run",
                OpenApiTypes.BOOL,
                description="Return the plan without writing.",
            )
        ],
        responses={
            200: UndoResultSerializer,
            404: OpenApiResponse(
                description="No change of the active company has that correlation id."
            ),
            409: OpenApiResponse(
                description="Later changes conflict: {detail, conflicts: [{"
                "object_type, object_id, field, correlation_id}]}; nothing changed."
            ),
        },
    )
    def post(self, request):
        unknown = sorted(set(request.query_params) - {"dry_run", "format"})
        if unknown:
            raise exceptions.ValidationError(
                {key: [f"Unknown parameter '{key}'."] for key in unknown}
            )
        dry_run = boolean_param(request.query_params, "dry_run", default=False)
        body = UndoRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        correlation_id = body.validated_data["correlation_id"]
        try:
            plan = undo.undo(
                company=request.company,
                correlation_id=correlation_id,
                user=request.user,
                dry_run=dry_run,
            )
        except undo.NothingToUndo:
            raise exceptions.NotFound(
                "No change of this company has that correlation id."
            ) from None
        except undo.UndoConflict as exc:
            return Response(
                {
                    "detail": str(exc),
                    "conflicts": [c.as_dict() for c in exc.conflicts],
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(
            {
                **plan.as_dict(),
                "undo_correlation_id": plan.undo_correlation_id,
                "dry_run": dry_run,
            }
        )
