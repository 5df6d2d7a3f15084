from functools import partial

import django_filters
import django_filters.rest_framework
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters
from rest_framework.filters import BaseFilterBackend

from businessobjects import params
from businessobjects.models import BusinessObject

# Parameters every list understands besides its filters.
_GENERAL = {
    "page",
    "page_size",
    "ordering",
    "search",
    "format",
    "cursor",
    "as_of",
}


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
        # django-filter skips an empty value: ?partner= (an unset variable in a
        # script) would answer every row instead of the ones asked for.
        empty = [
            key
            for key, values in request.query_params.lists()
            if key not in _GENERAL
            and not key.startswith("ext__")
            and any(value == "" for value in values)
        ]
        if empty:
            raise exceptions.ValidationError(
                {key: ["Give a value, or leave the parameter out."] for key in empty}
            )
        return queryset


class StrictBooleanField(forms.NullBooleanField):
    """A boolean as ``businessobjects.params`` reads it (``true``/``false``,
    ``1``/``0``, ``yes``/``no``, ``on``/``off``); anything else is an error, not
    ignored."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        return params.parse_boolean(str(value))

    def validate(self, value):
        return None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs["widget"] = forms.TextInput
        super().__init__(*args, **kwargs)


class CompanyFilterSet(django_filters.rest_framework.FilterSet):
    """Filters whose choices are the active company's objects and whose booleans are
    strict.

    A reference filter over every company's rows answers "valid choice, no rows" for
    another company's id and "invalid choice" for a missing one: an existence
    oracle. Scoped, both are the same 400.
    """

    FILTER_DEFAULTS = {
        **django_filters.rest_framework.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }

    @classmethod
    def filter_for_field(cls, field, field_name, lookup_expr=None):
        filter_ = super().filter_for_field(field, field_name, lookup_expr)
        related = field.related_model if field.is_relation else None
        if related is not None and issubclass(related, BusinessObject):
            filter_.queryset = partial(_company_rows, related)
        return filter_


def _company_rows(model, request):
    company = getattr(request, "company", None) if request is not None else None
    if company is None:  # schema generation
        return model.objects.none()
    return model.objects.for_company(company)


class CompanyFilterBackend(DjangoFilterBackend):
    filterset_base = CompanyFilterSet


class SearchFilter(filters.SearchFilter):
    """DRF's search, with its errors (e.g. a NUL byte) under the ``search`` key."""

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except exceptions.ValidationError as exc:
            raise exceptions.ValidationError({self.search_param: exc.detail}) from None


def build_filterset(model, fields) -> type[CompanyFilterSet] | None:
    """The FilterSet of a registration's ``filter_fields``, built once.

    It is the class DjangoFilterBackend would build from ``filterset_fields``,
    except that the stock backend builds it again on every request.
    """
    if not fields:
        return None
    meta = type("Meta", (getattr(CompanyFilterSet, "Meta", object),), {})
    meta.model, meta.fields = model, list(fields)
    return type(f"{model.__name__}FilterSet", (CompanyFilterSet,), {"Meta": meta})


class FieldFilterBackend(CompanyFilterBackend):
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
