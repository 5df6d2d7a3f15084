from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend

# Parameters every list understands besides its filters.
_GENERAL = {"page", "page_size", "ordering", "search", "format", "cursor"}


class StrictQueryParamsBackend(BaseFilterBackend):
    """Refuse list parameters nothing would apply.

    A filter that silently does nothing returns every row (NetBox #22853); here an
    unknown parameter is a 400 naming it. ``ext__`` parameters are checked by the
    extensions filter backend.
    """

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        filterset_class = FieldFilterBackend().get_filterset_class(view, queryset)
        known = set(_GENERAL)
        if filterset_class is not None:
            known |= set(filterset_class.get_filters())
        unknown = [
            key
            for key in request.query_params
            if key not in known and not key.startswith("ext__")
        ]
        if unknown:
            raise exceptions.ValidationError(
                {key: [f"Unknown filter parameter '{key}'."] for key in unknown}
            )
        return queryset


def build_filterset(model, fields) -> type[FilterSet] | None:
    """The FilterSet of a registration's ``filter_fields``, built once.

    It is the class DjangoFilterBackend would build from ``filterset_fields``,
    except that the stock backend builds it again on every request.
    """
    if not fields:
        return None
    meta = type("Meta", (getattr(FilterSet, "Meta", object),), {})
    meta.model, meta.fields = model, list(fields)
    return type(f"{model.__name__}FilterSet", (FilterSet,), {"Meta": meta})


class FieldFilterBackend(DjangoFilterBackend):
    """Plain field filters (``?is_active=true``) through django-filter.

    A request that names none of the filters is left alone: the stock backend
    would still build and validate a form, which filters nothing.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
