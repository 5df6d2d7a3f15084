"""From outbox rows to deliveries: one cursor over the outbox positions.

Positions are handed out after commit, one sequencer at a time, so they become
visible in increasing order with no gaps (``events.relay``): every row at or
below the sequence counter's committed value is visible, and a cursor that only
moves up to that value never steps over a row that commits later. The streams
would do too (a consumer group per endpoint), but the outbox is where a replay
reads from anyway, works without the streams' Redis, and one cursor serves every
endpoint.
"""

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from events import relay
from events.models import OutboxEvent, OutboxSequence

from .matching import matches
from .models import Delivery, Endpoint, FanoutCursor

logger = logging.getLogger(__name__)

# Outbox positions scanned per short transaction.
FANOUT_BATCH_SIZE = 2000
# Seconds one fan-out call works before handing over (the task queues another).
FANOUT_TIME_BUDGET = 30


@dataclass
class FanoutResult:
    scanned: int = 0
    created: int = 0
    more: bool = False
    endpoints: set[int] = field(default_factory=set)


def render_body(event: OutboxEvent) -> str:
    """The delivery body: the stream entry's fields with ``payload`` and
    ``changes`` as JSON objects (DESIGN.md, "Webhooks")."""
    envelope = event.as_stream_fields()
    envelope["payload"] = event.payload
    envelope["changes"] = event.changes
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False)


def build_delivery(endpoint: Endpoint, event: OutboxEvent, body: str) -> Delivery:
    return Delivery(
        company_id=endpoint.company_id,
        endpoint=endpoint,
        event_id=event.event_id,
        event_type=event.event_type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        position=event.position,
        occurred_at=event.occurred_at,
        body=body,
        next_attempt_at=timezone.now(),
    )


def deliveries_for(
    events: Iterable[OutboxEvent], endpoints: Iterable[Endpoint]
) -> list[Delivery]:
    """The deliveries ``events`` make for the active ``endpoints`` that select them."""
    by_company: dict[int, list[Endpoint]] = defaultdict(list)
    for endpoint in endpoints:
        by_company[endpoint.company_id].append(endpoint)
    rows = []
    for event in events:
        body = None
        for endpoint in by_company.get(event.company_id, ()):
            if event.position <= endpoint.start_position or not matches(
                endpoint.event_types,
                endpoint.changed_fields,
                event.event_type,
                event.changes,
            ):
                continue
            body = body or render_body(event)
            rows.append(build_delivery(endpoint, event, body))
    return rows


def fan_out(
    *, batch_size: int = FANOUT_BATCH_SIZE, time_budget: float = FANOUT_TIME_BUDGET
) -> FanoutResult:
    """Create the deliveries of every event past the cursor; call outside a
    transaction. Safe in several processes at once (the cursor's row lock)."""
    relay.sequence_outbox(wait=False)
    result = FanoutResult()
    deadline = time.monotonic() + time_budget
    while True:
        scanned, created, endpoints, top = _fan_out_batch(batch_size)
        result.scanned += scanned
        result.created += created
        result.endpoints |= endpoints
        if not top:
            return result
        if time.monotonic() >= deadline:
            result.more = True
            return result


def _fan_out_batch(batch_size: int) -> tuple[int, int, set[int], bool]:
    """One short transaction; returns (positions scanned, deliveries created,
    endpoints that got some, whether positions are left)."""
    with transaction.atomic():
        cursor = _lock_cursor()
        # The counter's committed value: every position up to it is visible.
        last = (
            OutboxSequence.objects.filter(pk=1)
            .values_list("last_position", flat=True)
            .first()
            or 0
        )
        if last <= cursor.last_position:
            return 0, 0, set(), False
        upper = min(last, cursor.last_position + batch_size)
        endpoints = list(Endpoint.objects.filter(is_active=True))
        rows: list[Delivery] = []
        if endpoints:
            events = OutboxEvent.objects.filter(
                position__gt=cursor.last_position,
                position__lte=upper,
                company_id__in={e.company_id for e in endpoints},
            ).order_by("position")
            rows = deliveries_for(events, endpoints)
            # A replay may have created some already.
            Delivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        scanned = upper - cursor.last_position
        cursor.last_position = upper
        cursor.save(update_fields=["last_position"])
    return scanned, len(rows), {row.endpoint_id for row in rows}, upper < last


def _lock_cursor() -> FanoutCursor:
    cursor = FanoutCursor.objects.select_for_update().filter(pk=1).first()
    if cursor is None:
        # First run (or a flushed table): start where the oldest endpoint starts,
        # or at the current position when there is none.
        start = Endpoint.objects.aggregate(start=Min("start_position"))["start"]
        if start is None:
            start = (
                OutboxSequence.objects.filter(pk=1)
                .values_list("last_position", flat=True)
                .first()
                or 0
            )
        FanoutCursor.objects.bulk_create(
            [FanoutCursor(pk=1, last_position=start)], ignore_conflicts=True
        )
        cursor = FanoutCursor.objects.select_for_update().get(pk=1)
    return cursor


def lag() -> int:
    """Outbox positions not fanned out yet."""
    last = (
        OutboxSequence.objects.filter(pk=1)
        .values_list("last_position", flat=True)
        .first()
        or 0
    )
    done = (
        FanoutCursor.objects.filter(pk=1)
        .values_list("last_position", flat=True)
        .first()
    )
    if done is None:  # no fan-out yet: from where the oldest endpoint starts
        done = Endpoint.objects.aggregate(start=Min("start_position"))["start"]
    return 0 if done is None else max(0, last - done)
