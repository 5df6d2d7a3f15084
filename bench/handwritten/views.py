"""The API a team writes in an afternoon: a DRF ModelViewSet, plus the limit view."""

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.http import JsonResponse
from rest_framework import exceptions, permissions, serializers, viewsets
from rest_framework.authtoken.models import Token

from .models import CUSTOM_FIELDS, Membership, NativePartner, Outbox, Partner
from .models import custom_field as custom_field_expression

LOOKUPS = {"gte", "lte", "gt", "lt", "exact"}


class PartnerSerializer(serializers.ModelSerializer):
    extensions = serializers.JSONField(source="custom_fields", required=False)

    class Meta:
        model = Partner
        fields = [
            "id",
            "company",
            "name",
            "email",
            "phone",
            "is_active",
            "extensions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["company", "created_at", "updated_at"]

    def validate_extensions(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object.")
        unknown = sorted(set(value) - set(CUSTOM_FIELDS))
        if unknown:
            raise serializers.ValidationError(f"Unknown custom fields: {unknown}.")
        cleaned = {}
        for key, raw in value.items():
            field = CUSTOM_FIELDS[key]
            drf_field = serializers.DecimalField(
                max_digits=field.max_digits, decimal_places=field.decimal_places
            )
            try:
                cleaned[key] = drf_field.to_representation(
                    drf_field.to_internal_value(raw)
                )
            except serializers.ValidationError as error:
                raise serializers.ValidationError({key: error.detail}) from error
        if self.instance is not None:  # PATCH merges into the stored values
            return {**self.instance.custom_fields, **cleaned}
        return cleaned


class IsCompanyMember(permissions.BasePermission):
    """The ``X-Company-ID`` company, if the token's user is a member of it."""

    def has_permission(self, request, view) -> bool:
        raw = request.headers.get("X-Company-ID", "")
        if not raw.isdigit():
            raise exceptions.ValidationError({"X-Company-ID": ["Required."]})
        company_id = int(raw)
        if not Membership.objects.filter(
            user=request.user, company_id=company_id
        ).exists():
            raise exceptions.PermissionDenied("Not a member of this company.")
        request.company_id = company_id
        return True


class PartnerViewSet(viewsets.ModelViewSet):
    serializer_class = PartnerSerializer
    permission_classes = [permissions.IsAuthenticated, IsCompanyMember]

    def get_queryset(self):
        queryset = Partner.objects.filter(company_id=self.request.company_id)
        # ?ext__<field>__<lookup>=<value>, on the indexed JSONB expression.
        for param, raw in self.request.query_params.items():
            if not param.startswith("ext__"):
                continue
            key, _, lookup = param[len("ext__") :].partition("__")
            lookup = lookup or "exact"
            if key not in CUSTOM_FIELDS or lookup not in LOOKUPS:
                raise exceptions.ValidationError({param: ["Unknown filter."]})
            try:
                value = Decimal(raw)
            except InvalidOperation as error:
                raise exceptions.ValidationError({param: ["Not a number."]}) from error
            alias = f"cf_{key}"
            queryset = queryset.alias(**{alias: custom_field_expression(key)}).filter(
                **{f"{alias}__{lookup}": value}
            )
        return queryset.order_by("-id")

    def _outbox(self, topic: str, serializer) -> None:
        instance = serializer.instance
        Outbox.objects.create(
            company_id=instance.company_id,
            topic=topic,
            object_id=instance.pk,
            payload=serializer.data,
        )

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save(company_id=self.request.company_id)
            self._outbox("partner.created", serializer)

    def perform_update(self, serializer):
        with transaction.atomic():
            serializer.save()
            self._outbox("partner.updated", serializer)

    def perform_destroy(self, instance):
        with transaction.atomic():
            Outbox.objects.create(
                company_id=instance.company_id,
                topic="partner.deleted",
                object_id=instance.pk,
                payload={"id": instance.pk},
            )
            instance.delete()


def native_partners(request):
    """The limit: a page of a native, indexed column from a plain Django view.

    Token checked with one query, company from the header, no membership check,
    no count, no custom fields, ``.values()`` to JSON.
    """
    _, _, key = request.headers.get("Authorization", "").partition(" ")
    if not Token.objects.filter(key=key, user__is_active=True).exists():
        return JsonResponse({"detail": "Not authenticated."}, status=401)
    rows = NativePartner.objects.filter(company_id=int(request.headers["X-Company-ID"]))
    threshold = request.GET.get("ext__credit_limit__gte")
    if threshold is not None:
        rows = rows.filter(credit_limit__gte=Decimal(threshold))
    page = list(
        rows.order_by("-id").values(
            "id",
            "company_id",
            "name",
            "email",
            "phone",
            "is_active",
            "credit_limit",
            "created_at",
            "updated_at",
        )[:50]
    )
    return JsonResponse({"results": page})
