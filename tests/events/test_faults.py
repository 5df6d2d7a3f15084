"""Faults during a stream of writes: Redis stopped and restarted between them."""

import collections

import pytest
import redis

from events.models import OutboxEvent

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_redis_stopped_and_restarted_during_writes_delivers_each_event_once(
    celery_worker_thread, redis_server, settings, api, member_a
):
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": redis_server.url}
    client = api(member_a)
    ids = []

    def write(label: str) -> None:
        created = client.post("/api/partners/", {"name": label}, format="json")
        assert created.status_code == 201, created.content
        ids.append(created.json()["id"])
        updated = client.patch(
            f"/api/partners/{ids[-1]}/", {"phone": label, "version": 1}, format="json"
        )
        assert updated.status_code == 200, updated.content

    for i in range(5):
        write(f"before {i}")
    wait_for(
        lambda: not OutboxEvent.objects.filter(sent_at__isnull=True).exists(),
        what="the first writes forwarded",
    )
    redis_server.stop()
    for i in range(5):
        write(f"during {i}")  # writes succeed while the streams are down
    redis_server.start()
    for i in range(5):
        write(f"after {i}")

    wait_for(
        lambda: not OutboxEvent.objects.filter(sent_at__isnull=True).exists(),
        what="every event forwarded after Redis came back",
    )
    entries = redis.Redis.from_url(redis_server.url, decode_responses=True).xrange(
        "partner_events"
    )
    # The restarted server kept nothing (no persistence): what it holds must be the
    # events of the outage and after, each once; the first ones went out before.
    sent_before = set(
        OutboxEvent.objects.filter(payload__name__startswith="before").values_list(
            "event_id", flat=True
        )
    )
    counts = collections.Counter(fields["event_id"] for _, fields in entries)
    assert all(n == 1 for n in counts.values()), counts.most_common(3)
    expected = {
        str(e)
        for e in OutboxEvent.objects.values_list("event_id", flat=True)
        if e not in sent_before
    }
    assert set(counts) == expected
    assert len(expected) == 20  # 10 writes x (created, updated)
    # Per object, the stream holds created before updated.
    for object_id in ids[5:]:
        types = [
            f["event_type"] for _, f in entries if f["aggregate_id"] == str(object_id)
        ]
        assert types == ["partner.created", "partner.updated"]
