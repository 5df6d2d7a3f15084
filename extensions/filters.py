"""List filtering and ordering by custom fields: ``?ext__<name>[__<lookup>]=``.

Both run in SQL: a filter is an EXISTS subquery on the values table (served by
the (definition, value) and (company, definition, object) indexes), an ordering a
correlated subquery annotation. Definitions come from the cache. A parameter
that cannot be applied is a 400 naming it, never silently ignored.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import connection, connections, router, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from businessobjects.conf import merp_settings
from businessobjects.params import parse_boolean

from . import types
from .models import ExtensionValue
from .values import definitions_for

EXT_PREFIX = "ext__"

FILTER_DESCRIPTION = (
    "Custom-field filters, one query parameter each: `ext__<name>=<value>` "
    "(exact) or `ext__<name>__<lookup>=<value>`. Lookups by field type: "
    "integer, decimal, date, datetime: exact, gt, gte, lt, lte, in, isnull; "
    "string, email, phone, url: exact, in, contains, icontains, startswith, "
    "isnull; choice: exact, in, isnull; boolean: exact, isnull; json: exact, "
    "contains (PostgreSQL), isnull. `in` takes comma-separated values, `isnull` "
    "true or false; decimals, dates and datetimes as in the representation "
    "(ISO 8601), json values as JSON. Example: `ext__credit_limit__gte=1000`. "
    "An unknown field, a lookup that does not fit the type or a value that does "
    "not parse is a 400 naming the parameter. The fields of a company are listed "
    "at /api/custom-fields/."
)


def _values(definition, company_id: int, **conditions):
    return ExtensionValue.objects.filter(
        company_id=company_id,
        definition_id=definition.pk,
        object_id=OuterRef("pk"),
        **conditions,
    )


def resolve(key: str, definitions: dict) -> tuple:
    """Return ``(definition, lookup)`` for a parameter ``ext__<name>[__<lookup>]``."""
    rest = key[len(EXT_PREFIX) :]
    if rest in definitions:
        return definitions[rest], "exact"
    name, sep, lookup = rest.rpartition("__")
    if sep and name in definitions:
        definition = definitions[name]
        if lookup in types.ALL_LOOKUPS:
            return definition, lookup
        allowed = ", ".join(sorted(definition.type.lookups))
        raise ValidationError(
            f"Unknown lookup '{lookup}' for custom field '{name}'. "
            f"Use one of: {allowed}."
        )
    unknown = name if sep and lookup in types.ALL_LOOKUPS else rest
    known = ", ".join(sorted(definitions)) or "none"
    raise ValidationError(f"Unknown custom field '{unknown}'. Known fields: {known}.")


def condition(
    definition, lookup: str, raw: str, company_id: int, *, values=_values
) -> Q:
    """Return the filter for one ``ext__`` parameter value.

    ``values(definition, company_id, **conditions)`` returns the value rows of
    the outer query's object (default: the stored ones; ``audit.asof`` passes
    the ones of a past instant)."""
    field_type = definition.type
    if lookup not in field_type.lookups:
        allowed = ", ".join(sorted(field_type.lookups))
        raise ValidationError(
            f"Lookup '{lookup}' does not apply to custom field '{definition.name}' "
            f"of type {definition.field_type}. Use one of: {allowed}."
        )
    if lookup == "isnull":
        exists = Exists(values(definition, company_id))
        return ~Q(exists) if parse_boolean(raw) else Q(exists)
    if lookup == "contains" and definition.field_type == "json":
        if not connection.features.supports_json_field_contains:
            raise ValidationError("JSON containment is not supported on this database.")
    if lookup == "in":
        parsed = [field_type.from_query(item, definition) for item in raw.split(",")]
    else:
        parsed = field_type.from_query(raw, definition)
    matching = {f"{definition.column}__{lookup}": parsed}
    return Q(Exists(values(definition, company_id, **matching)))


def apply_filters(queryset, params, company_id: int, model, *, values=_values):
    """Apply the ``ext__`` parameters of ``params`` to ``queryset`` (whose objects
    are ``model``'s); raise a 400 naming every parameter that cannot apply."""
    keys = [key for key in params if key.startswith(EXT_PREFIX)]
    if not keys:
        return queryset
    definitions = {d.name: d for d in definitions_for(company_id, model)}
    errors = {}
    for key in keys:
        try:
            definition, lookup = resolve(key, definitions)
            for raw in params.getlist(key):
                queryset = queryset.filter(
                    condition(definition, lookup, raw, company_id, values=values)
                )
        except ValidationError as exc:
            errors[key] = exc.messages
    if errors:
        raise exceptions.ValidationError(errors)
    return queryset


class ExtensionFilterBackend(BaseFilterBackend):
    """Apply ``?ext__<name>[__<lookup>]=<value>`` to list views."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        params = request.query_params
        if not any(key.startswith(EXT_PREFIX) for key in params):
            return queryset
        queryset = apply_filters(queryset, params, request.company.pk, queryset.model)
        request.merp_extension_filters = True  # read by index_walk()
        return queryset

    def get_schema_operation_parameters(self, view):
        # Definitions are per company and live in the database, so the schema
        # documents the pattern as free-form query parameters.
        return [
            {
                "name": "ext",
                "in": "query",
                "required": False,
                "style": "form",
                "explode": True,
                "description": FILTER_DESCRIPTION,
                "schema": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "example": {"ext__credit_limit__gte": "1000"},
            }
        ]


class ExtensionOrderingFilter(OrderingFilter):
    """``?ordering=`` over the view's fields and ``ext__<name>``; unknown: 400.

    A custom field sorts by a subquery annotation, objects without a value last
    in either direction; ties are broken by ``-id`` so pages are stable.
    """

    ordering_description = (
        "Comma-separated fields to sort by, `-` for descending. Custom fields: "
        "`ext__<name>` / `-ext__<name>` (objects without a value come last)."
    )

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        terms = [term.strip() for term in params.split(",") if term.strip()]
        valid = {
            name
            for name, _ in self.get_valid_fields(queryset, view, {"request": request})
        }
        definitions = None
        ordering = []
        for term in terms:
            name = term[1:] if term.startswith("-") else term
            if name.startswith(EXT_PREFIX):
                if definitions is None:
                    definitions = self._definitions(request, queryset)
                if name[len(EXT_PREFIX) :] not in definitions:
                    known = ", ".join(sorted(definitions)) or "none"
                    raise exceptions.ValidationError(
                        {
                            self.ordering_param: [
                                f"Cannot order by '{name}': unknown custom field. "
                                f"Known fields: {known}."
                            ]
                        }
                    )
            elif name not in valid:
                raise exceptions.ValidationError(
                    {self.ordering_param: [f"Cannot order by '{name}'."]}
                )
            ordering.append(term)
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        expressions = []
        definitions = None
        for term in ordering:
            descending = term.startswith("-")
            name = term[1:] if descending else term
            if not name.startswith(EXT_PREFIX):
                expressions.append(term)
                continue
            if definitions is None:
                definitions = self._definitions(request, queryset)
            definition = definitions[name[len(EXT_PREFIX) :]]
            alias = f"_ext_order_{definition.pk}"
            value = _values(definition, request.company.pk).values(definition.column)
            queryset = queryset.alias(**{alias: Subquery(value[:1])})
            expressions.append(
                F(alias).desc(nulls_last=True)
                if descending
                else F(alias).asc(nulls_last=True)
            )
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            expressions.append("-pk")
        return queryset.order_by(*expressions)

    @staticmethod
    def _definitions(request, queryset) -> dict:
        return {d.name: d for d in definitions_for(request.company, queryset.model)}


_ID_ORDER = {"id", "-id", "pk", "-pk"}


@contextmanager
def index_walk(request, queryset, *, id_order: bool | None = None) -> Iterator[None]:
    """Run a custom-field-filtered list page's queries with nested loops only.

    PostgreSQL cannot know that a field's values all belong to one company: it
    estimates that a filter keeps a handful of the company's objects where it
    may keep most of them, and then hashes all the company's objects and sorts
    them (milliseconds per 10,000 objects, growing with the company) instead of
    walking the (company, field, object) index in id order, reading values from
    the index alone, and stopping after one page. For pages in id order (the
    default ordering and cursor pages; ``id_order`` tells, else the queryset's
    ordering decides) hash and merge joins are switched off for the enclosed
    queries (``SET LOCAL`` in a transaction), which leaves the index walk or,
    for selective filters, the value index. Elsewhere this does nothing.
    """
    db = router.db_for_read(queryset.model)
    if id_order is None:
        id_order = set(queryset.query.order_by) <= _ID_ORDER
    if not (
        getattr(request, "merp_extension_filters", False)
        and id_order
        and merp_settings.EXTENSIONS_FILTER_INDEX_WALK
        and connections[db].vendor == "postgresql"
    ):
        yield
        return
    connection = connections[db]
    nested = connection.in_atomic_block
    with transaction.atomic(using=db):
        with connection.cursor() as cursor:
            # Earlier select-list entries are evaluated first: the values before.
            cursor.execute(
                "SELECT current_setting('enable_hashjoin'), "
                "current_setting('enable_mergejoin'), "
                "set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_mergejoin', 'off', true)"
            )
            hashjoin, mergejoin, *_ = cursor.fetchone()
        yield
        if nested:
            # SET LOCAL lasts until the enclosing transaction ends (e.g. with
            # ATOMIC_REQUESTS); the rest of it plans as before. (On an error the
            # savepoint's rollback restores them.)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('enable_hashjoin', %s, true), "
                    "set_config('enable_mergejoin', %s, true)",
                    [hashjoin, mergejoin],
                )
