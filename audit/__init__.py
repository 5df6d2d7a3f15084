"""Field-level audit trail: history of business objects and their custom fields.

Public API, importable from here (loaded lazily, on first use)::

    from audit import record, revert, object_history, company_log

- ``record`` / ``record_rows`` (``audit.recorder``): the one history writer;
- ``revert``, ``revert_plan``, ``prune_history`` (``audit.services``);
- ``object_history``, ``company_log`` (``audit.selectors``);
- ``track`` (``audit.history``): history for a model, attached to every
  registered business object by ``audit.apps``.
"""

_EXPORTS = {
    "record": "audit.recorder",
    "record_rows": "audit.recorder",
    "revert": "audit.services",
    "revert_plan": "audit.services",
    "prune_history": "audit.services",
    "object_history": "audit.selectors",
    "company_log": "audit.selectors",
    "track": "audit.history",
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
