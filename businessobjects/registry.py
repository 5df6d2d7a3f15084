"""The registry: one decorator turns a BusinessObject subclass into a full object.

The registry is data. ``@register`` (at model definition time) records the model
and announces it to the hooks plug-ins attach with ``on_register`` (audit attaches
history this way); the API router and the admin read the registry once apps are
ready and build a serializer, viewset, filterset and admin for each entry.
Extensions and events look models up here.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

_registry: dict[str, "Registration"] = {}
_hooks: list[Callable[["Registration"], None]] = []


@dataclass
class Registration:
    model: type
    name: str
    plural: str
    search_fields: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    ordering_fields: tuple[str, ...] | None = None
    serializer_fields: tuple[str, ...] | None = None
    # The admin (businessobjects.admin builds it from these once apps are ready).
    list_display: tuple[str, ...] | None = None
    list_filter: tuple = ()
    admin_inlines: tuple[str, ...] = ()
    admin_class: type | str | None = None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def register(
    model: type | None = None,
    *,
    plural: str | None = None,
    search_fields: Sequence[str] = (),
    filter_fields: Sequence[str] = (),
    ordering_fields: Sequence[str] | None = None,
    serializer_fields: Sequence[str] | None = None,
    list_display: Sequence[str] | None = None,
    list_filter: Sequence = (),
    admin_inlines: Sequence[str] = (),
    admin_class: type | str | None = None,
):
    """Register a BusinessObject subclass (as ``@register`` or ``@register(...)``).

    ``plural`` names the endpoint (``/api/<plural>/``, default model name + "s");
    ``search_fields`` feed ``?search=``, ``filter_fields`` plain ``?field=`` filters,
    ``ordering_fields`` ``?ordering=`` (default: every concrete field).

    The admin: ``list_display`` and ``list_filter`` as on a ``ModelAdmin``
    (custom fields of choice and boolean type are added as filters by
    themselves); ``admin_inlines`` names child business objects edited on this
    object's form (``("address", "contact")``: each has a foreign key to it);
    ``admin_class`` is the project's ``businessobjects.admin.BusinessObjectAdmin``
    subclass (or its dotted path) to use instead of the built one.
    """

    def decorator(cls: type) -> type:
        # Compared by name: models import the registry, so it cannot import them.
        assert _BASE in {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__}, (
            f"{cls.__name__} must subclass businessobjects.models.BusinessObject "
            "to be registered."
        )
        name = cls._meta.model_name
        assert name not in _registry, (
            f"A business object named {name!r} is already registered "
            f"({_registry.get(name) and _registry[name].model.__module__}); "
            "model names must be unique across apps."
        )
        registration = _registry[name] = Registration(
            model=cls,
            name=name,
            plural=plural or f"{name}s",
            search_fields=tuple(search_fields),
            filter_fields=tuple(filter_fields),
            ordering_fields=tuple(ordering_fields) if ordering_fields else None,
            serializer_fields=tuple(serializer_fields) if serializer_fields else None,
            list_display=tuple(list_display) if list_display else None,
            list_filter=tuple(list_filter),
            admin_inlines=tuple(admin_inlines),
            admin_class=admin_class,
        )
        for hook in _hooks:
            hook(registration)
        return cls

    if model is not None:
        return decorator(model)
    return decorator


_BASE = "businessobjects.models.BusinessObject"


def on_register(hook: Callable[[Registration], None]) -> None:
    """Call ``hook(registration)`` for every business object, registered or to be.

    Registration happens while models load, before ``AppConfig.ready()``: a
    plug-in that must act then (audit creates the history model, which has to
    exist before migrations load) attaches from its ``apps`` module. Earlier
    registrations are replayed, so the order of INSTALLED_APPS does not matter.
    """
    _hooks.append(hook)
    for registration in list(_registry.values()):
        hook(registration)


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
