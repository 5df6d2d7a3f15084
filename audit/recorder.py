"""The one history writer: every history row the services make is written here.

simple-history's ``post_save`` / ``post_delete`` are silenced for the services'
writes (``skip_history_when_saving``); single and bulk writes, of business objects
and of custom-field values alike, call ``record`` after writing the rows. It
builds history rows the way simple-history does, with what its signals cannot
carry: a change set per row, the correlation id, the reason.
"""

import functools
from collections.abc import Iterable, Sequence

from django.utils import timezone

from businessobjects import context
from businessobjects.conf import merp_settings
from businessobjects.db import insert_row, insert_values

# The history columns besides the tracked fields and the change set, in the
# order of the constant part of each row.
HISTORY_COLUMNS = (
    "history_date",
    "history_type",
    "history_user_id",
    "history_change_reason",
    "correlation_id",
)


def record(
    instances: Sequence,
    history_type: str,
    *,
    user=None,
    changes: Sequence[dict] | None = None,
    reason: str | None = None,
) -> None:
    """Write one history row per instance (``+`` created, ``~`` changed, ``-``
    deleted), in one batch, each with its change set from ``changes``.

    ``user`` and ``reason`` default to the context's. simple-history's
    ``bulk_create_with_history`` / ``bulk_update_with_history`` take one set of
    extra attributes for all rows, and the latter snapshots every object it is
    given whatever ``update_fields`` says (simple-history #1363); the services
    pass only objects that changed.
    """
    if not instances:
        return
    history_model = history_model_of(type(instances[0]))
    tracked = [field.attname for field in history_model.tracked_fields]
    record_rows(
        history_model,
        tracked,
        ([getattr(instance, name) for name in tracked] for instance in instances),
        history_type,
        user=user,
        changes=changes,
        reason=reason,
    )


def record_rows(
    history_model,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    history_type: str,
    *,
    user=None,
    changes: Sequence[dict] | None = None,
    reason: str | None = None,
) -> None:
    """``record`` for rows given as tuples of the tracked ``columns`` (the bulk
    paths build rows as tuples: building model instances cost more than
    writing them)."""
    if not merp_settings.AUDIT_ENABLED:
        return
    user = user if user is not None else context.get_user()
    reason = reason if reason else context.get_change_reason()
    constant = (
        timezone.now(),
        history_type,
        getattr(user, "pk", None),
        reason,
        context.get_correlation_id(),
    )
    names = [*columns, *HISTORY_COLUMNS]
    if changes is None:
        values = [(*row, *constant) for row in rows]
    else:
        names.append("changes")
        values = [
            (*row, *constant, change_set)
            for row, change_set in zip(rows, changes, strict=True)
        ]
    if len(values) == 1:
        # One write, one plain INSERT (COPY pays off only for batches), without
        # the model's save(): no history signals listen to history rows.
        insert_row(history_model, names, values[0])
        return
    insert_values(history_model, names, values)


@functools.cache
def history_model_of(model):
    """The history model of ``model``: simple-history's ``model.history``
    descriptor builds a manager class on every access (inspect.getmembers),
    which cost a sixth of an API create's CPU."""
    return model.history.model
