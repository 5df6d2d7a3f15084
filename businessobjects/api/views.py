import re
from collections.abc import Mapping

from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from audit.api import HistoryMixin
from audit.asof_api import AsOfMixin
from businessobjects import selectors, services
from businessobjects.models import Company, Membership
from extensions import values as ext
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
from .serializers import CompanySerializer, serializer_for, unknown_fields

# An entity-tag list (RFC 9110 8.8.3, 13.1.1): tags, commas, empty elements.
_TAG = r'(?:W/)?"[^"\x00-\x20\x7f]*"'
_TAG_LIST = re.compile(rf"\s*(?:{_TAG}\s*)?(?:,\s*(?:{_TAG}\s*)?)*")


def entity_tags(request, header: str) -> list[str] | None:
    """The entity tags of ``header`` (``["*"]`` for ``*``), None without one.

    A header that is not an entity-tag list is a 400 naming it, never ignored.
    """
    raw = request.headers.get(header)
    if raw is None:
        return None
    if raw.strip() == "*":
        return ["*"]
    tags = re.findall(_TAG, raw)
    if not tags or not _TAG_LIST.fullmatch(raw):
        raise exceptions.ValidationError(
            {
                header: [
                    f'Expected "*" or entity tags such as "3" (quotes included), '
                    f"not {raw[:40]!r}."
                ]
            }
        )
    return tags


def etag(version: int) -> str:
    return f'"{version}"'


class BusinessObjectViewSet(HistoryMixin, viewsets.ModelViewSet):
    """CRUD over one registered business object; writes go through the services."""

    registration = None  # set by build_viewset
    _if_match: set[int] | None = None
    permission_classes = [IsCompanyMember]
    filter_backends = [
        StrictQueryParamsBackend,
        FieldFilterBackend,
        ExtensionFilterBackend,
        SearchFilter,
        ExtensionOrderingFilter,
    ]
    ordering = ["-id"]
    # Object responses carry ETag; If-Match and If-None-Match apply (schema.py).
    conditional_requests = True

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
            self._extension_values = ext.prefetch(page)
        return page

    def get_serializer_context(self):
        context = super().get_serializer_context()
        # The custom-field values of a list page, read in one query.
        context["extensions"] = getattr(self, "_extension_values", {})
        return context

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        headers = {"ETag": etag(instance.version)}
        tags = entity_tags(request, "If-None-Match")
        # Weak comparison (RFC 9110 13.1.2): W/"3" matches version 3.
        if tags is not None and (
            tags == ["*"] or headers["ETag"] in {t.removeprefix("W/") for t in tags}
        ):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(self.get_serializer(instance).data, headers=headers)

    def create(self, request, *args, **kwargs):
        return self._with_etag(super().create(request, *args, **kwargs))

    def update(self, request, *args, **kwargs):
        self._if_match = self._if_match_versions()
        return self._with_etag(super().update(request, *args, **kwargs))

    def destroy(self, request, *args, **kwargs):
        self._if_match = self._if_match_versions()
        return super().destroy(request, *args, **kwargs)

    @staticmethod
    def _with_etag(response):
        if isinstance(response.data, Mapping) and "version" in response.data:
            response["ETag"] = etag(response.data["version"])
        return response

    def _if_match_versions(self) -> set[int] | None:
        """The versions ``If-Match`` accepts; None without a header or for ``*``.

        Strong comparison: a weak tag (W/"3") or one that is no version matches
        nothing, so the write is refused with 412.
        """
        tags = entity_tags(self.request, "If-Match")
        if tags is None or tags == ["*"]:
            return None
        return {
            int(tag[1:-1])
            for tag in tags
            if tag[1:-1].isascii() and tag[1:-1].isdigit() and len(tag) <= 20
        }

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
            if_match=self._if_match,
            user=self.request.user,
        )

    def perform_destroy(self, instance):
        services.delete(
            instance,
            expected_version=self._delete_version(),
            if_match=self._if_match,
            user=self.request.user,
        )

    def _delete_version(self) -> int | None:
        """The version a DELETE names, as ``?version=`` or ``{"version": 3}``.

        A malformed one, unknown body fields or two that disagree are a 400.
        """
        query = self.request.query_params.get("version")
        query = None if query is None else _version(query)
        data = self.request.data
        if not isinstance(data, Mapping):
            raise exceptions.ValidationError(
                {"non_field_errors": ['Expected an object such as {"version": 3}.']}
            )
        unknown = unknown_fields(data, self.get_serializer().fields)
        if unknown:
            raise exceptions.ValidationError(unknown)
        body = data.get("version")
        body = None if body is None else _version(body)
        if query is not None and body is not None and query != body:
            raise exceptions.ValidationError(
                {"version": [f"?version={query} and the body's {body} disagree."]}
            )
        return body if body is not None else query


def _version(raw) -> int:
    """A version the client sent; anything but a positive integer is a 400."""
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not (
        isinstance(text, str)
        and text.isascii()
        and text.isdigit()
        and 0 < len(text.lstrip("0")) <= 18
    ):
        raise exceptions.ValidationError(
            {
                "version": [
                    f"Must be the positive integer version you read, not "
                    f"{str(raw)[:40]!r}."
                ]
            }
        )
    return int(text)


_viewsets: dict[str, type] = {}


def viewset_for(registration) -> type:
    """Return the viewset class of ``registration`` (built once)."""
    if registration.name not in _viewsets:
        _viewsets[registration.name] = build_viewset(registration)
    return _viewsets[registration.name]


def build_viewset(registration):
    model = registration.model
    ordering_fields = registration.ordering_fields or [
        f.name for f in model._meta.concrete_fields
    ]
    return type(
        f"{model.__name__}ViewSet",
        # First: ?as_of= reads (audit.asof_api) answer before the live ones.
        (AsOfMixin, BusinessObjectViewSet),
        {
            "registration": registration,
            "queryset": model.objects.none(),
            "serializer_class": serializer_for(registration.name),
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
