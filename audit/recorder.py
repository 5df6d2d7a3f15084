"""History writes the services make beyond simple-history's per-save signal."""

from django.utils import timezone

from businessobjects import context
from businessobjects.conf import merp_settings
from businessobjects.context import clean_reason
from businessobjects.db import insert_values

__all__ = ["bulk_record", "clean_reason"]


def bulk_record(
    instances: list,
    history_type: str,
    *,
    user,
    changes: list[dict],
    reason: str | None = None,
) -> None:
    """Insert one history row per instance, in one batch, with per-row change sets.

    simple-history's ``bulk_create_with_history`` / ``bulk_update_with_history``
    take one set of extra attributes for all rows, and the latter snapshots every
    object it is given whatever ``update_fields`` says (simple-history #1363); our
    rows each carry their own ``changes`` and the services pass only objects that
    changed, so we build the rows here the way simple-history does.
    """
    if not instances or not merp_settings.AUDIT_ENABLED:
        return
    model = type(instances[0])
    history_model = model.history.model
    tracked = [field.attname for field in history_model.tracked_fields]
    now = timezone.now()
    correlation_id = context.get_correlation_id()
    user = user if user is not None else context.get_user()
    reason = reason if reason else context.get_change_reason()
    # Rows as tuples, not history model instances: building those cost more
    # than writing them.
    constant = (now, history_type, getattr(user, "pk", None), reason, correlation_id)
    insert_values(
        history_model,
        [*tracked, *HISTORY_COLUMNS, "changes"],
        (
            (*(getattr(instance, name) for name in tracked), *constant, change_set)
            for instance, change_set in zip(instances, changes, strict=True)
        ),
    )


# The history columns besides the tracked fields and the change set, in the
# order of the constant part of each row above.
HISTORY_COLUMNS = (
    "history_date",
    "history_type",
    "history_user_id",
    "history_change_reason",
    "correlation_id",
)
