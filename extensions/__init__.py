"""Custom fields: admin-defined, typed, validated, filterable fields on every
business object.

Public API (import from the submodules to avoid import cycles at model load):

- ``extensions.services``: ``get_extensions``, ``set_extension``,
  ``set_extensions``, ``definition_create``, ``definition_update``,
  ``definition_delete``, ``definitions_for`` (and the hooks the business-object
  services call: ``prepare``, ``write``, ``bulk_write``, ``remove``,
  ``current_values``, ``prefetch``)
- ``extensions.models``: ``FieldDefinition``, ``ExtensionValue``
- ``extensions.filters``: ``ExtensionFilterBackend``, ``ExtensionOrderingFilter``
- ``extensions.forms``: ``ExtensionFieldsAdminMixin``

See docs/custom-fields.md.
"""
