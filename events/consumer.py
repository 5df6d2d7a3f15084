"""Consuming event streams with Redis consumer groups.

Delivery is at least once: an entry is acknowledged (XACK) only after the handler
returned, so a crash re-delivers it. Handlers must be idempotent; ``event_id`` is
unique per event (and ``version`` orders one object's events)::

    from events.consumer import Consumer

    class PartnerMirror(Consumer):
        def handle(self, event):
            ...  # e.g. upsert keyed by event.aggregate_id, skip stale versions

    PartnerMirror("partner_events", "mirror").run()

On start a consumer first re-reads the entries it was given but never acked (id
``0``), then new ones (``>``). Entries another consumer left pending longer than
``claim_min_idle_ms`` (which must exceed the slowest handler) are taken over with
XAUTOCLAIM. An entry whose handler keeps failing is moved to ``<stream>:dead``
after ``max_deliveries`` deliveries.
"""

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis

from businessobjects import redisclient
from businessobjects.conf import merp_settings

from . import envelope, streams

logger = logging.getLogger(__name__)


class MalformedEntry(ValueError):
    """A stream entry without the fields of an M-ERP event."""


@dataclass(frozen=True)
class Event:
    """One stream entry, parsed (the envelope of docs/events.md)."""

    stream: str
    message_id: str
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    company_id: int
    user_id: int | None
    correlation_id: str
    occurred_at: datetime
    version: int
    payload: dict
    changes: dict
    fields: dict = field(repr=False, compare=False)

    @classmethod
    def from_entry(cls, stream: str, message_id: str, fields: dict) -> "Event":
        try:
            return cls(
                stream=stream,
                message_id=message_id,
                **envelope.parse(fields),
                fields=dict(fields),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise MalformedEntry(f"{stream} {message_id}: {exc!r}") from exc


def default_consumer_name() -> str:
    # Stable across restarts of the same host, so a restarted consumer re-reads
    # its own pending entries first; run one consumer per name.
    return merp_settings.EVENT_CONSUMER_NAME or socket.gethostname()


class Consumer:
    """Read ``stream`` as ``consumer`` of ``group``; call :meth:`handle` per event.

    Override ``handle`` or pass ``handler=``. ``client`` defaults to a connection
    to the events' Redis (``EVENT_REDIS_URL``).
    """

    def __init__(
        self,
        stream: str,
        group: str,
        consumer: str | None = None,
        *,
        handler: Callable[[Event], None] | None = None,
        client: redis.Redis | None = None,
        count: int = 10,
        block_ms: int = 2000,
        claim_min_idle_ms: int | None = None,
        max_deliveries: int | None = None,
        start_id: str = "0",
    ):
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.handler = handler
        self.count = count
        self.block_ms = block_ms
        self.claim_min_idle_ms = (
            merp_settings.EVENT_CLAIM_MIN_IDLE_MS
            if claim_min_idle_ms is None
            else claim_min_idle_ms
        )
        self.max_deliveries = max_deliveries or merp_settings.EVENT_MAX_DELIVERIES
        self.start_id = start_id
        self.client = client or _blocking_client(block_ms)
        self.dead_letter_stream = f"{stream}:dead"
        self._stop = threading.Event()
        self._group_ready = False

    # -- the hook ----------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Process one event; raise to leave it pending (it is delivered again)."""
        if self.handler is None:
            raise NotImplementedError(
                "Pass handler= to Consumer or override Consumer.handle(event)."
            )
        self.handler(event)

    # -- running -----------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to return after the entry in hand."""
        self._stop.set()

    def run(self, *, max_events: int | None = None, exit_when_idle: bool = False):
        """Consume until :meth:`stop` (or ``max_events`` handled, or no entry
        arrived within ``block_ms`` when ``exit_when_idle``); return the count."""
        self.ensure_group()
        handled = self.process_own_pending(limit=max_events)
        next_claim = 0.0
        while not self._stop.is_set():
            if max_events is not None and handled >= max_events:
                break
            left = None if max_events is None else max_events - handled
            if time.monotonic() >= next_claim:
                handled += self.claim_abandoned(limit=left)
                next_claim = time.monotonic() + self._claim_interval()
                left = None if max_events is None else max_events - handled
                if left == 0:
                    break
            got = self.read_new(limit=left)
            handled += got
            if got == 0 and exit_when_idle:
                break
        return handled

    def ensure_group(self) -> None:
        """Create the group (at ``start_id``, and the stream) unless it exists."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(
                self.stream, self.group, id=self.start_id, mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def process_own_pending(self, *, limit: int | None = None) -> int:
        """Handle entries delivered to this consumer name but never acked."""
        self.ensure_group()
        handled, last_id = 0, "0"
        while not self._stop.is_set() and (limit is None or handled < limit):
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: last_id}, count=self.count
            )
            entries = reply[0][1] if reply else []
            if not entries:
                break
            for message_id, fields in entries:
                last_id = message_id
                handled += self._deliver(message_id, fields)
        return handled

    def claim_abandoned(self, *, limit: int | None = None) -> int:
        """Take over and handle entries pending longer than ``claim_min_idle_ms``."""
        self.ensure_group()
        handled, cursor = 0, "0-0"
        while not self._stop.is_set() and (limit is None or handled < limit):
            reply = self.client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                self.claim_min_idle_ms,
                start_id=cursor,
                count=self.count,
            )
            cursor, entries = reply[0], reply[1]
            for message_id, fields in entries:
                handled += self._deliver(message_id, fields)
            if cursor in ("0-0", b"0-0"):
                break
        return handled

    def read_new(self, *, limit: int | None = None) -> int:
        """Wait up to ``block_ms`` for new entries and handle them."""
        self.ensure_group()
        count = self.count if limit is None else min(self.count, limit)
        reply = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=count,
            block=self.block_ms,
        )
        handled = 0
        for _stream, entries in reply or []:
            for message_id, fields in entries:
                handled += self._deliver(message_id, fields)
        return handled

    # -- internals ---------------------------------------------------------

    def _claim_interval(self) -> float:
        return max(self.claim_min_idle_ms / 2000, self.block_ms / 1000)

    def _deliver(self, message_id: str | None, fields: dict | None) -> int:
        if message_id is None:
            return 0
        if not fields:
            # Trimmed from the stream (MAXLEN) while pending: nothing to handle.
            self.client.xack(self.stream, self.group, message_id)
            return 0
        try:
            event = Event.from_entry(self.stream, message_id, fields)
        except MalformedEntry as exc:
            self._dead_letter(message_id, fields, str(exc))
            return 0
        try:
            self.handle(event)
        except Exception as exc:
            logger.exception(
                "Handler failed on %s %s (%s)", self.stream, message_id, event.event_id
            )
            if self._deliveries(message_id) >= self.max_deliveries:
                self._dead_letter(message_id, fields, repr(exc))
            return 0
        self.client.xack(self.stream, self.group, message_id)
        return 1

    def _deliveries(self, message_id: str) -> int:
        info = self.client.xpending_range(
            self.stream, self.group, min=message_id, max=message_id, count=1
        )
        return info[0]["times_delivered"] if info else 0

    def _dead_letter(self, message_id: str, fields: dict, error: str) -> None:
        logger.error(
            "Moving %s %s to %s: %s",
            self.stream,
            message_id,
            self.dead_letter_stream,
            error,
        )
        # Atomic on one Redis. On a cluster the two streams may live in different
        # slots (no MULTI across slots): the entry goes first, so a crash between
        # the two leaves it pending here and it is dead-lettered again (a
        # duplicate there, never a loss).
        pipe = self.client.pipeline(transaction=not redisclient.is_cluster(self.client))
        pipe.xadd(
            self.dead_letter_stream,
            {
                **fields,
                "dead_message_id": message_id,
                "dead_group": self.group,
                "dead_error": error[:1000],
            },
            maxlen=merp_settings.EVENT_STREAM_MAXLEN,
            approximate=True,
        )
        pipe.xack(self.stream, self.group, message_id)
        pipe.execute()


def registered_streams() -> list[str]:
    """Return the stream names of the registered business objects."""
    from businessobjects.registry import registrations

    from .outbox import stream_name

    return sorted(stream_name(registration.name) for registration in registrations())


def _blocking_client(block_ms: int) -> redis.Redis:
    # XREADGROUP BLOCK holds the socket: its timeout must outlast the block.
    url = streams.redis_url()
    if not url:
        raise RuntimeError(
            "No Redis for events: set REDIS_URL (or MERP_EVENT_REDIS_URL) to consume."
        )
    return streams.client_from_url(
        url,
        socket_connect_timeout=merp_settings.EVENT_REDIS_TIMEOUT,
        socket_timeout=block_ms / 1000 + merp_settings.EVENT_REDIS_TIMEOUT,
        health_check_interval=30,
    )
