"""Writing events to the outbox, inside the caller's transaction."""

from django.utils import timezone

from businessobjects.conf import merp_settings
from businessobjects.db import insert_rows

from .models import OutboxEvent


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
    """Insert ``events``; call inside the write's transaction."""
    if not events or not merp_settings.EVENT_PUBLISHING_ENABLED:
        return []
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        insert_rows(OutboxEvent, events)
    return events
