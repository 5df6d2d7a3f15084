"""Redis clients from URLs: one server, or a Redis Cluster.

A cluster is named by any one of its masters with the ``redis+cluster://`` (or
``rediss+cluster://``) scheme, e.g. ``redis+cluster://10.0.0.5:6379``; redis-py's
``RedisCluster`` discovers the other nodes and routes each command to the master
of its key's hash slot. A cluster has no numbered databases: a path in the URL is
ignored. The event streams may also be switched to a cluster with
``MERP_EVENT_REDIS_CLUSTER=true`` and a plain ``redis://`` URL.

The Celery broker stays on one Redis (kombu has no cluster transport).
"""

from urllib.parse import urlsplit, urlunsplit

import redis
from django_redis.pool import ConnectionFactory
from redis.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def node_url(url: str) -> str:
    """The plain ``redis://`` URL of the node a cluster URL names (no database)."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", parts.query, ""))


def from_url(url: str, *, cluster: bool = False, **options) -> redis.Redis:
    """Return a client for ``url``: a ``RedisCluster`` when the URL has a cluster
    scheme or ``cluster`` is true, else a ``redis.Redis``. ``options`` go to the
    client (and, on a cluster, to each node's connections)."""
    if cluster or is_cluster_url(url):
        return RedisCluster.from_url(node_url(url), **options)
    return redis.Redis.from_url(url, **options)


def is_cluster(client) -> bool:
    return isinstance(client, RedisCluster)


class CacheRedisCluster(RedisCluster):
    """A ``RedisCluster`` whose MGET and MSET work across slots (one command per
    slot, not atomic: a cache's ``get_many`` / ``set_many`` need no atomicity)."""

    def mget(self, keys, *args):
        return self.mget_nonatomic(keys, *args)

    def mset(self, mapping):
        return self.mset_nonatomic(mapping)


class ClusterConnectionFactory(ConnectionFactory):
    """django-redis's connection factory for a cache on a Redis Cluster
    (``OPTIONS["CONNECTION_FACTORY"]``; merp/settings.py sets it for a cluster
    URL). django-redis's default client then talks to a ``RedisCluster``: single
    key commands go to their slot's master, ``get_many`` and ``delete_many`` per
    slot, ``clear()`` and ``delete_pattern()`` to every master."""

    def connect(self, url: str) -> RedisCluster:
        params = self.make_connection_params(url)
        params.pop("parser_class", None)
        return CacheRedisCluster.from_url(node_url(params.pop("url")), **params)

    def disconnect(self, connection: RedisCluster) -> None:
        connection.close()
