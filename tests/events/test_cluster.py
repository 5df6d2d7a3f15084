"""The events and the cache on a real Redis Cluster (three masters started from
redis-server by tests.rediscluster): the relay's per-stream script calls, the
consumer's groups, XAUTOCLAIM and dead letters, the forward kick, django-redis.

Under ``make test-cluster`` the whole events suite runs against a cluster and this
module uses that one; otherwise it starts its own on ports 7104-7106.
"""

import itertools

import pytest
from django.conf import settings as django_settings
from django_redis.cache import RedisCache
from redis.cluster import RedisCluster
from redis.crc import key_slot

from businessobjects import redisclient, services
from businessobjects.models import Partner
from events import relay, streams
from events.consumer import Consumer
from events.models import OutboxEvent
from events.outbox import stream_name
from tests.rediscluster import RedisClusterProcesses
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db(transaction=True)

PORTS = (7104, 7105, 7106)


@pytest.fixture(scope="module")
def cluster_url():
    url = django_settings.MERP.get("EVENT_REDIS_URL", "")
    if redisclient.is_cluster_url(url):
        yield url  # make test-cluster: the suite's own cluster
        return
    with RedisClusterProcesses(PORTS) as cluster:
        yield cluster.url


def _master(client: RedisCluster, key: str):
    return client.nodes_manager.get_node_from_slot(key_slot(key.encode())).name


@pytest.fixture
def cluster(cluster_url, events_redis, settings) -> RedisCluster:
    """The events on the cluster, with a stream prefix that puts the partner and
    product streams and the partner dead-letter stream on three masters."""
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": cluster_url}
    client = streams.get_client()
    assert isinstance(client, RedisCluster)
    for n in itertools.count():
        prefix = f"c{n}_"
        partner, product = f"{prefix}partner_events", f"{prefix}product_events"
        masters = {_master(client, k) for k in (partner, product, f"{partner}:dead")}
        if len(masters) == 3:
            break
    settings.MERP = {**settings.MERP, "EVENT_STREAM_PREFIX": prefix}
    client.flushdb()
    yield client
    client.flushdb()


def versions(client, stream, aggregate_id):
    return [
        int(fields["version"])
        for _, fields in client.xrange(stream)
        if fields["aggregate_id"] == str(aggregate_id)
    ]


def test_the_relay_sends_each_stream_to_its_master_in_order(cluster, company_a):
    partner = services.create(Partner, data={"name": "P0"}, company=company_a)
    for i in range(1, 7):
        partner = services.update(partner, data={"name": f"P{i}"})
        services.create(Product, data={"sku": f"S{i}", "name": "x"}, company=company_a)
    # Small batches: an object's events cross batches and both streams share them.
    result = relay.forward_outbox(batch_size=4)
    assert result.sent == 13 and result.failed == 0
    partners, products = stream_name("partner"), stream_name("product")
    assert _master(cluster, partners) != _master(cluster, products)
    assert versions(cluster, partners, partner.pk) == [1, 2, 3, 4, 5, 6, 7]
    assert cluster.xlen(products) == 6
    ids = {i for s in (partners, products) for i, _ in cluster.xrange(s)}
    rows = OutboxEvent.objects.all()
    assert all(row.sent_at is not None for row in rows)
    assert {row.stream_id for row in rows} == ids


def test_a_failed_xadd_on_one_master_leaves_only_that_stream_pending(
    cluster, company_a
):
    services.create(Partner, data={"name": "P"}, company=company_a)
    services.create(Product, data={"sku": "S", "name": "x"}, company=company_a)
    cluster.set(stream_name("partner"), "not a stream")
    with pytest.raises(Exception, match="WRONGTYPE"):
        relay.forward_outbox()
    pending = OutboxEvent.objects.filter(sent_at__isnull=True)
    assert [row.aggregate_type for row in pending] == ["partner"]
    assert cluster.xlen(stream_name("product")) == 1
    cluster.delete(stream_name("partner"))
    assert relay.forward_outbox().sent == 1


def test_consumer_groups_reclaim_and_dead_letters_work_on_the_cluster(
    cluster, company_a
):
    for i in range(4):
        services.create(Partner, data={"name": f"P{i}"}, company=company_a)
    assert relay.forward_outbox().sent == 4
    stream = stream_name("partner")
    published = [f["event_id"] for _, f in cluster.xrange(stream)]
    # A consumer reads two entries and dies with them pending.
    Consumer(stream, "g", "dead", handler=lambda e: None).ensure_group()
    cluster.xreadgroup("g", "dead", {stream: ">"}, count=2)
    ids = [i for i, _ in cluster.xrange(stream)][:2]
    cluster.xclaim(stream, "g", "dead", 0, ids, idle=120_000)

    seen = []

    def handle(event):
        if event.event_id == published[0]:
            raise RuntimeError("poison")
        seen.append(event.event_id)

    alive = Consumer(
        stream,
        "g",
        "alive",
        handler=handle,
        block_ms=100,
        claim_min_idle_ms=60_000,
        max_deliveries=2,
    )
    assert isinstance(alive.client, RedisCluster)
    alive.run(exit_when_idle=True)  # XAUTOCLAIM takes the dead consumer's two
    alive.claim_min_idle_ms = 0
    alive.claim_abandoned()  # the poison entry's last delivery: dead-lettered
    assert sorted(seen) == sorted(published[1:])
    assert cluster.xpending(stream, "g")["pending"] == 0
    dead = cluster.xrange(f"{stream}:dead")
    assert [fields["event_id"] for _, fields in dead] == [published[0]]


def test_the_forward_kick_works_on_the_cluster(cluster):
    assert streams.claim_forward_kick()
    assert not streams.claim_forward_kick()
    streams.release_forward_kick()
    assert streams.claim_forward_kick()


def test_the_cache_works_on_the_cluster(cluster_url):
    cache = RedisCache(
        cluster_url,
        {
            "KEY_PREFIX": "clustertest",
            "OPTIONS": {
                "CONNECTION_FACTORY": (
                    "businessobjects.redisclient.ClusterConnectionFactory"
                )
            },
        },
    )
    cache.clear()
    keys = [f"k{i}" for i in range(20)]  # spread over the three masters
    for i, key in enumerate(keys):
        cache.set(key, {"n": i}, timeout=60)
    assert [cache.get(key)["n"] for key in keys] == list(range(20))
    assert cache.add("k0", "x") is False
    cache.set("counter", 1)
    assert cache.incr("counter") == 2 and cache.get("counter") == 2
    assert cache.delete_pattern("k1*") == 11  # k1, k10..k19
    assert cache.get("k1") is None and cache.get("k2") == {"n": 2}
    # Keys of several slots at once: one command per slot.
    cache.set_many({"m1": 1, "m2": 2, "m3": 3})
    assert cache.get_many(["m1", "m2", "m3", "absent"]) == {"m1": 1, "m2": 2, "m3": 3}
    cache.delete_many(["m1", "m2"])
    assert cache.get_many(["m1", "m2", "m3"]) == {"m3": 3}
    cache.clear()
    assert cache.get("k2") is None
