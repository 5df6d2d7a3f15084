"""Moving outbox rows to Redis Streams: sequence, forward, prune.

Three steps, each safe to run in several processes at once:

1. ``sequence_outbox`` gives committed rows a ``position``, in id order, one
   sequencer at a time (the ``OutboxSequence`` row lock, held until commit), so
   positions become visible in increasing order with no gaps and, per object, in
   commit order (the services write an object's outbox row after taking its row
   lock, so one object's ids already follow its commits).
2. ``forward_outbox`` claims unsent rows in position order with ``SELECT ... FOR
   UPDATE SKIP LOCKED`` in short transactions (one statement that also renders
   each stream's entries), XADDs them with one script call per stream (one key:
   one hash slot on a Redis Cluster) and marks them sent in one statement. A
   row is held back while an earlier row of the same object is being sent by
   another relay, so each object's events reach the stream in order.
3. ``prune_sent`` deletes sent rows older than ``EVENT_RETENTION_DAYS``.

A crash between XADD and commit leaves the rows unsent: they are sent again
(delivery is at least once, every entry carries its unique ``event_id``).
"""

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import redis
from django.db import connection, transaction
from django.db.models import F, Max, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from businessobjects.conf import merp_settings

from . import envelope, streams
from .models import OutboxEvent, OutboxSequence

logger = logging.getLogger(__name__)


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
    # Highest position claimed by the last batch.
    last_position: int = 0

    def add(self, other: "ForwardResult") -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed

    def as_dict(self) -> dict:
        return asdict(self)


# -- sequencing --------------------------------------------------------------


def sequence_outbox(
    *,
    batch_size: int | None = None,
    wait: bool = True,
    max_batches: int | None = None,
    pending: bool = False,
) -> int:
    """Give every committed row without a position the next positions; return how
    many rows were sequenced.

    ``wait=False`` returns at once when another process is sequencing (it, or
    the next forwarding task, takes these rows too); ``max_batches`` bounds the
    work; ``pending`` says that the caller has just committed rows (a writer),
    so the first batch skips the read-only check for work. Call it outside any
    transaction (after commit, in a task or command): each batch holds the
    sequence row lock until its own commit.
    """
    batch_size = batch_size or merp_settings.EVENT_SEQUENCE_BATCH_SIZE
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        count = _sequence_batch(
            batch_size, wait=wait, check=not (pending and not batches)
        )
        total += count
        batches += 1
        if count < batch_size:
            break
    return total


def _sequence_batch(batch_size: int, *, wait: bool, check: bool = True) -> int:
    unsequenced = OutboxEvent.objects.filter(position__isnull=True)
    # Checked before locking so that idle calls stay read-only.
    if check and not unsequenced.exists():
        return 0
    with transaction.atomic():
        counter = _lock_counter(wait=wait)
        if counter is None:
            return 0
        if connection.vendor == "postgresql":
            # Read after the lock (a statement of its own, so that its snapshot
            # sees every row a previous sequencer committed), assign and count
            # in one round trip: every write sequences its event after commit.
            return _assign_next_positions(batch_size, after=counter.last_position)
        # Read after the lock: sees every row a previous sequencer committed.
        ids = list(unsequenced.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return 0
        _assign_positions(ids, first=counter.last_position + 1)
        counter.last_position += len(ids)
        counter.save(update_fields=["last_position"])
    return len(ids)


def _lock_counter(*, wait: bool = True) -> OutboxSequence | None:
    """Lock the counter row; ``None`` if ``wait`` is false and another holds it."""
    counter = (
        OutboxSequence.objects.select_for_update(skip_locked=not wait)
        .filter(pk=1)
        .first()
    )
    if counter is None:
        if not wait and OutboxSequence.objects.filter(pk=1).exists():
            return None
        # First use (or a flushed table): continue above any position in use.
        top = OutboxEvent.objects.aggregate(top=Max("position"))["top"] or 0
        OutboxSequence.objects.bulk_create(
            [OutboxSequence(pk=1, last_position=top)], ignore_conflicts=True
        )
        counter = OutboxSequence.objects.select_for_update().get(pk=1)
    return counter


def _assign_next_positions(batch_size: int, *, after: int) -> int:
    """Give the first ``batch_size`` unsequenced rows (in id order) the positions
    after ``after`` and move the counter past them; return how many."""
    outbox = OutboxEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH batch AS (
                SELECT id, row_number() OVER (ORDER BY id) AS ord
                FROM {outbox} WHERE position IS NULL ORDER BY id LIMIT %s
            ), assigned AS (
                UPDATE {outbox} AS o SET position = %s + batch.ord
                FROM batch WHERE o.id = batch.id
                RETURNING 1
            ), counted AS (SELECT count(*) AS n FROM assigned)
            UPDATE {OutboxSequence._meta.db_table}
            SET last_position = last_position + counted.n
            FROM counted WHERE id = 1 AND counted.n > 0
            RETURNING counted.n
            """,
            [batch_size, after],
        )
        row = cursor.fetchone()
    return row[0] if row else 0


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
    lanes: int | None = None,
) -> ForwardResult:
    """Sequence, then send unsent rows to their streams until none is left.

    Without a Redis for events (``EVENT_REDIS_URL`` / ``REDIS_URL``) only the
    sequencing runs and events stay in the outbox. Raises ``redis.RedisError``
    when Redis fails; the failed rows stay unsent, with ``attempts`` and
    ``last_error`` recorded.

    With a backlog (a first batch that came back full) up to ``lanes``
    (``EVENT_FORWARD_LANES``) threads forward in turns, each with its own
    database connection: one claims and sends the next batch while another
    marks and commits its own, so PostgreSQL's marking overlaps the rest. Claims
    and sends still happen one at a time, in position order.
    """
    result = ForwardResult(sequenced=sequence_outbox())
    if client is None:
        if not streams.is_configured():
            return result
        client = streams.get_client()
    batch_size = batch_size or merp_settings.EVENT_FORWARD_BATCH_SIZE
    if time_budget is None:
        time_budget = merp_settings.EVENT_FORWARD_TIME_BUDGET
    lanes = lanes or merp_settings.EVENT_FORWARD_LANES
    if connection.vendor != "postgresql":
        lanes = 1  # the in-flight exclusion of the claim is PostgreSQL's
    run = _Run(client, batch_size, time.monotonic() + time_budget, lanes)
    run.lane(0)
    for thread in run.threads:
        thread.join()
    result.add(run.result)
    result.more = run.result.more
    if run.failure is not None:
        raise run.failure
    return result


class _Run:
    """One forwarding run: lanes that claim and send in turns, each then marking
    and committing its batch while the next lane claims and sends.

    Each batch claims past the previous one (``after``): the index of unsent rows
    keeps the entries of rows sent moments ago until VACUUM, and starting every
    claim at the lowest position would step over all of them again. Rows left
    behind (held back, or released by another relay) go with the next run, which
    the task queues when it held rows back. A lane's claim does not hold back
    objects whose earlier rows another lane of this run has sent and not yet
    marked (``in_flight``): they are in the stream already.
    """

    def __init__(self, client, batch_size: int, deadline: float, lanes: int):
        self.client = client
        self.batch_size = batch_size
        self.deadline = deadline
        self.lanes = lanes
        self.turn = threading.Lock()  # claim + send: one lane at a time
        self.after = 0
        self.in_flight: dict[int, str] = {}
        self.done = False
        self.result = ForwardResult()
        self.failure: BaseException | None = None
        self.threads: list[threading.Thread] = []

    def lane(self, index: int) -> None:
        try:
            while self._batch(index):
                pass
        except BaseException as exc:
            with self.turn:
                self.done = True
                self.failure = self.failure or exc
        finally:
            self.in_flight.pop(index, None)
            if index:
                connection.close()

    def _batch(self, index: int) -> bool:
        """Claim, send, mark and commit one batch; return whether to go on."""
        try:
            with transaction.atomic():
                with self.turn:
                    if self.done:
                        return False
                    in_flight = " ".join(
                        ids for lane, ids in self.in_flight.items() if lane != index
                    )
                    claim = claim_batch(
                        self.batch_size, after=self.after, in_flight=in_flight
                    )
                    sent = _send(self.client, claim)
                    self.after = claim.last_position or self.after
                    if claim.claimed < self.batch_size or sent.failure is not None:
                        self.done = True
                    elif time.monotonic() >= self.deadline:
                        self.done = self.result.more = True
                    elif not self.threads and self.lanes > 1:
                        self._start_lanes()
                    self.in_flight[index] = sent.ids
                _mark(sent)
        finally:
            self.in_flight.pop(index, None)
        with self.turn:
            self.result.add(sent.result)
            if sent.failure is not None:
                self.failure = self.failure or sent.failure
        return not self.done

    def _start_lanes(self) -> None:
        for index in range(1, self.lanes):
            thread = threading.Thread(
                target=self.lane, args=(index,), name=f"outbox-lane-{index}"
            )
            self.threads.append(thread)
            thread.start()


@dataclass(slots=True)
class _Sent:
    """What one batch's send did: rows to mark sent (``ids`` with their entry
    ``stream_ids``, both space-separated), rows that failed, and the error."""

    result: ForwardResult
    ids: str = ""
    stream_ids: str = ""
    failed: list[str] = field(default_factory=list)
    failure: redis.RedisError | None = None


def forward_batch(
    client: redis.Redis, *, batch_size: int, after: int = 0
) -> ForwardResult:
    """Claim (positions above ``after``), send and mark one batch in one short
    transaction: one claim statement, one script call per stream, one mark."""
    with transaction.atomic():
        sent = _send(client, claim_batch(batch_size, after=after))
        _mark(sent)
    if sent.failure is not None:
        raise sent.failure
    return sent.result


def _send(client: redis.Redis, claim: "Claim") -> _Sent:
    """XADD the claimed rows, one script call per stream."""
    ready = sum(group.count for group in claim.groups)
    sent = _Sent(
        ForwardResult(
            claimed=claim.claimed,
            deferred=claim.claimed - ready,
            last_position=claim.last_position,
        )
    )
    sent_ids, stream_ids = [], []
    for group in claim.groups:
        if isinstance(sent.failure, redis.ConnectionError | redis.TimeoutError):
            sent.failed.extend(group.ids.split())  # Redis is gone: stop here
            continue
        try:
            added, count, error = _xadd_group(client, group)
        except redis.RedisError as exc:
            sent.failure = sent.failure or exc
            sent.failed.extend(group.ids.split())
            continue
        if error:
            # The script stopped at the failed entry: that one and the rest of
            # the stream stay unsent (sent again later, never reordered).
            sent.failure = sent.failure or redis.ResponseError(error)
            ids = group.ids.split()
            if count:
                sent_ids.append(" ".join(ids[:count]))
                stream_ids.append(added)
            sent.failed.extend(ids[count:])
        else:
            sent_ids.append(group.ids)
            stream_ids.append(added)
    sent.ids, sent.stream_ids = " ".join(sent_ids), " ".join(stream_ids)
    sent.result.failed = len(sent.failed)
    sent.result.sent = ready - len(sent.failed)
    return sent


def _mark(sent: _Sent) -> None:
    if sent.ids:
        _mark_sent(sent.ids, sent.stream_ids)
    if sent.failed:
        _mark_failed(sent.failed, str(sent.failure))


@dataclass(slots=True)
class StreamRow:
    """An outbox row as the relay needs it: where it goes and its entry fields."""

    pk: int
    position: int
    stream: str
    aggregate_key: tuple[str, str]
    fields: dict[str, str]


def stream_rows(queryset, *, lock: bool = False, chunk_size: int | None = None):
    """Return ``queryset`` as ``StreamRow`` values, the JSON fields rendered by the
    database (no decode/encode round trip in Python); ``chunk_size`` streams it."""
    if lock:
        queryset = queryset.select_for_update(skip_locked=True)
    values = queryset.annotate(
        payload_json=Cast("payload", TextField()),
        changes_json=Cast("changes", TextField()),
    ).values_list(*_ROW_COLUMNS, "payload_json", "changes_json")
    if chunk_size:
        values = values.iterator(chunk_size=chunk_size)
    return (_stream_row(*value) for value in values)


# The outbox columns of a stream row: the envelope but its JSON fields, which
# the database renders.
_ROW_COLUMNS = ("pk", "position", "stream", *envelope.FIELDS[:-2])


def _stream_row(pk, position, stream, *values) -> StreamRow:
    fields = dict(
        zip(
            (*envelope.FIELDS[:-2], "payload_json", "changes_json"), values, strict=True
        )
    )
    return StreamRow(
        pk=pk,
        position=position,
        stream=stream,
        aggregate_key=(fields["aggregate_type"], fields["aggregate_id"]),
        fields=envelope.stream_fields(**fields),
    )


@dataclass(slots=True)
class StreamGroup:
    """The ready rows of one claimed batch that go to one stream, in position
    order, as the database rendered them: ``ids`` (space-separated) and
    ``entries`` (``encode_entries``: each entry's values, length-prefixed)."""

    stream: str
    count: int
    ids: str
    entries: str


@dataclass(slots=True)
class Claim:
    claimed: int = 0
    last_position: int = 0
    groups: list[StreamGroup] = field(default_factory=list)


# The values of a claimed row ``c`` as SQL text, in envelope order (the field
# names are the script's): what envelope.stream_fields() makes of the row in
# Python (occurred_at as datetime.isoformat() prints a UTC timestamp).
_VALUES_SQL = (
    "c.event_id::text",
    "c.event_type",
    "c.aggregate_type",
    "c.aggregate_id",
    "c.company_id::text",
    "coalesce(c.user_id::text, '')",
    "c.correlation_id",
    """to_char(c.occurred_at AT TIME ZONE 'UTC',
        CASE WHEN date_part('microseconds', c.occurred_at)::bigint %% 1000000 = 0
        THEN 'YYYY-MM-DD"T"HH24:MI:SS' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US' END)
        || '+00:00'""",
    "c.version::text",
    "c.payload::text",
    "c.changes::text",
)
assert len(_VALUES_SQL) == len(envelope.FIELDS)
_VALUE_COLUMNS = ", ".join(f"{sql} AS v{i}" for i, sql in enumerate(_VALUES_SQL))
# One entry: "<bytes>:<value>" per value (see encode_entries), rendered once per row.
_ENTRY_SQL = (
    "concat("
    + ", ".join(f"octet_length(v{i}), ':', v{i}" for i in range(len(_VALUES_SQL)))
    + ")"
)


def encode_entries(rows) -> str:
    """The wire format of a stream's entries for the XADD script: for each entry,
    its envelope values in order, each as ``<length in bytes>:<value>``. No
    escaping (PostgreSQL concatenates it cheaply, Lua cuts it with
    ``string.sub``); the claim statement renders the same in SQL."""
    return "".join(
        f"{len(value.encode())}:{value}" for fields in rows for value in fields.values()
    )


def claim_batch(batch_size: int, *, after: int = 0, in_flight: str = "") -> Claim:
    """Lock the first ``batch_size`` unsent rows above position ``after`` that no
    other relay holds, in position order, and return those ready to send, per
    stream (call inside a transaction).

    A row is held back (locked, not returned) when its object has an earlier
    unsent row outside the batch: another relay is sending it right now (the
    claim skipped it) or released it unsent; either way it must reach the stream
    first. On PostgreSQL this is one statement: claim, order check and the
    rendering of every entry (no per-row Python).
    """
    if connection.vendor != "postgresql":
        return _claim_batch_python(batch_size, after=after)
    outbox = OutboxEvent._meta.db_table
    with connection.cursor() as cursor:
        # Right after a burst the statistics still say "few unsent rows" and the
        # planner would read every unsent row (bitmap scan) to sort them; walking
        # the outbox_unsent index in order stops after batch_size rows. The
        # commit need not wait for its WAL flush: a mark lost in a database crash
        # only sends its batch again (and WAL is replayed in order, so a later
        # batch's mark never survives an earlier one's loss).
        cursor.execute(
            "SELECT set_config('enable_bitmapscan', 'off', true), "
            "set_config('synchronous_commit', 'off', true)"
        )
        cursor.execute(
            f"""
            WITH claimed AS (
                SELECT * FROM {outbox}
                WHERE sent_at IS NULL AND position > %s
                ORDER BY position LIMIT %s
                FOR UPDATE SKIP LOCKED
            ), firsts AS (
                SELECT aggregate_type, aggregate_id, min(position) AS first
                FROM claimed GROUP BY aggregate_type, aggregate_id
            ), blocked AS (
                -- One probe of the outbox_unsent_object index per object
                -- (LATERAL ... LIMIT 1 stays a nested loop with stale statistics).
                SELECT f.aggregate_type, f.aggregate_id FROM firsts AS f
                CROSS JOIN LATERAL (
                    SELECT 1 FROM {outbox} AS o
                    WHERE o.aggregate_type = f.aggregate_type
                    AND o.aggregate_id = f.aggregate_id
                    AND o.position < f.first AND o.sent_at IS NULL
                    AND NOT o.id = ANY(string_to_array(%s, ' ')::bigint[])
                    LIMIT 1
                ) AS earlier
            ), ready AS (
                SELECT stream, count(*) AS n, min(position) AS first,
                    string_agg(id::text, ' ' ORDER BY position) AS ids,
                    string_agg({_ENTRY_SQL}, '' ORDER BY position) AS entries
                FROM (
                    SELECT c.id, c.position, c.stream, {_VALUE_COLUMNS}
                    FROM claimed AS c
                    WHERE NOT EXISTS (
                        SELECT 1 FROM blocked AS b
                        WHERE b.aggregate_type = c.aggregate_type
                        AND b.aggregate_id = c.aggregate_id
                    )
                ) AS r
                GROUP BY stream
            )
            SELECT t.claimed, t.last, r.stream, r.n, r.ids, r.entries
            FROM (
                SELECT count(*) AS claimed, coalesce(max(position), 0) AS last
                FROM claimed
            ) AS t LEFT JOIN ready AS r ON true
            ORDER BY r.first
            """,
            [after, batch_size, in_flight],
        )
        rows = cursor.fetchall()
    claim = Claim(claimed=rows[0][0], last_position=rows[0][1])
    claim.groups = [StreamGroup(*row[2:]) for row in rows if row[2] is not None]
    return claim


def _claim_batch_python(batch_size: int, *, after: int) -> Claim:
    rows = list(
        stream_rows(
            OutboxEvent.objects.filter(
                sent_at__isnull=True, position__gt=after
            ).order_by("position")[:batch_size],
            lock=True,
        )
    )
    if not rows:
        return Claim()
    blocked = _keys_sent_elsewhere(rows)
    groups: dict[str, list[StreamRow]] = {}
    for row in rows:
        if row.aggregate_key not in blocked:
            groups.setdefault(row.stream, []).append(row)
    return Claim(
        claimed=len(rows),
        last_position=rows[-1].position,
        groups=[
            StreamGroup(
                stream=stream,
                count=len(ready),
                ids=" ".join(str(row.pk) for row in ready),
                entries=encode_entries(row.fields for row in ready),
            )
            for stream, ready in groups.items()
        ],
    )


def _keys_sent_elsewhere(rows: list[StreamRow]) -> set[tuple[str, str]]:
    """Objects of ``rows`` with an unsent row before their first row in ``rows``.

    Such a row is locked by another relay right now (the claim took the lowest
    unlocked positions) or was released unsent after it; either way it must reach
    the stream first, so this batch holds those objects back.
    """
    first: dict[tuple[str, str], int] = {}
    for row in rows:
        first.setdefault(row.aggregate_key, row.position)
    if connection.vendor != "postgresql":
        earlier = OutboxEvent.objects.filter(
            sent_at__isnull=True, position__lt=rows[-1].position
        ).values_list("aggregate_type", "aggregate_id", "position")
        return {(t, a) for t, a, p in earlier if p < first.get((t, a), p)}
    # One probe of the outbox_unsent_object index per object (LATERAL ... LIMIT 1
    # keeps it a nested loop even when the statistics are stale): cheap however
    # many sent rows still wait for VACUUM.
    types = [key[0] for key in first]
    ids = [key[1] for key in first]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k.type, k.id "
            "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS k(type, id, pos) "
            "CROSS JOIN LATERAL (SELECT 1 "
            f"FROM {OutboxEvent._meta.db_table} AS o "
            "WHERE o.aggregate_type = k.type AND o.aggregate_id = k.id "
            "AND o.position < k.pos AND o.sent_at IS NULL LIMIT 1) AS earlier",
            [types, ids, list(first.values())],
        )
        return {(t, a) for t, a in cursor.fetchall()}


# XADDs one stream's entries of a batch, in order, inside Redis: one call per
# stream and batch, so the client packs one argument instead of 24 per event, and
# it touches one key (one hash slot on a Redis Cluster). A script runs atomically
# like MULTI/EXEC; it stops at the first failed XADD (an error Redis detects
# before writing, such as OOM, fails the first one), so no entry lands after one
# that failed: the rest are sent again later, a duplicate, never a reordering.
# KEYS[1] the stream, ARGV[1] the MAXLEN ~ bound, ARGV[2] the entries
# (encode_entries); returns the new entry ids (space-separated) and the error or
# "".
XADD_SCRIPT = (
    "local names = {"
    + ", ".join(f"'{name}'" for name in envelope.FIELDS)
    + "}\n"
    + """local data, maxlen = ARGV[2], ARGV[1]
local pos, size, ids, entry = 1, #data, {}, {}
while pos <= size do
    for i = 1, #names do
        local colon = string.find(data, ':', pos, true)
        local stop = colon + tonumber(string.sub(data, pos, colon - 1))
        entry[2 * i - 1] = names[i]
        entry[2 * i] = string.sub(data, colon + 1, stop)
        pos = stop + 1
    end
    local id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(entry))
    if type(id) == 'table' and id.err then
        return {table.concat(ids, ' '), id.err}
    end
    ids[#ids + 1] = id
end
return {table.concat(ids, ' '), ''}
"""
)


def _xadd_group(client: redis.Redis, group: StreamGroup) -> tuple[str, int, str]:
    """XADD ``group``'s entries; return the entry ids (space-separated), how many
    were added and the error that stopped the rest ("" when none)."""
    script = client.register_script(XADD_SCRIPT)
    reply = script(
        keys=[group.stream],
        args=[merp_settings.EVENT_STREAM_MAXLEN, group.entries],
        client=client,
    )
    ids, error = (_text(part) for part in reply)
    return ids, ids.count(" ") + 1 if ids else 0, error


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _mark_sent(ids: str, stream_ids: str) -> None:
    """Mark the rows ``ids`` sent with their entry ids (both space-separated, in
    the same order): one statement, the lists split by the database."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OutboxEvent._meta.db_table} AS o "
                "SET sent_at = %s, stream_id = v.sid, attempts = o.attempts + 1, "
                "last_error = '' "
                "FROM unnest(string_to_array(%s, ' ')::bigint[], "
                "string_to_array(%s, ' ')) AS v(id, sid) "
                "WHERE o.id = v.id",
                [now, ids, stream_ids],
            )
        return
    for pk, stream_id in zip(ids.split(), stream_ids.split(), strict=True):
        OutboxEvent.objects.filter(pk=int(pk)).update(
            sent_at=now,
            stream_id=stream_id,
            attempts=F("attempts") + 1,
            last_error="",
        )


def _mark_failed(ids: list[str], error: str) -> None:
    message = (error or "held back after an earlier event of the stream failed")[:1000]
    logger.warning("Forwarding %d outbox events failed: %s", len(ids), message)
    OutboxEvent.objects.filter(pk__in=[int(pk) for pk in ids]).update(
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
            .values_list("pk", flat=True)[: merp_settings.EVENT_PRUNE_BATCH_SIZE]
        )
        if not ids:
            return total
        deleted, _ = OutboxEvent.objects.filter(pk__in=ids).delete()
        total += deleted


def pending_count() -> int:
    return OutboxEvent.objects.filter(sent_at__isnull=True).count()
