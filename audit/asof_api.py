"""``?as_of=<ISO 8601>`` on business-object lists and details: the state then.

``AsOfMixin`` goes before the business-object viewset (``viewset_for`` builds it
so): without ``as_of`` it steps aside; with it, the list is ``audit.asof.state_at``
filtered by the same plain, search and ``ext__`` filters (custom fields as they
were then), ordered by id or plain fields and paginated like the live list. Writes
with ``as_of`` are a 400: the past is read-only.
"""

from __future__ import annotations

from django.http import Http404
from django_filters import utils as filter_utils
from rest_framework import exceptions, permissions
from rest_framework.response import Response

from businessobjects.api.filters import SearchFilter, StrictQueryParamsBackend
from businessobjects.params import is_id, moment_param
from extensions.filters import EXT_PREFIX, apply_filters

from . import asof

PARAM = "as_of"
_HISTORY_COLUMNS = {"pk": "id", "updated_at": "history_date"}
DESCRIPTION = (
    "Read the object (or list) as it was at this instant, from the audit "
    "history: ISO 8601 date or datetime (UTC if no offset). Custom fields as "
    "they were then; filters, ordering by id or plain fields and pagination as "
    "without it. 404 for an object that did not exist then. Reads only."
)


def as_of(request):
    """The ``as_of`` instant of ``request`` (UTC), None without one; 400 if bad."""
    raw = request.query_params.get(PARAM)
    if raw is None:
        return None
    if not raw.strip():
        raise exceptions.ValidationError(
            {PARAM: ["Give an ISO 8601 date or datetime, or leave as_of out."]}
        )
    return moment_param(request.query_params, PARAM)


class AsOfMixin:
    """Answer ``GET ?as_of=`` from history (see the module docstring)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if PARAM in request.query_params and request.method not in (
            permissions.SAFE_METHODS
        ):
            raise exceptions.ValidationError(
                {PARAM: ["The past is read-only: as_of applies to GET only."]}
            )

    def list(self, request, *args, **kwargs):
        moment = as_of(request)
        if moment is None:
            return super().list(request, *args, **kwargs)
        rows = self.paginate_queryset(self.as_of_queryset(moment))
        return self.get_paginated_response(self._as_of_data(rows, moment))

    def retrieve(self, request, *args, **kwargs):
        moment = as_of(request)
        if moment is None:
            return super().retrieve(request, *args, **kwargs)
        pk = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        if not is_id(pk):
            raise Http404
        model = self.registration.model
        row = (
            asof.state_at(model, company=request.company, moment=moment)
            .filter(id=int(pk))
            .first()
        )
        if row is None:
            raise Http404
        return Response(self._as_of_data([row], moment)[0])

    def as_of_queryset(self, moment):
        """The list's rows as of ``moment``: filtered, searched and ordered."""
        request, model = self.request, self.registration.model
        # Unknown or empty parameters are a 400 as on the live list.
        StrictQueryParamsBackend().filter_queryset(request, self.get_queryset(), self)
        rows = asof.state_at(model, company=request.company, moment=moment)
        params = request.query_params
        filterset_class = self.filterset_class
        if filterset_class is not None and any(
            name in params for name in filterset_class.base_filters
        ):
            filterset = filterset_class(params, queryset=rows, request=request)
            if not filterset.is_valid():
                raise filter_utils.translate_validation(filterset.errors)
            rows = filterset.qs
        rows = SearchFilter().filter_queryset(request, rows, self)
        rows = apply_filters(
            rows,
            params,
            request.company.pk,
            model,
            values=asof.value_rows_at(moment),
        )
        return rows.order_by(*self._as_of_ordering())

    def _as_of_ordering(self) -> list[str]:
        raw = self.request.query_params.get("ordering")
        terms = [t.strip() for t in (raw or "").split(",") if t.strip()] or ["-id"]
        allowed = {"id", "pk", *self.ordering_fields}
        ordering = []
        for term in terms:
            name = term.lstrip("-")
            if name.startswith(EXT_PREFIX) or name not in allowed:
                raise exceptions.ValidationError(
                    {
                        "ordering": [
                            f"Cannot order by '{name}' with as_of: use id or "
                            "plain fields."
                        ]
                    }
                )
            # The history row's pk is history_id (the object's is id), and it
            # has no updated_at: the state's updated_at is the entry's time.
            column = _HISTORY_COLUMNS.get(name, name)
            ordering.append(term.replace(name, column))
        if not any(term.lstrip("-") == "id" for term in ordering):
            ordering.append("-id")
        return ordering

    def _as_of_data(self, rows, moment) -> list[dict]:
        instances = [asof.as_instance(row) for row in rows]
        self._extension_values = asof.values_at(
            self.registration.model,
            company=self.request.company,
            object_ids=[instance.pk for instance in instances],
            moment=moment,
        )
        return self.get_serializer(instances, many=True).data
