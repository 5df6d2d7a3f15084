"""``/api/webhooks/``: a company's endpoints, their deliveries, replay and secret
rotation. Company admins only (members 403, other companies' endpoints 404)."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from businessobjects.api.pagination import CappedPageNumberPagination
from businessobjects.api.permissions import IsCompanyMember, is_company_admin

from . import services
from .models import Delivery, Endpoint


class IsCompanyAdmin(IsCompanyMember):
    message = "Only company admins may manage webhooks."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and is_company_admin(request)


class StringListField(serializers.ListField):
    child = serializers.CharField()


class EndpointSerializer(serializers.ModelSerializer):
    # Validated by the services (names the field; the URL check resolves DNS).
    url = serializers.CharField(max_length=2000)
    event_types = serializers.JSONField(
        help_text='Event types to send: "<model>.<action>", "<model>.*" or "*".'
    )
    changed_fields = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Updated events are sent only when one of these fields changed "
        '(custom fields as "extensions.<name>"); null: every update.',
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "company",
            "url",
            "event_types",
            "changed_fields",
            "is_active",
            "description",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "company",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="whsec_<base64>: shown only in this answer; keep it safe.",
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    attempt = serializers.IntegerField(source="attempts", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "aggregate_type",
            "aggregate_id",
            "occurred_at",
            "state",
            "attempt",
            "status_code",
            "duration_ms",
            "response_excerpt",
            "error",
            "last_attempt_at",
            "next_attempt_at",
            "created_at",
        ]
        read_only_fields = fields


class ReplaySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    event_id = serializers.UUIDField(required=False)

    def validate(self, attrs):
        if "event_id" in attrs and ("since" in attrs or "until" in attrs):
            raise serializers.ValidationError(
                {"event_id": ["Send either event_id, or since (and until)."]}
            )
        if "event_id" not in attrs and "since" not in attrs:
            raise serializers.ValidationError(
                {"since": ["Send since (and until), or event_id."]}
            )
        return attrs


REPLAY_RESULT = inline_serializer(
    "WebhookReplayResult",
    {
        "replayed": serializers.IntegerField(),
        "reset": serializers.IntegerField(),
        "created": serializers.IntegerField(),
    },
)
STATES = [choice for choice, _ in Delivery.State.choices]


class EndpointViewSet(viewsets.ModelViewSet):
    """Webhook endpoints of the active company (company admins only)."""

    serializer_class = EndpointSerializer
    permission_classes = [IsCompanyAdmin]
    pagination_class = CappedPageNumberPagination
    filter_backends: list = []
    queryset = Endpoint.objects.none()

    def get_queryset(self):
        company = getattr(self.request, "company", None)
        if company is None:  # schema generation
            return Endpoint.objects.none()
        return Endpoint.objects.filter(company=company).order_by("id")

    @extend_schema(responses={201: EndpointWithSecretSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            company=request.company, **serializer.validated_data
        )
        return Response(
            EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    def perform_update(self, serializer):
        serializer.instance = services.endpoint_update(
            serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.endpoint_delete(instance)

    @extend_schema(request=None, responses={200: EndpointWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Make a new secret (shown once); the old one also signs for 24 hours."""
        endpoint = services.rotate_secret(self.get_object())
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=STATES),
            OpenApiParameter("event_id", OpenApiTypes.UUID),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: DeliverySerializer(many=True)},
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=DeliverySerializer,
        pagination_class=CappedPageNumberPagination,
    )
    def deliveries(self, request, pk=None):
        """The endpoint's deliveries, newest first, with their latest attempt."""
        endpoint = self.get_object()
        params = request.query_params
        unknown = set(params) - {"state", "event_id", "page", "page_size", "format"}
        if unknown:
            raise exceptions.ValidationError(
                {key: [f"Unknown parameter '{key}'."] for key in sorted(unknown)}
            )
        queryset = Delivery.objects.filter(
            company_id=endpoint.company_id, endpoint=endpoint
        ).order_by("-id")
        if "state" in params:
            if params["state"] not in STATES:
                raise exceptions.ValidationError(
                    {"state": [f"Must be one of {', '.join(STATES)}."]}
                )
            queryset = queryset.filter(state=params["state"])
        if "event_id" in params:
            event_id = serializers.UUIDField().to_internal_value
            try:
                queryset = queryset.filter(event_id=event_id(params["event_id"]))
            except serializers.ValidationError as exc:
                raise exceptions.ValidationError({"event_id": exc.detail}) from None
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=ReplaySerializer, responses={202: REPLAY_RESULT})
    @action(detail=True, methods=["post"], serializer_class=ReplaySerializer)
    def replay(self, request, pk=None):
        """Send events again: ``{"event_id"}``, or ``{"since", "until"}`` (until
        defaults to now). Finished deliveries are reset, missing ones created."""
        endpoint = self.get_object()
        serializer = ReplaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            result = services.replay(endpoint, **serializer.validated_data)
        return Response(
            {
                "replayed": result.total,
                "reset": result.reset,
                "created": result.created,
            },
            status=status.HTTP_202_ACCEPTED,
        )
