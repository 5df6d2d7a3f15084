"""Forwarding by real Celery workers (in a thread, or ``celery -A merp worker``
subprocesses that get SIGKILLed) against real PostgreSQL and Redis."""

import json
import subprocess
import sys
from datetime import datetime

import pytest
import redis
from django.db import transaction

from businessobjects import services
from businessobjects.models import Partner
from events import relay
from events.models import OutboxEvent
from tests.testapp.models import Product

from .conftest import ROOT, lock_waiters, subprocess_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ENVELOPE = {
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "company_id",
    "user_id",
    "correlation_id",
    "occurred_at",
    "version",
    "payload",
    "changes",
}


def all_sent() -> bool:
    return (
        OutboxEvent.objects.exists()
        and not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    )


def test_each_write_yields_one_entry_with_the_envelope(
    celery_worker_thread, events_redis, api, member_a, company_a
):
    client = api(member_a)
    created = client.post(
        "/api/partners/",
        {"name": "Acme", "email": "a@acme.test"},
        format="json",
        HTTP_X_CORRELATION_ID="corr-1",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    updated = client.patch(
        f"/api/partners/{pk}/",
        {"phone": "+331"},
        format="json",
        HTTP_X_CORRELATION_ID="corr-2",
    )
    assert updated.status_code == 200
    deleted = client.delete(f"/api/partners/{pk}/", HTTP_X_CORRELATION_ID="corr-3")
    assert deleted.status_code == 204
    services.bulk_create(
        Product,
        rows=[{"sku": f"S{i}", "name": f"n{i}"} for i in range(3)],
        company=company_a,
    )

    wait_for(lambda: OutboxEvent.objects.count() == 6 and all_sent(), what="sent")
    entries = events_redis.xrange("partner_events")
    assert len(entries) == 3
    for _, fields in entries:
        assert set(fields) == ENVELOPE
        assert fields["aggregate_type"] == "partner"
        assert fields["aggregate_id"] == str(pk)
        assert fields["company_id"] == str(company_a.pk)
        assert fields["user_id"] == str(member_a.pk)
        assert datetime.fromisoformat(fields["occurred_at"]).utcoffset().seconds == 0
    by_type = {fields["event_type"]: fields for _, fields in entries}
    assert list(by_type) == ["partner.created", "partner.updated", "partner.deleted"]
    assert [f["correlation_id"] for f in by_type.values()] == [
        "corr-1",
        "corr-2",
        "corr-3",
    ]
    assert [f["version"] for f in by_type.values()] == ["1", "2", "2"]
    assert json.loads(by_type["partner.created"]["payload"]) == created.json()
    assert json.loads(by_type["partner.updated"]["payload"]) == updated.json()
    assert json.loads(by_type["partner.deleted"]["payload"]) == updated.json()
    assert json.loads(by_type["partner.updated"]["changes"]) == {
        "phone": {"old": "", "new": "+331"}
    }
    assert json.loads(by_type["partner.created"]["changes"])["name"] == {
        "old": None,
        "new": "Acme",
    }
    # Each outbox row went out exactly once, with the event id it stores.
    assert sorted(f["event_id"] for _, f in entries) == sorted(
        str(e.event_id) for e in OutboxEvent.objects.filter(aggregate_type="partner")
    )
    products = events_redis.xrange("product_events")
    assert [json.loads(f["payload"])["sku"] for _, f in products] == ["S0", "S1", "S2"]
    assert {f["event_type"] for _, f in products} == {"product.created"}


def test_rollback_publishes_nothing(celery_worker_thread, events_redis, company_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.create(Partner, data={"name": "ghost"}, company=company_a)
        raise RuntimeError("abort")
    services.create(Partner, data={"name": "real"}, company=company_a)
    wait_for(all_sent, what="the real event sent")
    payloads = [
        json.loads(f["payload"]) for _, f in events_redis.xrange("partner_events")
    ]
    assert [p["name"] for p in payloads] == ["real"]
    assert OutboxEvent.objects.count() == 1


def test_write_during_redis_outage_arrives_after_redis_is_back(
    celery_worker_thread, redis_server, settings, api, member_a
):
    """A dedicated redis-server holds the streams; the worker retries with back-off
    while it is down."""
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": redis_server.url}
    redis_server.stop()

    response = api(member_a).post("/api/partners/", {"name": "Offline"}, format="json")
    assert response.status_code == 201

    event = OutboxEvent.objects.get()
    wait_for(
        lambda: OutboxEvent.objects.get(pk=event.pk).attempts >= 1,
        what="a failed forwarding attempt",
    )
    event.refresh_from_db()
    assert event.sent_at is None
    assert "127.0.0.1" in event.last_error or "onnect" in event.last_error

    redis_server.start()
    wait_for(
        lambda: OutboxEvent.objects.filter(pk=event.pk, sent_at__isnull=False).exists(),
        what="the retry to send the event",
    )
    entries = redis.Redis.from_url(redis_server.url, decode_responses=True).xrange(
        "partner_events"
    )
    assert [f["event_id"] for _, f in entries] == [str(event.event_id)]


def test_write_with_broker_and_streams_down_succeeds_and_is_sent_later(
    events_redis, company_a
):
    """The whole Redis unreachable (broker and streams): a process writes, nothing
    errors, the event waits in the outbox and goes out once Redis is back."""
    script = (
        "from businessobjects import services\n"
        "from businessobjects.models import Company, Partner\n"
        f"company = Company.objects.get(pk={company_a.pk})\n"
        "p = services.create(Partner, data={'name': 'Outage'}, company=company)\n"
        "print('created', p.pk)\n"
    )
    dead = "redis://127.0.0.1:1/0"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=subprocess_env(REDIS_URL=dead),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout
    event = OutboxEvent.objects.get()
    assert event.position is not None and event.sent_at is None

    from events.tasks import forward_outbox

    # Redis is back: the next sweep (here, the task run directly) sends it.
    assert forward_outbox.apply().get()["sent"] == 1
    entries = events_redis.xrange("partner_events")
    assert [f["event_id"] for _, f in entries] == [str(event.event_id)]


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_nothing(
    worker_process, events_redis, company_a, table_share_lock
):
    services.bulk_create(
        Partner, rows=[{"name": f"P{i}"} for i in range(25)], company=company_a
    )
    relay.sequence_outbox()  # so the worker below goes straight to sending
    # The worker's two lanes will XADD a batch of 10 each (the first batch came
    # back full: a backlog), then both wait to mark theirs sent.
    table_share_lock()
    worker = worker_process(MERP_EVENT_FORWARD_BATCH_SIZE="10")
    wait_for(
        lambda: lock_waiters() == 2 and events_redis.xlen("partner_events") == 20,
        what=f"the worker mid-batch\n{worker.output()}",
    )
    worker.kill()
    table_share_lock.release()
    # The dead worker's transaction rolls back: its batch is still unsent.
    wait_for(lambda: lock_waiters() == 0, what="the dead worker's backend to end")
    wait_for(
        lambda: OutboxEvent.objects.filter(sent_at__isnull=True).count() == 25,
        what="the killed batch rolled back",
    )

    # A new worker with beat: the periodic sweep finds the stranded events.
    survivor = worker_process(beat=True, MERP_EVENT_SWEEP_INTERVAL="1")
    wait_for(all_sent, timeout=120, what=f"the sweep\n{survivor.output()}")
    sent = [f["event_id"] for _, f in events_redis.xrange("partner_events")]
    expected = {str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)}
    assert set(sent) == expected  # nothing lost
    # At least once: the killed batches went out twice, everything else once.
    assert len(sent) == 45
    assert "events.tasks.forward_outbox" in survivor.output()
