"""The registry: one decorator turns a BusinessObject subclass into a full object.

``@register`` (at model definition time) attaches history; the API router and the
admin read the registry once apps are ready and build a serializer, viewset,
filterset and admin for each entry. Extensions and events look models up here.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_registry: dict[str, "Registration"] = {}


@dataclass
class Registration:
    model: type
    name: str
    plural: str
    search_fields: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    ordering_fields: tuple[str, ...] | None = None
    serializer_fields: tuple[str, ...] | None = None
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def _build(self, key: str, factory: Callable[["Registration"], Any]) -> Any:
        if key not in self._built:
            self._built[key] = factory(self)
        return self._built[key]

    @property
    def serializer_class(self):
        from .api.serializers import build_serializer

        return self._build("serializer", build_serializer)

    @property
    def viewset_class(self):
        from .api.views import build_viewset

        return self._build("viewset", build_viewset)


def register(
    model: type | None = None,
    *,
    plural: str | None = None,
    search_fields: Sequence[str] = (),
    filter_fields: Sequence[str] = (),
    ordering_fields: Sequence[str] | None = None,
    serializer_fields: Sequence[str] | None = None,
):
    """Register a BusinessObject subclass (as ``@register`` or ``@register(...)``).

    ``plural`` names the endpoint (``/api/<plural>/``, default model name + "s");
    ``search_fields`` feed ``?search=``, ``filter_fields`` plain ``?field=`` filters,
    ``ordering_fields`` ``?ordering=`` (default: every concrete field).
    """

    def decorator(cls: type) -> type:
        from .models import BusinessObject

        assert issubclass(cls, BusinessObject), (
            f"{cls.__name__} must subclass businessobjects.models.BusinessObject "
            "to be registered."
        )
        name = cls._meta.model_name
        assert name not in _registry, (
            f"A business object named {name!r} is already registered "
            f"({_registry.get(name) and _registry[name].model.__module__}); "
            "model names must be unique across apps."
        )
        from audit.history import track

        track(cls)
        _registry[name] = Registration(
            model=cls,
            name=name,
            plural=plural or f"{name}s",
            search_fields=tuple(search_fields),
            filter_fields=tuple(filter_fields),
            ordering_fields=tuple(ordering_fields) if ordering_fields else None,
            serializer_fields=tuple(serializer_fields) if serializer_fields else None,
        )
        return cls

    if model is not None:
        return decorator(model)
    return decorator


def registrations() -> list[Registration]:
    return list(_registry.values())


def get_registration(model_or_name) -> Registration:
    """Return the registration of a model class, instance or model name."""
    if isinstance(model_or_name, str):
        key = model_or_name.lower()
    else:
        key = model_or_name._meta.model_name
    try:
        return _registry[key]
    except KeyError:
        raise LookupError(
            f"{model_or_name!r} is not a registered business object; decorate the "
            "model with @businessobjects.registry.register."
        ) from None


def is_registered(model) -> bool:
    return model._meta.model_name in _registry and (
        _registry[model._meta.model_name].model is model
    )
