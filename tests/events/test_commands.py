"""merp_publish_outbox and merp_replay_events."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from businessobjects import services
from businessobjects.context import use_context
from businessobjects.models import Partner
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_publish_outbox_drains_and_reports(events_redis, company_a):
    for i in range(3):
        services.create(Partner, data={"name": f"P{i}"}, company=company_a)
    output = run("merp_publish_outbox", "--batch-size", "2")
    assert "sent 3" in output and "0 pending" in output
    assert events_redis.xlen("partner_events") == 3
    assert "sent 0" in run("merp_publish_outbox")


def test_publish_outbox_without_redis_keeps_events(company_a, settings):
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": ""}
    services.create(Partner, data={"name": "P"}, company=company_a)
    output = run("merp_publish_outbox")
    assert "1 events stay in the outbox" in output
    assert OutboxEvent.objects.get().sent_at is None


def test_publish_outbox_reports_a_redis_failure(company_a, settings):
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": "redis://127.0.0.1:1/0"}
    services.create(Partner, data={"name": "P"}, company=company_a)
    with pytest.raises(CommandError, match="1 events stay pending"):
        run("merp_publish_outbox")


def test_publish_outbox_prunes_on_request(events_redis, company_a):
    services.create(Partner, data={"name": "P"}, company=company_a)
    run("merp_publish_outbox")
    OutboxEvent.objects.update(sent_at=timezone.now() - timedelta(days=30))
    assert "Pruned 1" in run("merp_publish_outbox", "--prune")
    assert not OutboxEvent.objects.exists()


@pytest.fixture
def history(events_redis, company_a, company_b):
    """Sent events: two under correlation id "job-1", one old, one of company B."""
    with use_context(company=company_a, correlation_id="job-1"):
        p = services.create(Partner, data={"name": "A"})
        services.update(p, data={"name": "A2"})
    with use_context(company=company_a, correlation_id="job-2"):
        services.create(Partner, data={"name": "Old"})
    services.create(Partner, data={"name": "B"}, company=company_b)
    run("merp_publish_outbox")
    OutboxEvent.objects.filter(payload__name="Old").update(
        occurred_at=timezone.now() - timedelta(days=3)
    )
    events_redis.delete("partner_events")  # the stream was lost
    return events_redis


def replayed(client, stream="partner_events"):
    return [f for _, f in client.xrange(stream)]


def test_replay_by_correlation_id(history):
    assert "Replayed 2 events" in run("merp_replay_events", "--correlation-id", "job-1")
    entries = replayed(history)
    rows = OutboxEvent.objects.filter(correlation_id="job-1").order_by("position")
    assert entries == [row.as_stream_fields() for row in rows]  # identical entries


def test_replay_by_stream_and_time_range(history):
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert "Replayed 3 events" in run(
        "merp_replay_events", "--stream", "partner_events", "--since", since
    )
    until = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert "Replayed 1 events" in run("merp_replay_events", "--until", until)
    assert replayed(history)[-1]["event_id"] == str(
        OutboxEvent.objects.get(payload__name="Old").event_id
    )


def test_replay_by_company_to_another_stream(history, company_b):
    run("merp_replay_events", "--company", str(company_b.pk), "--to-stream", "redo")
    assert [f["company_id"] for f in replayed(history, "redo")] == [str(company_b.pk)]
    assert history.xlen("partner_events") == 0


def test_replay_dry_run_and_unsent_events(history, company_a):
    services.create(Partner, data={"name": "Unsent"}, company=company_a)
    output = run("merp_replay_events", "--all", "--dry-run")
    assert "Would replay 4 events" in output  # the unsent one is the relay's job
    assert history.xlen("partner_events") == 0


def test_replay_needs_a_filter_and_valid_dates(events_redis):
    with pytest.raises(CommandError, match="at least one filter"):
        run("merp_replay_events")
    with pytest.raises(CommandError, match="--since"):
        run("merp_replay_events", "--since", "yesterday")
