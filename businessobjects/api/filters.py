from django_filters.rest_framework import DjangoFilterBackend
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
        filterset_class = DjangoFilterBackend().get_filterset_class(view, queryset)
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
