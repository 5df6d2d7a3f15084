"""Read replica routing (``DATABASE_REPLICA_URL``, docs/scaling.md#read-replica).

List, history, audit-log and event-feed reads of the API go to the ``replica``
database; everything else goes to the primary (``default``): writes, detail
reads, reads inside a transaction (``select_for_update`` included), Celery
tasks, commands and the admin.

Read-your-writes: after a request with an unsafe method, the client (its
``Authorization`` header, else its session cookie) is pinned to the primary: the
primary's WAL position after the commit (``pg_current_wal_lsn()``) is kept in the
cache under the client's key for at most ``MERP["REPLICA_PIN_SECONDS"]``. While
the key lives, the client's reads go to the replica only once the replica has
replayed that position (``pg_last_wal_replay_lsn()``), so a write is visible to
its writer on the very next request, however far the replica lags (up to the
pin's lifetime). Other clients may see the replica's slightly older state.
"""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from rest_framework.mixins import ListModelMixin

from .conf import merp_settings

REPLICA = "replica"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
logger = logging.getLogger(__name__)

_replica_reads: ContextVar[bool] = ContextVar("merp_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[None]:
    """Send the enclosed reads to the replica (outside transactions, if configured).

    The caller accepts data a moment old: reports, exports, list pages.
    """
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    """Reads inside ``replica_reads()`` to the replica, all else to the primary."""

    def db_for_read(self, model, **hints):
        if not _replica_reads.get() or not replica_configured():
            return DEFAULT_DB_ALIAS
        if model._meta.label_lower in merp_settings.REPLICA_PRIMARY_MODELS:
            return DEFAULT_DB_ALIAS
        # A transaction on the primary (a write, select_for_update) reads what it
        # locked or wrote: never a replica's older copy.
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Same data on both: an object read from the replica may refer to one
        # read from the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica is read-only and receives the schema by streaming.
        return db != REPLICA


def _client_key(request) -> str | None:
    credential = request.META.get("HTTP_AUTHORIZATION") or request.COOKIES.get(
        settings.SESSION_COOKIE_NAME
    )
    if not credential:
        return None
    digest = hashlib.sha256(credential.encode()).hexdigest()[:32]
    return f"merp:replica-pin:{digest}"


def _replica_view(view_func, method: str) -> bool:
    actions = getattr(view_func, "actions", None)
    if actions is not None:  # a DRF viewset: {"get": "list", ...}
        return actions.get(method.lower()) in merp_settings.REPLICA_ACTIONS
    view_class = getattr(view_func, "cls", None)  # a DRF APIView
    return isinstance(view_class, type) and issubclass(view_class, ListModelMixin)


def _primary_position() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def _replica_has_replayed(position: str) -> bool:
    connection = connections[REPLICA]
    if not position or connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        # NULL (not a standby) counts as not replayed: the primary answers.
        cursor.execute(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)",
            [position],
        )
        return cursor.fetchone()[0]


def pin_to_primary(key: str) -> None:
    """Send ``key``'s client's reads to the primary until the replica caught up."""
    try:
        cache.set(key, _primary_position(), merp_settings.REPLICA_PIN_SECONDS)
    except Exception:  # a cache outage must not fail a committed write
        logger.warning("could not pin a client to the primary", exc_info=True)


def pinned_to_primary(key: str | None) -> bool:
    """Whether ``key``'s client wrote something the replica has not replayed yet."""
    if key is None:
        return True
    try:
        position = cache.get(key)
    except Exception:
        logger.warning("could not read a client's primary pin", exc_info=True)
        return True
    if position is None:
        return False
    try:
        return not _replica_has_replayed(position)
    except Exception:  # replica unreachable: the primary answers
        logger.warning("could not ask the replica for its position", exc_info=True)
        return True


class ReplicaRoutingMiddleware:
    """Serve list-like API reads from the replica, except for clients that wrote.

    Installed by merp/settings.py when ``DATABASE_REPLICA_URL`` is set. Needs a
    cache shared by all web processes (Redis, ``REDIS_URL``) for the pins.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.merp_replica_client = _client_key(request)
        token = _replica_reads.set(False)
        try:
            response = self.get_response(request)
        finally:
            _replica_reads.reset(token)
        if request.method not in SAFE_METHODS and request.merp_replica_client:
            pin_to_primary(request.merp_replica_client)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            request.method in SAFE_METHODS
            and _replica_view(view_func, request.method)
            and not pinned_to_primary(request.merp_replica_client)
        ):
            _replica_reads.set(True)
        return None
