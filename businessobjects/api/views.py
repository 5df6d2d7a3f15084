from rest_framework import exceptions, mixins, viewsets
from rest_framework.permissions import IsAuthenticated

from audit.api import HistoryMixin
from businessobjects import selectors, services
from businessobjects.models import Company, Membership
from extensions import services as ext
from extensions.filters import (
    ExtensionFilterBackend,
    ExtensionOrderingFilter,
    index_walk,
)

from .filters import (
    FieldFilterBackend,
    SearchFilter,
    StrictQueryParamsBackend,
    build_filterset,
)
from .permissions import IsCompanyMember
from .serializers import CompanySerializer


class BusinessObjectViewSet(HistoryMixin, viewsets.ModelViewSet):
    """CRUD over one registered business object; writes go through the services."""

    registration = None  # set by build_viewset
    permission_classes = [IsCompanyMember]
    filter_backends = [
        StrictQueryParamsBackend,
        FieldFilterBackend,
        ExtensionFilterBackend,
        SearchFilter,
        ExtensionOrderingFilter,
    ]
    ordering = ["-id"]

    def get_queryset(self):
        model = self.registration.model
        company = getattr(self.request, "company", None)
        if company is None:  # schema generation
            return model.objects.none()
        return selectors.list_objects(model, company=company)

    def dispatch(self, request, *args, **kwargs):
        # The request looks each company's custom-field definitions up once
        # (filters, validation, values), not once per step.
        with ext.pinned_definitions():
            return super().dispatch(request, *args, **kwargs)

    def paginate_queryset(self, queryset):
        # Cursor pages are always in id order (BusinessObjectPagination).
        cursor = "cursor" in self.request.query_params
        with index_walk(self.request, queryset, id_order=cursor or None):
            page = super().paginate_queryset(queryset)
        if page and isinstance(page[0], self.registration.model):
            ext.prefetch(page)
        return page

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        extensions = data.pop("extensions", None)
        serializer.instance = services.create(
            self.registration.model,
            data=data,
            extensions=extensions,
            company=self.request.company,
            user=self.request.user,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        expected_version = data.pop("version", None)
        extensions = data.pop("extensions", None)
        serializer.instance = services.update(
            serializer.instance,
            data=data,
            extensions=extensions,
            expected_version=expected_version,
            user=self.request.user,
        )

    def perform_destroy(self, instance):
        services.delete(
            instance,
            expected_version=self._expected_version_param(),
            user=self.request.user,
        )

    def _expected_version_param(self) -> int | None:
        """``?version=`` of a DELETE; a malformed one is a 400, never ignored."""
        raw = self.request.query_params.get("version")
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit() and 0 < len(raw.lstrip("0")) <= 18):
            raise exceptions.ValidationError(
                {
                    "version": [
                        f"Must be the positive integer version you read, not "
                        f"{raw[:40]!r}."
                    ]
                }
            )
        return int(raw)


def build_viewset(registration):
    model = registration.model
    ordering_fields = registration.ordering_fields or [
        f.name for f in model._meta.concrete_fields
    ]
    return type(
        f"{model.__name__}ViewSet",
        (BusinessObjectViewSet,),
        {
            "registration": registration,
            "queryset": model.objects.none(),
            "serializer_class": registration.serializer_class,
            "filterset_fields": list(registration.filter_fields),
            "filterset_class": build_filterset(model, registration.filter_fields),
            "search_fields": list(registration.search_fields),
            "ordering_fields": list(ordering_fields),
        },
    )


class CompanyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The companies the user belongs to (superusers: all)."""

    serializer_class = CompanySerializer
    permission_classes = [IsAuthenticated]
    pagination_class = None
    # The default backends would advertise ?search= and ?ordering= and ignore them.
    filter_backends = []
    queryset = Company.objects.none()  # for schema generation

    def get_queryset(self):
        return selectors.companies_for_user(self.request.user).order_by("name")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request.user.is_authenticated:
            context["memberships"] = {
                m.company_id: m
                for m in Membership.objects.filter(user=self.request.user)
            }
        return context
