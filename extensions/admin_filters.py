"""Custom fields of choice and boolean type as change-list filters.

``extension_list_filters(request, model, company_ids)`` returns one
``SimpleListFilter`` class per custom-field name of ``model`` in the admin's
companies (``None``: all); ``BusinessObjectAdmin.get_list_filter`` appends them.
A filter matches objects through their value rows of the companies' definitions
of that name, so it never reaches another company's values.
"""

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef

from .models import ExtensionValue, FieldDefinition

FILTER_TYPES = ("choice", "boolean")
EMPTY = "__empty__"


def extension_list_filters(request, model, company_ids: list[int] | None) -> list:
    content_type = ContentType.objects.get_for_model(model)
    definitions = FieldDefinition.objects.filter(
        content_type=content_type, is_active=True, field_type__in=FILTER_TYPES
    ).order_by("order", "name", "company_id")
    if company_ids is not None:
        definitions = definitions.filter(company_id__in=company_ids)
    by_name: dict[str, list[FieldDefinition]] = {}
    for definition in definitions:
        by_name.setdefault(definition.name, []).append(definition)
    return [
        _filter_class(name, group, content_type.pk)
        for name, group in by_name.items()
        # One name, one type: a name that is a choice in one company and a
        # boolean in another cannot share one filter.
        if len({d.field_type for d in group}) == 1
    ]


def _filter_class(name: str, definitions: list, content_type_id: int) -> type:
    first = definitions[0]
    if first.field_type == "boolean":
        options = [("true", "Yes"), ("false", "No")]
    else:
        seen: dict[str, None] = {}
        for definition in definitions:
            seen.update(dict.fromkeys(definition.choices or []))
        options = [(choice, choice) for choice in seen]
    options.append((EMPTY, "(empty)"))

    def lookups(self, request, model_admin):
        return options

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        values = ExtensionValue.objects.filter(
            definition_id__in=[d.pk for d in definitions],
            content_type_id=content_type_id,
            company_id=OuterRef("company_id"),
            object_id=OuterRef("pk"),
        )
        if value == EMPTY:
            return queryset.filter(~Exists(values))
        if first.field_type == "boolean":
            values = values.filter(value_boolean=value == "true")
        else:
            values = values.filter(value_text=value)
        return queryset.filter(Exists(values))

    return type(
        f"ExtensionFilter_{name}",
        (admin.SimpleListFilter,),
        {
            "title": first.label or name,
            "parameter_name": f"ext__{name}",
            "lookups": lookups,
            "queryset": queryset,
        },
    )
