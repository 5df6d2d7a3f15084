"""Company-scoped business objects: base model, scoping, services and registry.

Public API, importable from here (loaded lazily, on first use)::

    from businessobjects import BusinessObject, register, create, update, use_context

- models: ``BusinessObject``, ``Company``, ``Membership``
- registry: ``register``, ``get_registration``, ``registrations``
- services: ``create``, ``update``, ``delete``, ``bulk_create``, ``bulk_update``
- selectors: ``get``, ``list_objects``, ``iterate``
- context: ``use_context``, ``get_company``, ``get_user``, ``change_reason``
- representation: ``represent``
"""

_EXPORTS = {
    "BusinessObject": "businessobjects.models",
    "Company": "businessobjects.models",
    "Membership": "businessobjects.models",
    "register": "businessobjects.registry",
    "get_registration": "businessobjects.registry",
    "registrations": "businessobjects.registry",
    "create": "businessobjects.services",
    "update": "businessobjects.services",
    "delete": "businessobjects.services",
    "bulk_create": "businessobjects.services",
    "bulk_update": "businessobjects.services",
    "get": "businessobjects.selectors",
    "list_objects": "businessobjects.selectors",
    "iterate": "businessobjects.selectors",
    "use_context": "businessobjects.context",
    "get_company": "businessobjects.context",
    "get_user": "businessobjects.context",
    "change_reason": "businessobjects.context",
    "represent": "businessobjects.representation",
}


def __getattr__(name: str):
    # Imported on first use: importing the app stays cheap and loads no models
    # before the app registry is ready.
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
