"""Writing events to the outbox, inside the caller's transaction."""

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from businessobjects.conf import merp_settings
from businessobjects.db import insert_rows, insert_values

from . import relay, streams
from .models import OutboxEvent

logger = logging.getLogger(__name__)


def stream_name(aggregate_type: str) -> str:
    return f"{merp_settings.EVENT_STREAM_PREFIX}{aggregate_type}_events"


def build_event(
    *,
    aggregate_type: str,
    action: str,
    aggregate_id,
    company_id: int,
    user_id: int | None,
    correlation_id: str,
    version: int,
    payload: dict,
    changes: dict,
) -> OutboxEvent:
    return OutboxEvent(
        event_type=f"{aggregate_type}.{action}",
        stream=stream_name(aggregate_type),
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        company_id=company_id,
        user_id=user_id,
        correlation_id=correlation_id,
        occurred_at=timezone.now(),
        version=version,
        payload=payload,
        changes=changes,
    )


def enqueue(events: list[OutboxEvent]) -> list[OutboxEvent]:
    """Insert ``events``; call inside the write's transaction.

    After the transaction commits, ``relay_after_commit`` hands them on; a
    rollback discards it with the rows.
    """
    if not events or not merp_settings.EVENT_PUBLISHING_ENABLED:
        return []
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        insert_rows(OutboxEvent, events)
    _relay_on_commit()
    return events


# Columns of the rows enqueue_many() writes; the others take their defaults.
_COLUMNS = (
    "event_id",
    "event_type",
    "stream",
    "aggregate_type",
    "aggregate_id",
    "company_id",
    "user_id",
    "correlation_id",
    "occurred_at",
    "version",
    "payload",
    "changes",
)


def enqueue_many(
    *,
    aggregate_type: str,
    action: str,
    user_id: int | None,
    correlation_id: str,
    events: Iterable[tuple[Any, int, int, dict, dict]],
) -> int:
    """Insert events of one kind, as ``build_event`` + ``enqueue`` would, for bulk
    writes: ``events`` yields ``(aggregate_id, company_id, version, payload,
    changes)``. Rows go as tuples (COPY on PostgreSQL), not model instances.
    Returns how many were written; call inside the write's transaction.
    """
    if not merp_settings.EVENT_PUBLISHING_ENABLED:
        return 0
    event_type = f"{aggregate_type}.{action}"
    stream = stream_name(aggregate_type)
    now = timezone.now
    rows = [
        (
            uuid.uuid4(),
            event_type,
            stream,
            aggregate_type,
            str(aggregate_id),
            company_id,
            user_id,
            correlation_id,
            now(),
            version,
            payload,
            changes,
        )
        for aggregate_id, company_id, version, payload, changes in events
    ]
    if rows:
        insert_values(OutboxEvent, _COLUMNS, rows)
        _relay_on_commit()
    return len(rows)


def relay_after_commit() -> None:
    """Hand the committed events on: sequence them (the API shows them at once)
    and make sure a forwarding task is queued.

    With Redis, sequencing here is opportunistic: one batch at most (a bulk
    import leaves the rest to the worker) and never waiting for another
    sequencer (it, or the queued task, takes these rows). Without Redis, or when
    no task can be queued, this process sequences everything.

    Nothing here may fail the write that has just committed: on any error the
    events wait in the outbox for the next call or the beat sweep.
    """
    if streams.is_configured():
        _sequence(wait=False, max_batches=1, pending=True)
        if _queue_forwarding():
            return
    _sequence(wait=True, pending=True)


def _sequence(**options) -> None:
    try:
        relay.sequence_outbox(**options)
    except Exception:
        logger.exception("Sequencing the outbox failed; the next call retries.")


def _queue_forwarding() -> bool:
    """Queue a forwarding task unless one is queued and not started yet; return
    False when none could be queued."""
    from .tasks import forward_outbox

    try:
        queue = streams.claim_forward_kick()
    except Exception:
        queue = True  # the streams' Redis is down; the broker may not be
    if not queue:
        return True  # the queued task has not started: it will see these rows
    try:
        forward_outbox.apply_async(retry=False)
        return True
    except Exception as exc:
        # Redis or the broker is down: the events are safe in the outbox and the
        # beat sweep sends them.
        logger.warning("Could not queue outbox forwarding: %s", exc)
        streams.release_forward_kick()
        return False


def _relay_on_commit() -> None:
    # One callback per transaction is enough (a bulk write enqueues per batch).
    # A pending callback was registered at an enclosing savepoint (rolled back
    # together with these rows) or at a released one (can no longer roll back
    # alone), so it runs whenever these rows commit.
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(
        func is relay_after_commit for _, func, _ in conn.run_on_commit
    ):
        return
    transaction.on_commit(relay_after_commit, robust=True)
