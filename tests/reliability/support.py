"""Helpers shared by the reliability suite: sample data, endpoints, DB fingerprints.

Everything here is derived from ``businessobjects.registry.registrations()`` and the
URL patterns, so a new business object (or a new app's endpoints) is covered by the
suite without editing it.
"""

import decimal
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver

from businessobjects import services
from businessobjects.models import BusinessObject, Company, Membership
from businessobjects.registry import Registration, registrations
from events.models import OutboxEvent

# Markers are lowercase letters only, so they survive e-mail and URL fields; no
# marker is a substring of another, so a leak is unambiguous.
MARKERS = ("alphaqx", "bravoqz", "charliexv")


def bo_registrations() -> list[Registration]:
    return sorted(registrations(), key=lambda r: r.name)


def writable_fields(model: type[BusinessObject]) -> list[models.Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if f.editable
        and not f.auto_created
        and f.name not in BusinessObject.SYSTEM_FIELDS
    ]


def reference_fields(model: type[BusinessObject]) -> list[models.ForeignKey]:
    """Foreign keys from ``model`` to other business objects."""
    return [
        f
        for f in writable_fields(model)
        if f.is_relation
        and f.related_model is not None
        and issubclass(f.related_model, BusinessObject)
    ]


def sample_value(field: models.Field, *, marker: str, seq: int):
    """Return a valid API value for ``field`` that carries ``marker`` where it can."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.EmailField):
        return f"{marker}{seq}@example.test"
    if isinstance(field, models.URLField):
        return f"https://{marker}{seq}.example.test/"
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, models.DecimalField):
        whole = min(field.max_digits - field.decimal_places, 3)
        return str(
            decimal.Decimal(seq % 10**whole).quantize(
                decimal.Decimal(1).scaleb(-field.decimal_places)
            )
        )
    if isinstance(field, models.IntegerField):
        return seq
    if isinstance(field, models.DateTimeField):
        return "2024-05-06T07:08:09Z"
    if isinstance(field, models.DateField):
        return "2024-05-06"
    if isinstance(field, models.JSONField):
        return {"marker": marker, "seq": seq}
    if isinstance(field, models.CharField | models.TextField):
        value = f"{marker}{seq} {field.name}"
        return value[: field.max_length] if field.max_length else value
    raise NotImplementedError(
        f"tests/reliability/support.sample_value() does not know {type(field)!r} "
        f"({field.model.__name__}.{field.name}); add a branch for it."
    )


class Sampler:
    """Make valid payloads and objects for every registered business object."""

    # One sequence for the whole run: values under unique rules never repeat,
    # whichever sampler made them.
    _seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)

    def payload(
        self, registration: Registration, *, company, marker: str, references=None
    ) -> dict:
        """A valid POST body; references to other objects use ``references`` or
        freshly created objects of ``company``."""
        seq = self.next_seq()
        references = references or {}
        body = {}
        for field in writable_fields(registration.model):
            if field in reference_fields(registration.model):
                target = references.get(field.name)
                if target is None:
                    target = self.create(
                        _registration_of(field.related_model),
                        company=company,
                        marker=marker,
                    )
                body[field.name] = target.pk
            else:
                body[field.name] = sample_value(field, marker=marker, seq=seq)
        return body

    def create(self, registration: Registration, *, company, marker: str):
        """Create an object through the services (history and outbox included)."""
        data = self.payload(registration, company=company, marker=marker)
        return services.create(registration.model, data=data, company=company)


def _registration_of(model) -> Registration:
    from businessobjects.registry import get_registration

    return get_registration(model)


def text_fields(registration: Registration) -> list[str]:
    return [
        f.name
        for f in writable_fields(registration.model)
        if isinstance(f, models.CharField | models.TextField)
        and not f.choices
        and not isinstance(f, models.EmailField | models.URLField)
    ]


# -- the database, as a value --------------------------------------------------


def db_fingerprint() -> dict:
    """Everything a request could have written: rows (with versions and values),
    history rows, outbox events, companies and memberships."""
    state: dict = {}
    for registration in bo_registrations():
        model = registration.model
        state[registration.name] = sorted(
            json.dumps(row, sort_keys=True, default=str)
            for row in model.objects.all().values()
        )
        state[f"{registration.name}.history"] = model.history.count()
    state["outbox"] = OutboxEvent.objects.count()
    state["companies"] = Company.objects.count()
    state["memberships"] = Membership.objects.count()
    return state


# -- URL patterns -------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern of the project, with the view behind it."""

    route: str  # e.g. "api/partners/<pk>/history/"
    name: str | None
    callback: Callable

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the view answers (DRF viewsets: the mapped actions)."""
        actions = getattr(self.callback, "actions", None)
        if actions:
            return tuple(sorted(m.upper() for m in actions))
        view_class = getattr(self.callback, "cls", None) or getattr(
            self.callback, "view_class", None
        )
        if view_class is None:
            return ("GET",)
        return tuple(
            sorted(
                m.upper()
                for m in view_class.http_method_names
                if m not in ("options", "head", "trace") and hasattr(view_class, m)
            )
        )


def iter_endpoints(prefix: str = "") -> Iterator[Endpoint]:
    """Every URL pattern under ``prefix`` (format-suffix variants left out)."""

    def walk(patterns, base: str):
        for pattern in patterns:
            route = base + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                if "format" in route:  # DRF's .json/.api suffix variants
                    continue
                yield Endpoint(
                    route=route, name=pattern.name, callback=pattern.callback
                )

    for endpoint in walk(get_resolver().url_patterns, ""):
        if endpoint.route.lstrip("^").startswith(prefix):
            yield endpoint
