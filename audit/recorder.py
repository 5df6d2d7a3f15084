"""History writes the services make beyond simple-history's per-save signal."""

from django.utils import timezone

from businessobjects import context
from businessobjects.conf import merp_settings
from businessobjects.db import insert_rows


def bulk_record(
    instances: list, history_type: str, *, user, changes: list[dict]
) -> None:
    """Insert one history row per instance, in one INSERT, with per-row change sets.

    simple-history's ``bulk_create_with_history`` takes one set of extra attributes
    for all rows; our rows each carry their own ``changes``, so we build them here
    the way simple-history does and insert them in bulk.
    """
    if not instances or not merp_settings.AUDIT_ENABLED:
        return
    model = type(instances[0])
    history_model = model.history.model
    fields = model.history.model.tracked_fields
    now = timezone.now()
    correlation_id = context.get_correlation_id()
    user = user if user is not None else context.get_user()
    rows = [
        history_model(
            history_date=now,
            history_type=history_type,
            history_user=user,
            correlation_id=correlation_id,
            changes=change_set,
            **{field.attname: getattr(instance, field.attname) for field in fields},
        )
        for instance, change_set in zip(instances, changes, strict=True)
    ]
    insert_rows(history_model, rows)
