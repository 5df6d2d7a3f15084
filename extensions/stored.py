"""Stored custom-field values as the read and write paths see them: the
definitions of a model (from the cache) and the values of some objects, in one
query, rendered as the API shows them."""

from collections import defaultdict
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router

from . import cache
from .models import ExtensionValue

# -- definitions, as the write and read paths see them -----------------------


def _company_id(company) -> int:
    return company if isinstance(company, int) else company.pk


def definitions_for(company, model, *, active_only: bool = True) -> list:
    """Return the (cached) definitions of ``model`` in ``company``, in order."""
    found = cache.definitions_for_model(_company_id(company), model)
    return [d for d in found if d.is_active] if active_only else found


# -- values --------------------------------------------------------------------


# Stored values as read: {definition id: (value row id, Python value)}.
Stored = dict[int, tuple[int, Any]]


def _load(company_id: int, model, object_ids, definitions) -> dict[int, Stored]:
    """Return the stored values of ``object_ids`` by object id, in one query."""
    found: dict[int, Stored] = defaultdict(dict)
    if not definitions or not object_ids:
        return found
    content_type = ContentType.objects.get_for_model(model)
    by_id = {d.pk: d for d in definitions}
    columns = list(dict.fromkeys(d.column for d in definitions))
    filters = {
        "company_id": company_id,
        "content_type_id": content_type.pk,
        "object_id": list(object_ids),
        "definition_id": list(by_id),
    }
    alias = router.db_for_read(ExtensionValue)
    if connections[alias].vendor == "postgresql":
        rows = _select_values(connections[alias], filters, columns)
    else:
        rows = (
            ExtensionValue.objects.using(alias)
            .filter(
                company_id=filters["company_id"],
                content_type_id=filters["content_type_id"],
                object_id__in=filters["object_id"],
                definition_id__in=filters["definition_id"],
            )
            .values_list("id", "object_id", "definition_id", *columns)
        )
    for pk, object_id, definition_id, *values in rows:
        column = by_id[definition_id].column
        found[object_id][definition_id] = (pk, values[columns.index(column)])
    return found


def _select_values(connection, filters: dict, columns: list[str]) -> list[tuple]:
    """``_load``'s query, as ``values_list`` would run it, minus the ORM: a list
    page reads its values on every request, and compiling the query (an ``IN``
    of the page's ids) cost twice what running it does."""
    opts = ExtensionValue._meta
    fields = [opts.get_field(name) for name in columns]
    quote = connection.ops.quote_name
    sql = (
        f"SELECT id, object_id, definition_id, "
        f"{', '.join(quote(f.column) for f in fields)} "
        f"FROM {quote(opts.db_table)} "
        "WHERE company_id = %s AND content_type_id = %s "
        "AND object_id = ANY(%s) AND definition_id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(filters.values()))
        rows = cursor.fetchall()
    # The conversions values_list applies (JSON arrives as text on PostgreSQL).
    convert = [
        (3 + i, model_field)
        for i, model_field in enumerate(fields)
        if hasattr(model_field, "from_db_value")
    ]
    if not convert:
        return rows
    converted = []
    for row in rows:
        row = list(row)
        for index, model_field in convert:
            row[index] = model_field.from_db_value(row[index], None, connection)
        converted.append(row)
    return converted


def _represent(definitions: list, stored: Stored) -> dict:
    return {
        d.name: d.represent(stored[d.pk][1] if d.pk in stored else None)
        for d in definitions
    }


def current_values(instance) -> dict:
    """Return the active custom fields of ``instance`` as the API shows it."""
    definitions = definitions_for(instance.company_id, type(instance))
    stored = _load(instance.company_id, type(instance), [instance.pk], definitions)
    return _represent(definitions, stored[instance.pk])


def prefetch(instances: list) -> dict:
    """Load the custom-field values of ``instances`` in a constant number of queries;
    return them as ``{pk: {name: value}}``.

    One query per (company, object type) present, whatever the number of rows;
    it reads plain tuples of the columns in use, not model instances. The rows
    read are kept on each instance for one following ``prepare`` (bulk updates
    prefetch the rows they have just locked).
    """
    values: dict = {}
    groups: dict[tuple, list] = defaultdict(list)
    for instance in instances:
        groups[(instance.company_id, type(instance))].append(instance)
    for (company_id, model), members in groups.items():
        definitions = definitions_for(company_id, model)
        stored = _load(company_id, model, [m.pk for m in members], definitions)
        for member in members:
            values[member.pk] = _represent(definitions, stored[member.pk])
            member._merp_extension_rows = stored[member.pk]
    return values
