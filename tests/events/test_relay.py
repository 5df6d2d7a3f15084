"""The relay against real PostgreSQL and Redis: sequencing, forwarding, order,
concurrent relays, failures and retention."""

import json
import threading
from datetime import timedelta

import psycopg
import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone

from businessobjects import services
from businessobjects.models import Partner
from events import outbox, relay, streams
from events.models import OutboxEvent, OutboxSequence
from tests.testapp.models import Product

from .conftest import database_url, lock_waiters, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def make_partner(company, name="P", **data):
    return services.create(Partner, data={"name": name, **data}, company=company)


def in_thread(target, *args, **kwargs):
    """Run ``target`` in a thread with its own database connection."""
    box: dict = {}

    def run():
        try:
            box["result"] = target(*args, **kwargs)
        except BaseException as exc:  # reported by join()
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout=60):
        thread.join(timeout)
        assert not thread.is_alive(), "thread did not finish"
        if "error" in box:
            raise box["error"]
        return box.get("result")

    return join


def versions(client, stream, aggregate_id):
    return [
        int(fields["version"])
        for _, fields in client.xrange(stream)
        if fields["aggregate_id"] == str(aggregate_id)
    ]


# -- sequencing --------------------------------------------------------------


@pytest.fixture
def sequenced_here(settings):
    """No Redis for events: the writing process sequences right after commit."""
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": ""}


def test_with_redis_commits_queue_one_forwarding_task(broker_redis, company_a):
    with transaction.atomic():
        make_partner(company_a, name="a")
        make_partner(company_a, name="b")
    make_partner(company_a, name="c")
    # One task waits in the broker queue (no worker here) for all three commits.
    assert broker_redis.llen("celery") == 1
    # Once a task has started, the next commit queues another.
    streams.release_forward_kick()
    make_partner(company_a, name="d")
    assert broker_redis.llen("celery") == 2
    # The writing process sequenced them already: the API shows them.
    assert not OutboxEvent.objects.filter(position__isnull=True).exists()


def test_with_redis_a_bulk_write_leaves_most_sequencing_to_the_worker(
    events_redis, company_a, settings
):
    settings.MERP = {**settings.MERP, "EVENT_SEQUENCE_BATCH_SIZE": 4}
    services.bulk_create(
        Product,
        rows=[{"sku": f"S{i}", "name": "x"} for i in range(10)],
        company=company_a,
    )
    assert OutboxEvent.objects.filter(position__isnull=False).count() == 4
    from events.tasks import forward_outbox

    assert forward_outbox.apply().get()["sequenced"] == 6
    assert events_redis.xlen("product_events") == 10


def test_with_redis_the_writer_never_waits_for_another_sequencer(
    events_redis, company_a
):
    make_partner(company_a, name="first")  # creates the sequence row
    with psycopg.connect(database_url()) as other:
        other.execute("SELECT * FROM events_outboxsequence FOR UPDATE")
        make_partner(company_a, name="second")  # commits without blocking
        assert OutboxEvent.objects.get(payload__name="second").position is None
    assert relay.sequence_outbox() == 1


def test_commit_sequences_events_in_id_order(sequenced_here, company_a):
    partners = [make_partner(company_a, name=f"P{i}") for i in range(3)]
    services.update(partners[0], data={"name": "renamed"})
    rows = list(OutboxEvent.objects.order_by("id"))
    assert len(rows) == 4
    first = rows[0].position
    assert [row.position for row in rows] == [first, first + 1, first + 2, first + 3]
    assert OutboxSequence.objects.get(pk=1).last_position == first + 3


def test_a_writer_sequences_without_the_read_only_check(sequenced_here, company_a):
    from django.test.utils import CaptureQueriesContext

    make_partner(company_a, name="first")  # creates the sequence row
    top = OutboxSequence.objects.get(pk=1).last_position
    # Nothing to do: the writer's path finds no row and moves nothing.
    with CaptureQueriesContext(connection) as captured:
        assert relay.sequence_outbox(wait=False, max_batches=1, pending=True) == 0
    assert not any("SELECT 1 AS" in q["sql"] for q in captured)
    assert OutboxSequence.objects.get(pk=1).last_position == top
    # An idle call without ``pending`` only reads.
    with CaptureQueriesContext(connection) as captured:
        assert relay.sequence_outbox() == 0
    assert [q["sql"] for q in captured if "FOR UPDATE" in q["sql"]] == []
    event = OutboxEvent.objects.get()
    OutboxEvent.objects.filter(pk=event.pk).update(position=None)  # as if new
    OutboxSequence.objects.filter(pk=1).update(last_position=top - 1)
    assert relay.sequence_outbox(wait=False, max_batches=1, pending=True) == 1
    assert OutboxEvent.objects.get().position == top
    assert OutboxSequence.objects.get(pk=1).last_position == top


def test_positions_continue_after_the_outbox_was_pruned(sequenced_here, company_a):
    make_partner(company_a)
    top = OutboxEvent.objects.get().position
    OutboxEvent.objects.update(sent_at=timezone.now() - timedelta(days=30))
    assert relay.prune_sent(days=7) == 1
    make_partner(company_a)
    assert OutboxEvent.objects.get().position == top + 1


def test_events_of_transactions_that_commit_late_get_later_positions(
    sequenced_here, company_a
):
    """The trap: ids are assigned at insert; positions at commit."""
    inserted, release = threading.Event(), threading.Event()

    def slow_write():
        with transaction.atomic():
            make_partner(company_a, name="slow")
            inserted.set()
            assert release.wait(30)

    join = in_thread(slow_write)
    assert inserted.wait(30)
    make_partner(company_a, name="fast")
    release.set()
    join()
    slow = OutboxEvent.objects.get(payload__name="slow")
    fast = OutboxEvent.objects.get(payload__name="fast")
    assert slow.pk < fast.pk  # inserted first...
    assert slow.position > fast.position  # ...committed last


def test_one_relay_callback_per_transaction(sequenced_here, company_a):
    with transaction.atomic():
        make_partner(company_a, name="a")
        make_partner(company_a, name="b")
        with transaction.atomic():
            make_partner(company_a, name="c")
        callbacks = [func.__name__ for _, func, _ in connection.run_on_commit]
    assert callbacks == ["relay_after_commit"]
    assert OutboxEvent.objects.filter(position__isnull=True).count() == 0


def test_a_rolled_back_savepoint_does_not_take_the_callback_along(
    sequenced_here, company_a
):
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            make_partner(company_a, name="gone")
            raise RuntimeError
        make_partner(company_a, name="kept")
        assert [f.__name__ for _, f, _ in connection.run_on_commit] == [
            "relay_after_commit"
        ]
    assert OutboxEvent.objects.get().position is not None


# -- forwarding --------------------------------------------------------------


def test_forward_sends_each_event_once_with_its_fields(events_redis, company_a):
    partner = make_partner(company_a, email="p@example.test")
    services.update(partner, data={"phone": "123"})
    result = relay.forward_outbox()
    assert (result.sent, result.failed, result.deferred) == (2, 0, 0)
    entries = events_redis.xrange("partner_events")
    rows = list(OutboxEvent.objects.order_by("position"))
    assert [fields["event_id"] for _, fields in entries] == [
        str(row.event_id) for row in rows
    ]
    for (stream_id, fields), row in zip(entries, rows, strict=True):
        assert fields == row.as_stream_fields()
        row.refresh_from_db()
        assert row.sent_at is not None and row.stream_id == stream_id
        assert row.attempts == 1 and row.last_error == ""
    assert json.loads(entries[1][1]["changes"]) == {"phone": {"old": "", "new": "123"}}
    # Nothing left: a second run sends nothing.
    assert relay.forward_outbox().sent == 0
    assert events_redis.xlen("partner_events") == 2


def test_entries_rendered_by_the_database_match_the_envelope(events_redis, company_a):
    """The claim renders every entry in SQL: the same strings as Python's
    envelope, for awkward text, no user and a timestamp without microseconds."""
    text = 'Zoë "quoted" back\\slash \x01 tab\t newline\n 東京 😀'
    with transaction.atomic():
        for occurred_at in (
            timezone.now().replace(microsecond=0),
            timezone.now().replace(microsecond=7),
        ):
            event = outbox.build_event(
                aggregate_type="partner",
                action="updated",
                aggregate_id=41,
                company_id=company_a.pk,
                user_id=None,
                correlation_id=text[:20],
                version=1,
                payload={"name": text, "nested": {"list": [1, 2.5, None, True]}},
                changes={"name": {"old": "", "new": text}},
            )
            event.occurred_at = occurred_at
            outbox.enqueue(event)
    relay.sequence_outbox()
    rows = list(OutboxEvent.objects.order_by("position"))
    with transaction.atomic():
        (group,) = relay.claim_batch(10).groups
    # The SQL rendering is the Python one (the fallback off PostgreSQL).
    assert group.entries == relay.encode_entries(r.as_stream_fields() for r in rows)
    assert relay.forward_outbox().sent == 2
    entries = events_redis.xrange("partner_events")
    assert [fields for _, fields in entries] == [row.as_stream_fields() for row in rows]
    assert json.loads(entries[0][1]["payload"])["name"] == text
    assert entries[0][1]["user_id"] == ""


def test_a_crash_between_xadd_and_mark_sends_the_batch_again(
    events_redis, company_a, monkeypatch
):
    """The entries are in Redis but the process dies before the mark commits: the
    rows stay unsent and the next run sends them again (at least once, never
    lost); a consumer drops the duplicates by event_id."""
    partner = make_partner(company_a)
    for i in range(4):
        partner = services.update(partner, data={"phone": str(i)})

    class Crash(BaseException):
        pass

    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(relay, "_mark_sent", crash)
    with pytest.raises(Crash):
        relay.forward_outbox(batch_size=3)
    assert events_redis.xlen("partner_events") == 3  # sent, not marked
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 5
    monkeypatch.undo()
    assert relay.forward_outbox(batch_size=3).sent == 5
    entries = events_redis.xrange("partner_events")
    assert [int(f["version"]) for _, f in entries] == [1, 2, 3, 1, 2, 3, 4, 5]
    unique = list(dict.fromkeys(f["event_id"] for _, f in entries))
    rows = OutboxEvent.objects.order_by("position")
    assert unique == [str(row.event_id) for row in rows]
    assert all(row.sent_at and row.attempts == 1 for row in rows)
    # The stream ids recorded are those of the entries that were marked.
    assert [row.stream_id for row in rows] == [i for i, _ in entries[3:]]


def test_lanes_of_one_run_overlap_without_holding_each_other_back(
    events_redis, company_a, table_share_lock
):
    """With a backlog a run's second lane claims and sends the next batch while the
    first waits to mark its own; an object's later rows are not held back behind
    its rows in flight in the other lane (they are in the stream already)."""
    partner = make_partner(company_a)
    for i in range(5):
        partner = services.update(partner, data={"phone": str(i)})
    relay.sequence_outbox()
    table_share_lock()
    run = in_thread(relay.forward_outbox, batch_size=3, lanes=2)
    # Both lanes have sent (six entries in order) and both wait to mark.
    wait_for(lambda: lock_waiters() == 2, what="both lanes waiting to mark")
    assert versions(events_redis, "partner_events", partner.pk) == [1, 2, 3, 4, 5, 6]
    table_share_lock.release()
    result = run()
    assert (result.sent, result.deferred, result.failed) == (6, 0, 0)
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def test_stream_order_is_position_order_across_batches(events_redis, company_a):
    """Small batches, two objects of one stream and a second stream interleaved:
    each stream holds its entries in position order."""
    first, second = make_partner(company_a, name="A"), make_partner(company_a, name="B")
    for i in range(5):
        first = services.update(first, data={"phone": f"a{i}"})
        services.create(Product, data={"sku": f"S{i}", "name": "x"}, company=company_a)
        second = services.update(second, data={"phone": f"b{i}"})
    result = relay.forward_outbox(batch_size=4)
    assert (result.sent, result.deferred, result.failed) == (17, 0, 0)
    for stream in ("partner_events", "product_events"):
        sent = [f["event_id"] for _, f in events_redis.xrange(stream)]
        in_order = OutboxEvent.objects.filter(stream=stream).order_by("position")
        assert sent == [str(row.event_id) for row in in_order]
    assert versions(events_redis, "partner_events", first.pk) == list(range(1, 7))


def test_streams_are_trimmed_to_an_approximate_maxlen(
    events_redis, company_a, settings
):
    settings.MERP = {**settings.MERP, "EVENT_STREAM_MAXLEN": 10}
    services.bulk_create(
        Product,
        rows=[{"sku": f"S{i}", "name": "x"} for i in range(500)],
        company=company_a,
    )
    assert relay.forward_outbox().sent == 500
    # "MAXLEN ~ 10" trims whole macro nodes (100 entries by default), never below 10.
    assert 10 <= events_redis.xlen("product_events") < 500


def test_rows_of_a_failed_xadd_stay_pending_with_the_error(events_redis, company_a):
    make_partner(company_a)
    # A key of the wrong type makes XADD fail inside Redis.
    events_redis.set("partner_events", "not a stream")
    with pytest.raises(redis.ResponseError):
        relay.forward_outbox()
    row = OutboxEvent.objects.get()
    assert row.sent_at is None and row.attempts == 1
    assert "WRONGTYPE" in row.last_error
    events_redis.delete("partner_events")
    assert relay.forward_outbox().sent == 1
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 2 and row.last_error == ""


def test_unreachable_redis_leaves_events_pending(company_a):
    make_partner(company_a)
    dead = redis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.5, decode_responses=True
    )
    with pytest.raises(redis.ConnectionError):
        relay.forward_outbox(client=dead)
    row = OutboxEvent.objects.get()
    assert row.sent_at is None and row.attempts == 1 and row.last_error


def test_only_one_chain_of_retries_runs_during_an_outage(company_a):
    from events.tasks import should_start_retrying

    make_partner(company_a)
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        relay.forward_outbox(client=dead)
    # The first failed task starts retrying...
    assert should_start_retrying(0)
    with pytest.raises(redis.ConnectionError):
        relay.forward_outbox(client=dead)
    # ...later fresh tasks leave it to that chain (or the sweep); the chain goes on.
    assert not should_start_retrying(0)
    assert should_start_retrying(3)


def test_without_redis_events_stay_in_the_outbox(company_a, settings):
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": ""}
    make_partner(company_a)
    result = relay.forward_outbox()
    assert result.sent == 0
    row = OutboxEvent.objects.get()
    assert row.position is not None and row.sent_at is None


# -- several relays at once --------------------------------------------------


def test_two_relays_at_once_send_each_event_once(
    events_redis, company_a, table_share_lock
):
    for i in range(6):
        make_partner(company_a, name=f"P{i}")
    relay.sequence_outbox()  # the relays below only claim and send
    table_share_lock()
    # Separate relays (lanes=1: a run's own lanes would take the second batch).
    first = in_thread(relay.forward_outbox, batch_size=3, lanes=1)
    wait_for(lambda: lock_waiters() == 1, what="relay 1 stopped mid-batch")
    second = in_thread(relay.forward_outbox, batch_size=3, lanes=1)
    # Both relays have sent their batches and wait to mark them: the batches were
    # disjoint (SKIP LOCKED), or the stream would hold fewer than six entries.
    wait_for(lambda: lock_waiters() == 2, what="relay 2 stopped mid-batch")
    assert events_redis.xlen("partner_events") == 6
    table_share_lock.release()
    results = [first(), second()]
    assert sorted(r.sent for r in results) == [3, 3]
    sent = [fields["event_id"] for _, fields in events_redis.xrange("partner_events")]
    assert sorted(sent) == sorted(
        str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)
    )
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def test_a_relay_holds_back_an_object_another_relay_is_sending(
    events_redis, company_a, table_share_lock
):
    partner = make_partner(company_a)
    for i in range(5):
        services.update(partner, data={"name": f"v{i + 2}"})
    relay.sequence_outbox()
    table_share_lock()
    first = in_thread(relay.forward_outbox, batch_size=3, lanes=1)
    wait_for(lambda: lock_waiters() == 1, what="relay 1 stopped mid-batch")
    assert versions(events_redis, "partner_events", partner.pk) == [1, 2, 3]
    # Versions 4-6 are free to claim, but 1-3 are not committed as sent yet.
    second = relay.forward_outbox(batch_size=3, lanes=1)
    assert (second.claimed, second.sent, second.deferred) == (3, 0, 3)
    assert events_redis.xlen("partner_events") == 3
    table_share_lock.release()
    # The first relay, its batch committed, goes on with the held-back rows.
    assert first().sent == 6
    assert versions(events_redis, "partner_events", partner.pk) == [1, 2, 3, 4, 5, 6]


def test_concurrent_writers_and_relays_keep_order_per_object(events_redis, company_a):
    partners = [make_partner(company_a, name=f"P{i}") for i in range(3)]
    done = threading.Event()

    def writer(n):
        for i in range(12):
            partner = Partner.objects.get(pk=partners[(n + i) % 3].pk)
            services.update(partner, data={"phone": f"{n}-{i}"})

    def forwarder():
        sent = 0
        while not done.is_set():
            sent += relay.forward_outbox(batch_size=7).sent
        return sent

    relays = [in_thread(forwarder) for _ in range(2)]
    writers = [in_thread(writer, n) for n in range(4)]
    for join in writers:
        join()
    done.set()
    for join in relays:
        join()
    relay.forward_outbox()
    entries = events_redis.xrange("partner_events")
    assert len(entries) == OutboxEvent.objects.count() == 3 + 4 * 12
    assert len({fields["event_id"] for _, fields in entries}) == len(entries)
    for partner in partners:
        partner.refresh_from_db()
        assert versions(events_redis, "partner_events", partner.pk) == list(
            range(1, partner.version + 1)
        )


# -- rollback and switches ---------------------------------------------------


def test_rollback_writes_and_publishes_nothing(events_redis, company_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_partner(company_a, name="ghost")
        raise RuntimeError("abort")
    assert not OutboxEvent.objects.exists()
    make_partner(company_a, name="real")
    relay.forward_outbox()
    names = [
        json.loads(f["payload"])["name"]
        for _, f in events_redis.xrange("partner_events")
    ]
    assert names == ["real"]


def test_publishing_can_be_switched_off(company_a, settings):
    settings.MERP = {**settings.MERP, "EVENT_PUBLISHING_ENABLED": False}
    make_partner(company_a)
    assert Partner.objects.count() == 1
    assert not OutboxEvent.objects.exists()


# -- retention ---------------------------------------------------------------


def test_prune_deletes_only_old_sent_events(company_a, settings):
    settings.MERP = {**settings.MERP, "EVENT_RETENTION_DAYS": 7}
    for name in ("old-sent", "new-sent", "old-pending"):
        make_partner(company_a, name=name)
    now = timezone.now()
    OutboxEvent.objects.filter(payload__name="old-sent").update(
        sent_at=now - timedelta(days=8)
    )
    OutboxEvent.objects.filter(payload__name="new-sent").update(
        sent_at=now - timedelta(days=6)
    )
    OutboxEvent.objects.filter(payload__name="old-pending").update(
        occurred_at=now - timedelta(days=30)
    )
    from events.tasks import prune_outbox

    assert prune_outbox() == 1
    assert sorted(OutboxEvent.objects.values_list("payload__name", flat=True)) == [
        "new-sent",
        "old-pending",
    ]


def test_public_api_is_importable_from_the_app():
    from events import Consumer, forward_outbox, replay_events
    from events.consumer import Consumer as consumer_class

    assert Consumer is consumer_class
    assert callable(forward_outbox) and callable(replay_events)
