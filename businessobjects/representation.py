"""An object as the API shows it, without DRF: the payload of events and the
values compared for change sets.

``represent`` renders each field the way the DRF field a ``ModelSerializer``
builds for it would (ISO 8601 dates, decimals as strings, references as ids), so
the serializer renders its model fields with it too, and the API, the events and
the change sets cannot drift apart. The custom-field values are an argument: the
caller has them (the services staged them, a list page prefetched them).
"""

import datetime
import decimal
import functools
from collections.abc import Callable, Mapping
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.duration import duration_string

SYSTEM_COLUMNS = ("id", "company", "version", "created_at", "updated_at")


def field_names(model) -> tuple[str, ...]:
    """The names ``represent`` renders for ``model``, in the API's order."""
    from .models import BusinessObject
    from .registry import get_registration

    own = get_registration(model).serializer_fields or tuple(
        f.name
        for f in model._meta.concrete_fields
        if f.name not in BusinessObject.SYSTEM_FIELDS
    )
    return (*SYSTEM_COLUMNS, *own, "extensions")


def represent(instance, extensions: Mapping[str, Any]) -> dict:
    """Return ``instance`` as the API shows it, with ``extensions`` as its
    custom-field values (``{name: value}`` as the API shows them)."""
    out: dict[str, Any] = {}
    for name in field_names(type(instance)):
        if name == "extensions":
            out[name] = dict(extensions)
        else:
            out[name] = represent_field(instance, name)
    return out


def represent_many(model, instances, extensions) -> list[dict]:
    """``represent`` for many instances of ``model`` (``extensions`` one mapping
    per instance): the renderers and the current time zone are looked up once,
    not once per row (a bulk create renders every row it writes)."""
    current = timezone.get_current_timezone()
    plan: list[tuple[str, str | None, Any]] = []
    for name in field_names(model):
        if name == "extensions":
            plan.append((name, None, None))
            continue
        attname, render = field_renderer(model, name)
        if render.func is _datetime:
            render = functools.partial(_datetime, render.args[0], current=current)
        plan.append((name, attname, render))
    rendered = []
    for instance, values in zip(instances, extensions, strict=True):
        out: dict[str, Any] = {}
        for name, attname, render in plan:
            if render is None:
                out[name] = dict(values)
            else:
                value = getattr(instance, attname)
                out[name] = None if value is None else render(value)
        rendered.append(out)
    return rendered


def represent_field(instance, name: str) -> Any:
    """The API value of model field ``name`` of ``instance``."""
    attname, render = field_renderer(type(instance), name)
    value = getattr(instance, attname)
    return None if value is None else render(value)


def field_renderer(model, name: str) -> tuple[str, Callable[[Any], Any]]:
    """``(attname, render)`` of ``model``'s field ``name``: ``render(value)`` is
    its API value for a value that is not None. Found once per field: the
    isinstance walk over the renderers was half of what rendering a row cost
    (bulk writes and list pages render every row)."""
    found = _renderer_of.get((model, name))
    if found is None:
        field = model._meta.get_field(name)
        renderer = _RENDERERS.get(_kind(field), _as_is)
        found = _renderer_of[(model, name)] = (
            field.attname,
            functools.partial(renderer, field),
        )
    return found


_renderer_of: dict = {}


def _kind(field) -> type:
    for kind in _RENDERERS:
        if isinstance(field, kind):
            return kind
    return object


def _as_is(field, value):
    return value


def _datetime(field, value, current=None):
    # DRF's DateTimeField: in the current time zone, ISO 8601, UTC as "Z".
    if not value or isinstance(value, str):
        return value or None
    if current is None:
        current = timezone.get_current_timezone()
    if value.utcoffset() is not None:  # aware
        if value.tzinfo is not current:
            value = value.astimezone(current)
    else:
        value = timezone.make_aware(value, current)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _date(field, value):
    if isinstance(value, str):
        return value
    assert not isinstance(value, datetime.datetime), (
        f"{field.name} holds a datetime; assign a date to a DateField."
    )
    return value.isoformat()


def _time(field, value):
    return value if isinstance(value, str) else value.isoformat()


def _decimal(field, value):
    # DRF's DecimalField with COERCE_DECIMAL_TO_STRING: quantized, as a string.
    if not isinstance(value, decimal.Decimal):
        value = decimal.Decimal(str(value).strip())
    if field.decimal_places is not None:
        context = decimal.getcontext().copy()
        if field.max_digits is not None:
            context.prec = field.max_digits
        value = value.quantize(
            decimal.Decimal(".1") ** field.decimal_places, context=context
        )
    return f"{value:f}"


def _boolean(field, value):
    return bool(value)


# Most specific first: BooleanField before IntegerField-like checks, DateTimeField
# (a DateField subclass) before DateField, relations (ids) before the rest.
_RENDERERS = {
    models.ForeignKey: lambda field, value: value,
    models.DateTimeField: _datetime,
    models.DateField: _date,
    models.TimeField: _time,
    models.DecimalField: _decimal,
    models.DurationField: lambda field, value: duration_string(value),
    models.UUIDField: lambda field, value: str(value),
    models.JSONField: _as_is,
    models.BooleanField: _boolean,
    models.FloatField: lambda field, value: float(value),
    models.IntegerField: lambda field, value: int(value),
    models.AutoField: lambda field, value: int(value),
    models.BigAutoField: lambda field, value: int(value),
    models.CharField: lambda field, value: str(value),
    models.TextField: lambda field, value: str(value),
    models.GenericIPAddressField: lambda field, value: str(value),
}
