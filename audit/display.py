"""Change sets rendered for people: the admin's history page, its revert preview
and the change form's "changed since you opened it" message.

Keys become labels (a custom field's by its definition's label), values are shown
by type (dates, decimals, Yes/No, pretty JSON, the referenced object's name) and
empty values as "(empty)". The stored change sets stay as they are (the API and
the events show them raw).
"""

import datetime
import json
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst

from businessobjects.display import json_display
from extensions.models import FieldDefinition

EMPTY = "(empty)"
EXT_PREFIX = "extensions."
# Shown elsewhere on the page (the object's company never changes).
_HIDDEN = frozenset({"company"})
_JSON_LIMIT = 4000


@dataclass
class ShownChange:
    key: str  # the stored key, e.g. "extensions.tier"
    label: str
    old: str
    new: str
    is_json: bool = False


class ChangeRenderer:
    """Render the change sets of one model's objects of one company.

    Custom-field definitions are read once (inactive ones too: history outlives
    them); referenced objects once per id.
    """

    def __init__(self, model, company_id: int | None):
        self.model = model
        self.company_id = company_id
        self._definitions: dict[str, FieldDefinition] | None = None
        self._related: dict[tuple, str] = {}

    @property
    def definitions(self) -> dict[str, FieldDefinition]:
        if self._definitions is None:
            self._definitions = {}
            if self.company_id is not None:
                content_type = ContentType.objects.get_for_model(self.model)
                self._definitions = {
                    d.name: d
                    for d in FieldDefinition.objects.filter(
                        company_id=self.company_id, content_type=content_type
                    )
                }
        return self._definitions

    def label(self, key: str) -> str:
        if key.startswith(EXT_PREFIX):
            name = key.removeprefix(EXT_PREFIX)
            definition = self.definitions.get(name)
            return (definition.label or name) if definition else name
        try:
            return capfirst(self.model._meta.get_field(key).verbose_name)
        except FieldDoesNotExist:
            return key

    def rows(self, changes: dict | None, action: str = "~") -> list[ShownChange]:
        """The rows to show for one change set, in the model's field order.

        A creation (``+``) lists only the values it set, a deletion (``-``) the
        values it removed: "(empty) -> x" for every field is noise.
        """
        order = {f.name: i for i, f in enumerate(self.model._meta.fields)}
        shown = []
        for key, change in sorted(
            (changes or {}).items(),
            key=lambda item: (order.get(item[0], len(order)), item[0]),
        ):
            if key in _HIDDEN:
                continue
            old, new = change.get("old"), change.get("new")
            if action == "+" and _is_empty(new) or action == "-" and _is_empty(old):
                continue
            is_json = self._is_json(key, old, new)
            shown.append(
                ShownChange(
                    key=key,
                    label=self.label(key),
                    old=self.value(key, old),
                    new=self.value(key, new),
                    is_json=is_json,
                )
            )
        return shown

    def _is_json(self, key, *values) -> bool:
        definition = self._definition(key)
        if definition is not None and definition.field_type == "json":
            return any(not _is_empty(v) for v in values)
        return any(isinstance(v, dict | list) for v in values)

    def _definition(self, key: str) -> FieldDefinition | None:
        if not key.startswith(EXT_PREFIX):
            return None
        return self.definitions.get(key.removeprefix(EXT_PREFIX))

    def value(self, key: str, value) -> str:
        """``value`` of field ``key`` as a person reads it."""
        if _is_empty(value):
            return EMPTY
        definition = self._definition(key)
        if definition is not None:
            return _typed(definition.field_type, value)
        try:
            field = self.model._meta.get_field(key)
        except FieldDoesNotExist:
            return _typed("", value)
        if isinstance(field, models.ForeignKey):
            return self._related_name(field, value)
        if isinstance(field, models.BooleanField):
            return _typed("boolean", value)
        if isinstance(field, models.DateTimeField):
            return _typed("datetime", value)
        if isinstance(field, models.DateField):
            return _typed("date", value)
        if isinstance(field, models.JSONField):
            return _typed("json", value)
        return _typed("", value)

    def _related_name(self, field, pk) -> str:
        key = (field.related_model, pk)
        if key not in self._related:
            manager = field.related_model._default_manager
            queryset = manager.filter(pk=pk)
            if self.company_id is not None and hasattr(field.related_model, "company"):
                queryset = queryset.filter(company_id=self.company_id)
            found = queryset.first()
            self._related[key] = f"{found} (#{pk})" if found else f"#{pk}"
        return self._related[key]


def _is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _typed(field_type: str, value) -> str:
    if field_type == "boolean" or isinstance(value, bool):
        return "Yes" if value else "No"
    if field_type == "json" or isinstance(value, dict | list):
        return _pretty_json(value)
    if field_type == "datetime" and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            if timezone.is_aware(parsed):
                parsed = timezone.localtime(parsed)
            return formats.date_format(parsed, "DATETIME_FORMAT")
    if field_type == "date" and isinstance(value, str):
        parsed = parse_date(value)
        if parsed is not None:
            return formats.date_format(parsed, "DATE_FORMAT")
    if isinstance(value, datetime.date):
        return formats.localize(value)
    return str(value)


def _pretty_json(value) -> str:
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (RecursionError, TypeError, ValueError):
        # Nested deeper than json can recurse: the iterative, cut rendering.
        return json_display(value, limit=_JSON_LIMIT)
    return text if len(text) <= _JSON_LIMIT else text[:_JSON_LIMIT] + "…"


def changes_since(instance, version: int) -> list[dict]:
    """Who changed ``instance`` after ``version``: one entry per history row, oldest
    first, with the user, the time and the labels of the fields changed."""
    model = type(instance)
    renderer = ChangeRenderer(model, instance.company_id)
    records = (
        model.history.filter(
            company_id=instance.company_id, id=instance.pk, version__gt=version
        )
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    return [
        {
            "user": str(record.history_user) if record.history_user else "someone",
            "when": formats.date_format(
                timezone.localtime(record.history_date), "DATETIME_FORMAT"
            ),
            "version": record.version,
            "fields": [row.label for row in renderer.rows(record.changes)],
        }
        for record in records
    ]


def conflict_message(instance, expected: int, actual: int) -> str:
    """The message of a change form saved with stale ``expected`` version."""
    name = f"{capfirst(instance._meta.verbose_name)} “{instance}”"
    since = changes_since(instance, expected)
    if since:
        who = "; ".join(
            f"{entry['user']} changed {', '.join(entry['fields']) or 'it'} "
            f"on {entry['when']}"
            for entry in since
        )
    else:
        who = f"it is now at version {actual}"
    return (
        f"Not saved: {name} was changed since you opened this form: {who} (you "
        f"had version {expected}, it is now at version {actual}). Reload the page "
        "to see the current values, then apply your change again."
    )
