"""Consumer groups against real Redis: handler hook, acks, own pending first,
reclaiming a dead consumer's entries, dead letters, and merp_consume."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from businessobjects import services
from businessobjects.models import Partner
from events import relay
from events.consumer import Consumer, Event

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "partner_events"


@pytest.fixture
def published(events_redis, company_a):
    """Five partner.created events in the stream; returns their event ids."""
    for i in range(5):
        services.create(Partner, data={"name": f"P{i}"}, company=company_a)
    assert relay.forward_outbox().sent == 5
    return [f["event_id"] for _, f in events_redis.xrange(STREAM)]


def pending(client, group):
    return client.xpending(STREAM, group)["pending"]


def test_handler_gets_parsed_events_and_acks_them(events_redis, published, company_a):
    seen: list[Event] = []
    consumer = Consumer(STREAM, "mirror", "c1", handler=seen.append, block_ms=100)
    assert consumer.run(exit_when_idle=True) == 5
    assert [e.event_id for e in seen] == published
    event = seen[0]
    assert event.event_type == "partner.created"
    assert event.company_id == company_a.pk and event.user_id is None
    assert event.version == 1 and event.payload["name"] == "P0"
    assert event.changes["name"] == {"old": None, "new": "P0"}
    assert event.occurred_at.tzinfo is not None
    assert pending(events_redis, "mirror") == 0


def test_subclass_hook_and_independent_groups(events_redis, published):
    class Collect(Consumer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.ids = []

        def handle(self, event):
            self.ids.append(event.event_id)

    a = Collect(STREAM, "group-a", "x", block_ms=100)
    b = Collect(STREAM, "group-b", "x", block_ms=100)
    a.run(exit_when_idle=True)
    b.run(exit_when_idle=True)
    assert a.ids == b.ids == published


def test_failed_handler_leaves_the_entry_pending(events_redis, published):
    def fail_on_third(event):
        if event.event_id == published[2]:
            raise RuntimeError("boom")

    consumer = Consumer(STREAM, "g", "c1", handler=fail_on_third, block_ms=100)
    assert consumer.run(exit_when_idle=True) == 4
    entries = events_redis.xpending_range(STREAM, "g", min="-", max="+", count=10)
    assert len(entries) == 1 and entries[0]["consumer"] == "c1"


def test_a_restarted_consumer_reads_its_own_pending_entries_first(
    events_redis, published
):
    Consumer(STREAM, "g", "c1", handler=lambda e: None).ensure_group()
    # c1 was given two entries, then died before acking them.
    events_redis.xreadgroup("g", "c1", {STREAM: ">"}, count=2)
    assert pending(events_redis, "g") == 2
    seen = []
    restarted = Consumer(
        STREAM, "g", "c1", handler=lambda e: seen.append(e.event_id), block_ms=100
    )
    assert restarted.run(exit_when_idle=True) == 5
    assert seen == published  # the two pending ones, then the three new ones
    assert pending(events_redis, "g") == 0


def test_a_dead_consumers_entries_are_reclaimed_after_min_idle(events_redis, published):
    Consumer(STREAM, "g", "dead", handler=lambda e: None).ensure_group()
    events_redis.xreadgroup("g", "dead", {STREAM: ">"}, count=3)
    seen = []
    alive = Consumer(
        STREAM,
        "g",
        "alive",
        handler=lambda e: seen.append(e.event_id),
        block_ms=100,
        claim_min_idle_ms=60_000,
    )
    # Idle less than claim_min_idle_ms: the dead consumer might just be slow.
    assert alive.claim_abandoned() == 0
    assert pending(events_redis, "g") == 3
    # Age the entries as if "dead" had been silent for two minutes (XCLAIM IDLE).
    ids = [i for i, _ in events_redis.xrange(STREAM)][:3]
    events_redis.xclaim(STREAM, "g", "dead", 0, ids, idle=120_000)
    assert alive.run(exit_when_idle=True) == 5
    assert seen == published
    assert pending(events_redis, "g") == 0
    consumers = {
        c["name"]: c["pending"] for c in events_redis.xinfo_consumers(STREAM, "g")
    }
    assert consumers == {"dead": 0, "alive": 0}


def test_an_entry_that_keeps_failing_goes_to_the_dead_letter_stream(
    events_redis, published
):
    def fail_on_first(event):
        if event.event_id == published[0]:
            raise RuntimeError("poison")

    consumer = Consumer(
        STREAM,
        "g",
        "c1",
        handler=fail_on_first,
        block_ms=100,
        claim_min_idle_ms=0,
        max_deliveries=3,
    )
    handled = consumer.run(exit_when_idle=True)
    handled += consumer.claim_abandoned()  # delivery 2
    handled += consumer.claim_abandoned()  # delivery 3: dead-lettered
    assert handled == 4
    assert pending(events_redis, "g") == 0
    dead = events_redis.xrange(f"{STREAM}:dead")
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields["event_id"] == published[0]
    assert fields["dead_group"] == "g" and "poison" in fields["dead_error"]


def test_trimmed_pending_entries_are_acked_and_skipped(events_redis, published):
    Consumer(STREAM, "g", "c1", handler=lambda e: None).ensure_group()
    events_redis.xreadgroup("g", "c1", {STREAM: ">"}, count=2)
    first_id = events_redis.xrange(STREAM)[0][0]
    events_redis.xdel(STREAM, first_id)
    seen = []
    consumer = Consumer(
        STREAM, "g", "c1", handler=lambda e: seen.append(e.event_id), block_ms=100
    )
    assert consumer.run(exit_when_idle=True) == 4
    assert seen == published[1:]
    assert pending(events_redis, "g") == 0


def test_merp_consume_prints_events_and_acks(events_redis, published):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "merp_consume",
        "--stream",
        STREAM,
        "--group",
        "cli",
        "--consumer",
        "cli-1",
        "--max-events",
        "3",
        stdout=out,
        stderr=err,
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event_id"] for line in lines] == published[:3]
    assert "Handled 3 events" in err.getvalue()
    assert pending(events_redis, "cli") == 0
    # The group remembers its place: the next run gets the other two.
    out = io.StringIO()
    call_command(
        "merp_consume",
        "--stream",
        STREAM,
        "--group",
        "cli",
        "--block-ms",
        "100",
        "--exit-when-idle",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert [json.loads(x)["event_id"] for x in out.getvalue().splitlines()] == (
        published[3:]
    )


collected: list[str] = []


def collect(event: Event) -> None:
    collected.append(event.event_id)


def test_merp_consume_with_a_handler_path(events_redis, published):
    collected.clear()
    call_command(
        "merp_consume",
        "--stream",
        STREAM,
        "--group",
        "h",
        "--handler",
        "tests.events.test_consumer.collect",
        "--block-ms",
        "100",
        "--exit-when-idle",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert collected == published


def test_merp_consume_refuses_a_bad_handler(events_redis):
    with pytest.raises(CommandError, match="--handler: cannot import"):
        call_command(
            "merp_consume", "--stream", STREAM, "--group", "g", "--handler", "no.such"
        )
