"""Moving outbox rows to Redis Streams: sequence, forward, prune.

Three steps, each safe to run in several processes at once:

1. ``sequence_outbox`` gives committed rows a ``position``, in id order, one
   sequencer at a time (the ``OutboxSequence`` row lock, held until commit), so
   positions become visible in increasing order with no gaps and, per object, in
   commit order (the services write an object's outbox row after taking its row
   lock, so one object's ids already follow its commits).
2. ``forward_outbox`` claims unsent rows in position order with ``SELECT ... FOR
   UPDATE SKIP LOCKED`` in short transactions, XADDs them in one pipelined
   MULTI/EXEC round trip and marks them sent. A row is held back while an earlier
   row of the same object is being sent by another relay, so each object's
   events reach the stream in order.
3. ``prune_sent`` deletes sent rows older than ``EVENT_RETENTION_DAYS``.

A crash between XADD and commit leaves the rows unsent: they are sent again
(delivery is at least once, every entry carries its unique ``event_id``).
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta

import redis
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from businessobjects.conf import merp_settings

from . import streams
from .models import OutboxEvent, OutboxSequence

logger = logging.getLogger(__name__)

# Rows given positions per sequencing transaction.
SEQUENCE_BATCH_SIZE = 5000
# Rows deleted per pruning statement.
PRUNE_BATCH_SIZE = 5000


@dataclass
class ForwardResult:
    sequenced: int = 0
    claimed: int = 0
    sent: int = 0
    # Held back behind an earlier event of the same object that another relay
    # was sending; they go with a later batch.
    deferred: int = 0
    failed: int = 0
    # The time budget ran out with work left: the caller should go on.
    more: bool = False

    def add(self, other: "ForwardResult") -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed

    def as_dict(self) -> dict:
        return asdict(self)


# -- sequencing --------------------------------------------------------------


def sequence_outbox(*, batch_size: int = SEQUENCE_BATCH_SIZE) -> int:
    """Give every committed row without a position the next positions; return how
    many rows were sequenced.

    Call it outside any transaction (after commit, in a task or command): each
    batch holds the sequence row lock until its own commit.
    """
    total = 0
    while True:
        count = _sequence_batch(batch_size)
        total += count
        if count < batch_size:
            return total


def _sequence_batch(batch_size: int) -> int:
    unsequenced = OutboxEvent.objects.filter(position__isnull=True)
    # Checked before locking so that idle calls stay read-only.
    if not unsequenced.exists():
        return 0
    with transaction.atomic():
        counter = _lock_counter()
        # Read after the lock: sees every row a previous sequencer committed.
        ids = list(unsequenced.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return 0
        _assign_positions(ids, first=counter.last_position + 1)
        counter.last_position += len(ids)
        counter.save(update_fields=["last_position"])
    return len(ids)


def _lock_counter() -> OutboxSequence:
    counter = OutboxSequence.objects.select_for_update().filter(pk=1).first()
    if counter is None:
        # First use (or a flushed table): continue above any position in use.
        top = OutboxEvent.objects.aggregate(top=Max("position"))["top"] or 0
        OutboxSequence.objects.bulk_create(
            [OutboxSequence(pk=1, last_position=top)], ignore_conflicts=True
        )
        counter = OutboxSequence.objects.select_for_update().get(pk=1)
    return counter


def _assign_positions(ids: list[int], *, first: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OutboxEvent._meta.db_table} AS o "
                "SET position = %s + v.ord - 1 "
                "FROM unnest(%s::bigint[]) WITH ORDINALITY AS v(id, ord) "
                "WHERE o.id = v.id",
                [first, ids],
            )
        return
    rows = [OutboxEvent(pk=pk, position=first + i) for i, pk in enumerate(ids)]
    OutboxEvent.objects.bulk_update(rows, ["position"], batch_size=500)


# -- forwarding --------------------------------------------------------------


def forward_outbox(
    *,
    batch_size: int | None = None,
    time_budget: float | None = None,
    client: redis.Redis | None = None,
) -> ForwardResult:
    """Sequence, then send unsent rows to their streams until none is left.

    Without a Redis for events (``EVENT_REDIS_URL`` / ``REDIS_URL``) only the
    sequencing runs and events stay in the outbox. Raises ``redis.RedisError``
    when Redis fails; the failed rows stay unsent, with ``attempts`` and
    ``last_error`` recorded.
    """
    result = ForwardResult(sequenced=sequence_outbox())
    if client is None:
        if not streams.is_configured():
            return result
        client = streams.get_client()
    batch_size = batch_size or merp_settings.EVENT_FORWARD_BATCH_SIZE
    if time_budget is None:
        time_budget = merp_settings.EVENT_FORWARD_TIME_BUDGET
    deadline = time.monotonic() + time_budget
    while True:
        batch = forward_batch(client, batch_size=batch_size)
        result.add(batch)
        if batch.claimed < batch_size or batch.sent == 0:
            # Drained, or only rows held back behind another relay's batch.
            return result
        if time.monotonic() >= deadline:
            result.more = True
            return result


def forward_batch(client: redis.Redis, *, batch_size: int) -> ForwardResult:
    """Claim, send and mark one batch in one short transaction."""
    failure: redis.RedisError | None = None
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, position__isnull=False)
            .order_by("position")[:batch_size]
        )
        if not rows:
            return ForwardResult()
        blocked = _keys_sent_elsewhere(rows)
        ready = [row for row in rows if row.aggregate_key not in blocked]
        result = ForwardResult(claimed=len(rows), deferred=len(rows) - len(ready))
        if ready:
            try:
                replies = _xadd(client, ready)
            except redis.RedisError as exc:
                failure = exc
                replies = [exc] * len(ready)
            sent, failed = _split(ready, replies)
            _mark_sent(sent)
            _mark_failed(failed)
            result.sent, result.failed = len(sent), len(failed)
            if failed and failure is None:
                failure = next(r for _, r in failed)
    if failure is not None:
        raise failure
    return result


def _keys_sent_elsewhere(rows: list[OutboxEvent]) -> set[tuple[str, str]]:
    """Objects of ``rows`` with an earlier unsent row outside ``rows``.

    Such a row is locked by another relay right now (the claim took the lowest
    unlocked positions) or was released unsent after it; either way it must reach
    the stream first, so this batch holds those objects back.
    """
    keys = {row.aggregate_key for row in rows}
    earlier = (
        OutboxEvent.objects.filter(sent_at__isnull=True, position__lt=rows[-1].position)
        .exclude(pk__in=[row.pk for row in rows])
        .values_list("aggregate_type", "aggregate_id")
    )
    return {key for key in earlier if key in keys}


def _xadd(client: redis.Redis, rows: Iterable[OutboxEvent]) -> list:
    # MULTI/EXEC: an error Redis detects while queueing (OOM, ...) rejects the
    # whole batch, so an object's later event cannot land without its earlier one.
    maxlen = merp_settings.EVENT_STREAM_MAXLEN
    pipe = client.pipeline(transaction=True)
    for row in rows:
        pipe.xadd(row.stream, row.as_stream_fields(), maxlen=maxlen, approximate=True)
    return pipe.execute(raise_on_error=False)


def _split(rows: list[OutboxEvent], replies: list) -> tuple[list, list]:
    """Pair rows with replies; an object with a failed entry keeps its later rows
    unsent too (sent again after it: a duplicate, never a reordering)."""
    sent, failed, broken = [], [], set()
    for row, reply in zip(rows, replies, strict=True):
        if isinstance(reply, Exception) or row.aggregate_key in broken:
            broken.add(row.aggregate_key)
            failed.append((row, reply if isinstance(reply, Exception) else None))
        else:
            sent.append((row, reply))
    return sent, failed


def _mark_sent(sent: list[tuple[OutboxEvent, str]]) -> None:
    if not sent:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OutboxEvent._meta.db_table} AS o "
                "SET sent_at = %s, stream_id = v.sid, attempts = o.attempts + 1, "
                "last_error = '' "
                "FROM unnest(%s::bigint[], %s::text[]) AS v(id, sid) "
                "WHERE o.id = v.id",
                [now, [row.pk for row, _ in sent], [str(sid) for _, sid in sent]],
            )
        return
    for row, stream_id in sent:
        row.sent_at, row.stream_id, row.last_error = now, str(stream_id), ""
        row.attempts += 1
    OutboxEvent.objects.bulk_update(
        [row for row, _ in sent],
        ["sent_at", "stream_id", "attempts", "last_error"],
        batch_size=500,
    )


def _mark_failed(failed: list[tuple[OutboxEvent, Exception | None]]) -> None:
    if not failed:
        return
    error = next((str(exc) for _, exc in failed if exc is not None), "")
    message = (error or "held back after an earlier event of the object failed")[:1000]
    logger.warning("Forwarding %d outbox events failed: %s", len(failed), message)
    OutboxEvent.objects.filter(pk__in=[row.pk for row, _ in failed]).update(
        attempts=F("attempts") + 1, last_error=message
    )


# -- retention ---------------------------------------------------------------


def prune_sent(*, days: int | None = None) -> int:
    """Delete sent rows older than ``days`` (``EVENT_RETENTION_DAYS``); unsent
    rows are never pruned. Return how many were deleted."""
    days = merp_settings.EVENT_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    total = 0
    while True:
        ids = list(
            OutboxEvent.objects.filter(sent_at__lt=cutoff)
            .order_by("sent_at")
            .values_list("pk", flat=True)[:PRUNE_BATCH_SIZE]
        )
        if not ids:
            return total
        deleted, _ = OutboxEvent.objects.filter(pk__in=ids).delete()
        total += deleted


def pending_count() -> int:
    return OutboxEvent.objects.filter(sent_at__isnull=True).count()
