"""``/api/custom-fields/``: company members read, company admins write."""

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.response import Response

from businessobjects import params as query_params
from businessobjects.api.permissions import IsCompanyAdminOrReadOnly
from businessobjects.api.serializers import StrictInputMixin

from . import services, types
from .models import FieldDefinition


@extend_schema_field(
    {
        "description": "Typed like the field: a number, a string (decimals, dates, "
        "datetimes), a boolean or any JSON value; null when unset.",
        "nullable": True,
    }
)
class TypedValueField(serializers.JSONField):
    pass


class FieldDefinitionSerializer(StrictInputMixin, serializers.ModelSerializer):
    model = serializers.CharField(
        source="model_name",
        help_text="The business object, by name: partner, address, contact, ...",
    )
    # A plain string so that an unknown type gets the documented message from
    # the model's validator rather than DRF's generic choice error.
    field_type = serializers.CharField(
        help_text=f"One of: {', '.join(types.FIELD_TYPES)}."
    )
    default = TypedValueField(required=False, allow_null=True)
    min_value = TypedValueField(required=False, allow_null=True)
    max_value = TypedValueField(required=False, allow_null=True)
    choices = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="The allowed values of a choice field.",
    )

    class Meta:
        model = FieldDefinition
        fields = (
            "id",
            "model",
            "name",
            "label",
            "field_type",
            "required",
            "default",
            "choices",
            "min_value",
            "max_value",
            "max_length",
            "decimal_places",
            "regex",
            "help_text",
            "is_active",
            "order",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "created_at", "updated_at")
        # The service validates (uniqueness per company and object included).
        validators = []


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("model", str, description="Only this business object."),
            OpenApiParameter("is_active", bool),
        ]
    ),
    destroy=extend_schema(
        parameters=[
            OpenApiParameter(
                "purge",
                bool,
                description="Also delete the values the field holds (irreversible). "
                "Without it, a field that holds values is deactivated instead.",
            )
        ],
        responses={
            204: None,
            200: inline_serializer(
                "CustomFieldDeactivated",
                {
                    "detail": serializers.CharField(),
                    "deactivated": serializers.BooleanField(),
                    "values": serializers.IntegerField(),
                },
            ),
        },
    ),
)
class FieldDefinitionViewSet(viewsets.ModelViewSet):
    """Custom field definitions of the active company."""

    serializer_class = FieldDefinitionSerializer
    permission_classes = [IsCompanyAdminOrReadOnly]
    queryset = FieldDefinition.objects.none()
    filter_backends: list = []

    def get_queryset(self):
        company = getattr(self.request, "company", None)
        if company is None:  # schema generation
            return FieldDefinition.objects.none()
        queryset = FieldDefinition.objects.filter(company=company).select_related(
            "content_type"
        )
        if self.action == "list":
            queryset = self._filter(queryset)
        return queryset.order_by("content_type__model", "order", "name", "id")

    def _filter(self, queryset):
        params = self.request.query_params
        unknown = set(params) - {"model", "is_active", "page", "page_size", "format"}
        if unknown:
            raise exceptions.ValidationError(
                {key: [f"Unknown filter parameter '{key}'."] for key in unknown}
            )
        if "model" in params:
            # An unknown name raises a ValidationError naming `model` (400).
            content_type = services.content_type_for(params["model"])
            queryset = queryset.filter(content_type=content_type)
        if "is_active" in params:
            is_active = _required_boolean(params, "is_active")
            queryset = queryset.filter(is_active=is_active)
        return queryset

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        model = data.pop("model_name")
        serializer.instance = services.definition_create(
            company=self.request.company, model=model, **data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "model_name" in data:
            data["model"] = data.pop("model_name")
        serializer.instance = services.definition_update(
            serializer.instance, user=self.request.user, **data
        )

    def destroy(self, request, *args, **kwargs):
        definition = self.get_object()
        purge = "purge" in request.query_params and _required_boolean(
            request.query_params, "purge"
        )
        result = services.definition_delete(definition, purge=purge, user=request.user)
        if result.deleted:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "detail": (
                    f"Custom field '{definition.name}' holds {result.values} values; "
                    "it was deactivated, not deleted. Send ?purge=true to delete it "
                    "together with its values."
                ),
                "deactivated": True,
                "values": result.values,
            },
            status=status.HTTP_200_OK,
        )


def _required_boolean(params, name: str) -> bool:
    # Given but empty is a 400 like any other bad value, never "no filter".
    value = query_params.boolean_param(params, name)
    if value is None:
        raise exceptions.ValidationError({name: ["Must be true or false."]})
    return value
