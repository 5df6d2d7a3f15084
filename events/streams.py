"""The Redis connection of the event streams.

``MERP["EVENT_REDIS_URL"]`` picks the server (default: ``REDIS_URL``). Without one,
events stay in the outbox: nothing is forwarded and nothing errors. It may name a
Redis Cluster (``redis+cluster://`` or ``EVENT_REDIS_CLUSTER``): every command
the events use touches one key (one stream), so each goes to its slot's master.
"""

import threading

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from businessobjects import redisclient
from businessobjects.conf import merp_settings

_clients: dict[tuple[str, bool], redis.Redis] = {}
_lock = threading.Lock()


def redis_url() -> str:
    """Return the URL of the streams' Redis, or ``""`` when none is configured."""
    return merp_settings.EVENT_REDIS_URL or ""


def is_configured() -> bool:
    return bool(redis_url())


def is_cluster() -> bool:
    """Whether the events' Redis is a Redis Cluster."""
    return bool(merp_settings.EVENT_REDIS_CLUSTER) or redisclient.is_cluster_url(
        redis_url()
    )


def client_from_url(url: str, **options) -> redis.Redis:
    """A new client (strings in, strings out) for ``url``: a ``RedisCluster`` when
    the events' Redis is a cluster."""
    return redisclient.from_url(
        url,
        cluster=bool(merp_settings.EVENT_REDIS_CLUSTER),
        decode_responses=True,
        **options,
    )


def get_client(url: str | None = None) -> redis.Redis:
    """Return a shared client (strings in, strings out) for ``url`` or the default.

    Connection errors are retried once, briefly: the relay's Celery task owns the
    real back-off, and a request thread must never hang on a dead Redis.
    """
    url = url or redis_url()
    if not url:
        raise RuntimeError(
            "No Redis for events: set REDIS_URL (or MERP_EVENT_REDIS_URL); without "
            "one, events stay in the outbox."
        )
    key = (url, bool(merp_settings.EVENT_REDIS_CLUSTER))
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = client_from_url(
                    url,
                    socket_connect_timeout=merp_settings.EVENT_REDIS_TIMEOUT,
                    socket_timeout=merp_settings.EVENT_REDIS_TIMEOUT,
                    health_check_interval=30,
                    retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
                )
                _clients[key] = client
    return client


# Set while a forwarding task is queued and not started: writers that commit
# meanwhile need not queue another (the task clears it before it reads the
# outbox, so it sees their rows). Expires (EVENT_FORWARD_KICK_TTL) in case the
# task is lost.


def _kick_key() -> str:
    return f"{merp_settings.EVENT_STREAM_PREFIX}merp:events:forward-queued"


def claim_forward_kick() -> bool:
    """Return True if the caller should queue a forwarding task."""
    return bool(
        get_client().set(
            _kick_key(), "1", nx=True, ex=merp_settings.EVENT_FORWARD_KICK_TTL
        )
    )


def release_forward_kick() -> None:
    """Clear the mark (at the start of a forwarding task, or if queuing failed)."""
    try:
        get_client().delete(_kick_key())
    except redis.RedisError:
        pass  # it expires by itself
