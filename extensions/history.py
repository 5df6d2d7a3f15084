"""History rows for extension values written in bulk (simple-history's shape).

Single writes get their history from simple-history's signals; bulk paths build
the rows here, like ``audit.recorder`` does for business objects, because
simple-history's bulk helpers neither send the signal that sets the correlation
id nor know deletes.
"""

from django.utils import timezone

from audit import context as audit_context
from businessobjects import context
from businessobjects.conf import merp_settings
from businessobjects.db import insert_rows

from .models import ExtensionValue


def record(rows: list[ExtensionValue], history_type: str, *, user) -> None:
    """Write one history row per value row, in one batch (COPY on PostgreSQL)."""
    if not rows or not merp_settings.AUDIT_ENABLED:
        return
    history = ExtensionValue.history.model
    tracked = history.tracked_fields
    user = user if user is not None else context.get_user()
    correlation_id = context.get_correlation_id()
    reason = audit_context.get_change_reason()
    now = timezone.now()
    insert_rows(
        history,
        [
            history(
                history_date=now,
                history_type=history_type,
                history_user=user,
                history_change_reason=reason,
                correlation_id=correlation_id,
                **{f.attname: getattr(row, f.attname) for f in tracked},
            )
            for row in rows
        ],
    )
