"""List filtering and ordering by custom fields: ``?ext__<name>[__<lookup>]=``."""

from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter

EXT_PREFIX = "ext__"


class ExtensionFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        for key in request.query_params:
            if key.startswith(EXT_PREFIX):
                name = key[len(EXT_PREFIX) :].split("__")[0]
                raise exceptions.ValidationError(
                    {key: [f"Unknown custom field '{name}'."]}
                )
        return queryset


class ExtensionOrderingFilter(OrderingFilter):
    """``?ordering=`` over the view's fields and ``ext__<name>``; unknown: 400."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        terms = [term.strip() for term in params.split(",") if term.strip()]
        valid = {
            name
            for name, _ in self.get_valid_fields(queryset, view, {"request": request})
        }
        ordering = []
        for term in terms:
            name = term.lstrip("-")
            if name.startswith(EXT_PREFIX) or name not in valid:
                raise exceptions.ValidationError(
                    {self.ordering_param: [f"Cannot order by '{name}'."]}
                )
            ordering.append(term)
        return ordering
