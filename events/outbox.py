"""Writing events to the outbox, inside the caller's transaction."""

import functools
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from businessobjects.conf import merp_settings
from businessobjects.db import insert_values

from . import envelope, relay, streams
from .models import OutboxEvent, OutboxSequence

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


def enqueue(event: OutboxEvent, *, sequence: bool = False) -> OutboxEvent | None:
    """Insert ``event``; call inside the write's transaction.

    ``sequence=True`` (the caller commits right after this insert, as a service
    write in its own transaction does): the insert also gives the event its
    position, when it can do so at once (``_insert_sequenced``). Otherwise, after
    the transaction commits, ``relay_after_commit`` sequences it and hands it on;
    a rollback discards it with the row. Many events of one kind: ``enqueue_many``.
    """
    if not merp_settings.EVENT_PUBLISHING_ENABLED:
        return None
    connection = transaction.get_connection()
    if sequence and connection.vendor == "postgresql":
        _insert_sequenced(connection, event)
    else:
        event.save(force_insert=True)
    if event.position is None:
        _relay_on_commit()
    else:
        _forward_on_commit()
    return event


@functools.cache
def _sequenced_insert_sql() -> tuple[str, tuple]:
    # PostgreSQL only (the caller checks).
    def quote(name: str) -> str:
        return '"{}"'.format(name.replace('"', '""'))

    opts = OutboxEvent._meta
    fields = tuple(
        f for f in opts.concrete_fields if not f.primary_key and f.name != "position"
    )
    outbox, counter = quote(opts.db_table), quote(OutboxSequence._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    # The counter row is taken with SKIP LOCKED: a write never waits for
    # another one's commit (that would serialise every commit of the database);
    # it leaves its event to the after-commit sequencer instead. An earlier
    # unsequenced event of the same object (committed: this transaction holds
    # the object's row lock) must get its position first: then too.
    sql = f"""WITH counter AS (
            SELECT last_position FROM {counter} WHERE id = 1 AND NOT EXISTS (
                SELECT 1 FROM {outbox}
                WHERE aggregate_type = %s AND aggregate_id = %s
                AND sent_at IS NULL AND position IS NULL
            )
            FOR UPDATE SKIP LOCKED
        ), moved AS (
            UPDATE {counter} AS c SET last_position = counter.last_position + 1
            FROM counter WHERE c.id = 1 RETURNING c.last_position
        )
        INSERT INTO {outbox} ({columns}, position)
        VALUES ({", ".join(["%s"] * len(fields))}, (SELECT last_position FROM moved))
        RETURNING id, position
    """
    return sql, fields


def _insert_sequenced(connection, event: OutboxEvent) -> None:
    """Insert ``event`` with the next position, in one statement, when the counter
    is free and no earlier event of its object waits for one; else with none.

    Sequencing in the write's transaction keeps the guarantees of the sequencer
    (``events.relay.sequence_outbox``): the counter's row lock is held until this
    transaction commits, so positions become visible in increasing order with no
    gaps (a rollback takes the counter's move back with the event), and an
    object's events get positions in commit order. The caller commits right
    after this statement, so the lock is held for one round trip.
    """
    sql, fields = _sequenced_insert_sql()
    params = [event.aggregate_type, event.aggregate_id]
    params += [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk, event.position = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


# Columns of the rows enqueue_many() writes; the others take their defaults.
_COLUMNS = ("stream", *envelope.FIELDS)


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
            stream,
            uuid.uuid4(),
            event_type,
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


# The kick (queuing a forwarding task after a commit) must never stall the write
# that has just committed: the events are safe in the outbox and the beat sweep
# sends them anyway. Celery's own publish waits on the broker: even with
# retry=False, kombu's default channel retries the connection for
# broker_connection_timeout (about 6 s per write while Redis is down). The kick
# instead makes ONE connection attempt bounded by KICK_TIMEOUT, and after a
# failure this process skips kicks for KICK_PAUSE seconds.
KICK_TIMEOUT = 0.5
KICK_PAUSE = 5.0

_kick_lock = threading.Lock()
_kick_pools: dict = {}
_kick_paused_until = 0.0


def _kick_pool(app):
    """This process's pool of bounded broker connections for kicks."""
    key = (os.getpid(), app.conf.broker_write_url or app.conf.broker_url)
    with _kick_lock:
        pool = _kick_pools.get(key)
        if pool is None:
            options = {
                **(app.conf.broker_transport_options or {}),
                "max_retries": 0,  # kombu: one connection attempt, no retry loop
                "socket_connect_timeout": KICK_TIMEOUT,
                "socket_timeout": KICK_TIMEOUT,
            }
            connection = app.connection_for_write(
                transport_options=options, connect_timeout=KICK_TIMEOUT
            )
            pool = _kick_pools[key] = connection.Pool(
                limit=app.conf.broker_pool_limit or 10
            )
        return pool


def _drop_kick_pool(app) -> None:
    """Forget connections a failed kick may have left half-open."""
    key = (os.getpid(), app.conf.broker_write_url or app.conf.broker_url)
    with _kick_lock:
        pool = _kick_pools.pop(key, None)
    if pool is not None:
        try:
            pool.force_close_all()
        except Exception:
            pass


def _kick(task) -> None:
    """Queue ``task`` with one bounded publish attempt (raises on failure)."""
    global _kick_paused_until
    app = task.app
    if app.conf.task_always_eager:
        task.apply_async()
        return
    try:
        with _kick_pool(app).acquire(block=True, timeout=KICK_TIMEOUT) as connection:
            task.apply_async(retry=False, connection=connection)
    except Exception:
        _kick_paused_until = time.monotonic() + KICK_PAUSE
        _drop_kick_pool(app)
        raise


def _queue_forwarding() -> bool:
    """Queue a forwarding task unless one is queued and not started yet; return
    False when none could be queued."""
    from .tasks import forward_outbox

    if time.monotonic() < _kick_paused_until:
        return False  # a kick failed moments ago: Redis is not tried again yet
    try:
        queue = streams.claim_forward_kick()
    except Exception:
        queue = True  # the streams' Redis is down; the broker may not be
    if not queue:
        return True  # the queued task has not started: it will see these rows
    try:
        _kick(forward_outbox)
        return True
    except Exception as exc:
        # Redis or the broker is down: the events are safe in the outbox and the
        # beat sweep sends them.
        logger.warning("Could not queue outbox forwarding: %s", exc)
        streams.release_forward_kick()
        return False


def forward_after_commit() -> None:
    """Hand sequenced events on: make sure a forwarding task is queued (without
    Redis they wait in the outbox, sequenced, as ``relay_after_commit`` leaves
    them)."""
    if streams.is_configured() and not _queue_forwarding():
        _sequence(wait=True)  # what relay_after_commit does without a task


def _forward_on_commit() -> None:
    conn = transaction.get_connection()
    if not streams.is_configured():
        return
    if conn.in_atomic_block and any(
        func in (relay_after_commit, forward_after_commit)
        for _, func, _ in conn.run_on_commit
    ):
        return
    transaction.on_commit(forward_after_commit, robust=True)


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
