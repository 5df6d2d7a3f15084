"""History rows for extension values written in bulk (simple-history's shape).

Single writes get their history from simple-history's signals; bulk paths build
the rows here, like ``audit.recorder`` does for business objects, because
simple-history's bulk helpers neither send the signal that sets the correlation
id nor know deletes.
"""

from django.utils import timezone

from audit.recorder import HISTORY_COLUMNS
from businessobjects import context
from businessobjects.conf import merp_settings
from businessobjects.db import insert_values

from .models import ExtensionValue


def record(rows: list[ExtensionValue], history_type: str, *, user) -> None:
    """Write one history row per value row, in one batch (COPY on PostgreSQL)."""
    tracked = [f.attname for f in ExtensionValue.history.model.tracked_fields]
    record_values(
        tracked,
        [[getattr(row, name) for name in tracked] for row in rows],
        history_type,
        user=user,
    )


def record_values(columns: list[str], rows: list, history_type: str, *, user) -> None:
    """``record`` for value rows given as tuples of the tracked ``columns``."""
    if not rows or not merp_settings.AUDIT_ENABLED:
        return
    user = user if user is not None else context.get_user()
    constant = (
        timezone.now(),
        history_type,
        getattr(user, "pk", None),
        context.get_change_reason(),
        context.get_correlation_id(),
    )
    insert_values(
        ExtensionValue.history.model,
        [*columns, *HISTORY_COLUMNS],
        ((*row, *constant) for row in rows),
    )
