"""Company-scoped business objects: base model, scoping, services and registry.

Public API (import from the submodules to avoid import cycles at model load):

- ``businessobjects.models``: ``BusinessObject``, ``Company``, ``Membership``
- ``businessobjects.registry``: ``register``
- ``businessobjects.services``: ``create``, ``update``, ``delete``, ``bulk_create``
- ``businessobjects.selectors``: ``get``, ``list_objects``, ``iterate``
- ``businessobjects.context``: ``use_context``, ``get_company``, ``get_user``
"""
