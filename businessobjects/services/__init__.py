"""The single write path for business objects.

Every create, update and delete runs in ONE transaction that writes, together:
the row, its custom-field values (``extensions.values``), its history row
(``audit.recorder.record``) and its outbox event (``events.outbox``). Views,
admin, tasks and commands call these functions; nothing else saves a business
object.

- ``single``: ``create``, ``update``, ``delete``;
- ``restore``: ``restore`` (undelete: the object back under its id);
- ``bulk``: ``bulk_create``, ``bulk_update``;
- ``steps``: what every write does (lock, diff, save, publish);
- ``validation``: fields, references, custom fields, versions.
"""

from .bulk import bulk_create, bulk_update
from .restore import restore
from .single import create, delete, update
from .validation import merge_errors

__all__ = [
    "bulk_create",
    "bulk_update",
    "create",
    "delete",
    "merge_errors",
    "restore",
    "update",
]
