"""Custom fields: admin-defined, typed, validated, filterable fields on every
business object.

Public API, importable from here (loaded lazily, on first use)::

    from extensions import definition_create, set_extension, get_extensions

- ``extensions.services``: ``definition_create``, ``definition_update``,
  ``definition_delete``, ``definitions_for``, ``get_extensions``,
  ``set_extension``, ``set_extensions``
- ``extensions.values``: the hooks the business-object services call
  (``prepare``, ``write``, ``bulk_write``, ``remove``, ``current_values``,
  ``prefetch``)
- ``extensions.models``: ``FieldDefinition``, ``ExtensionValue``
- ``extensions.filters``: ``ExtensionFilterBackend``, ``ExtensionOrderingFilter``
- ``extensions.forms``: ``ExtensionFieldsAdminMixin``

See docs/custom-fields.md.
"""

_EXPORTS = {
    "definition_create": "extensions.services",
    "definition_update": "extensions.services",
    "definition_delete": "extensions.services",
    "definitions_for": "extensions.services",
    "get_extensions": "extensions.services",
    "set_extension": "extensions.services",
    "set_extensions": "extensions.services",
    "current_values": "extensions.values",
    "prefetch": "extensions.values",
    "FieldDefinition": "extensions.models",
    "ExtensionValue": "extensions.models",
    "ExtensionFilterBackend": "extensions.filters",
    "ExtensionOrderingFilter": "extensions.filters",
    "ExtensionFieldsAdminMixin": "extensions.forms",
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
