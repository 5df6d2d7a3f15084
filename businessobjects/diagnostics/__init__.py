"""Framework diagnostics: one probe per concern, shared by checks, doctor and health.

Each probe returns an ``Outcome``: Django check messages (``Error``/``Warning`` with
ids and hints, so ``businessobjects.checks`` can hand them to the system check
framework unchanged) plus a one-line summary for ``merp_doctor``. Probes never
raise: a probe that cannot reach its service reports that as its failure.
"""

from collections.abc import Callable

from .backends import celery_workers, redis
from .configuration import DEV_SECRET_KEY_PREFIX, business_objects, production_settings
from .outcome import FAIL, PASS, WARN, Outcome
from .storage import FRAMEWORK_APPS, database, migrations, outbox_backlog, tables

__all__ = [
    "DEV_SECRET_KEY_PREFIX",
    "DIAGNOSTICS",
    "FAIL",
    "FRAMEWORK_APPS",
    "PASS",
    "WARN",
    "Outcome",
    "business_objects",
    "celery_workers",
    "database",
    "migrations",
    "outbox_backlog",
    "production_settings",
    "redis",
    "tables",
]

# -- the doctor's list -------------------------------------------------------------

# (name, probe) in the order merp_doctor prints them; dependent probes follow the
# ones they depend on so the first FAIL is the one to fix first.
DIAGNOSTICS: list[tuple[str, Callable[[], Outcome]]] = [
    ("database", database),
    ("migrations", migrations),
    ("tables", tables),
    ("business objects", business_objects),
    ("redis", redis),
    ("celery", celery_workers),
    ("outbox", outbox_backlog),
    ("settings", production_settings),
]
