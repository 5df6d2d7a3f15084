"""Event commands fail with one clear line: no Redis, an unknown stream."""

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def consume(*args):
    return call_command(
        "merp_consume",
        *args,
        "--block-ms",
        "100",
        "--exit-when-idle",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )


@pytest.fixture
def no_redis(settings):
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": ""}


def test_consume_without_redis(no_redis):
    with pytest.raises(CommandError, match="No Redis for events: set REDIS_URL"):
        consume("--stream", "partner_events", "--group", "g")


def test_consume_refuses_an_unknown_stream(events_redis):
    with pytest.raises(CommandError) as refused:
        consume("--stream", "partner_evnets", "--group", "g")
    message = str(refused.value)
    assert "Unknown stream 'partner_evnets'" in message
    assert "partner_events" in message and "product_events" in message
    assert not events_redis.exists("partner_evnets")  # nothing created


def test_consume_a_registered_stream_not_yet_created(events_redis):
    assert not events_redis.exists("product_events")
    consume("--stream", "product_events", "--group", "g")
    assert events_redis.type("product_events") == "stream"
    assert events_redis.xinfo_groups("product_events")[0]["name"] == "g"


def test_consume_an_existing_stream_of_no_object(events_redis):
    # e.g. a replay --to-stream target, or a dead-letter stream.
    events_redis.xadd("redo", {"x": "1"})
    consume("--stream", "redo", "--group", "g")
    assert events_redis.xinfo_groups("redo")[0]["name"] == "g"


def test_known_streams_follow_the_prefix(events_redis, settings):
    settings.MERP = {**settings.MERP, "EVENT_STREAM_PREFIX": "shop:"}
    with pytest.raises(CommandError, match="shop:partner_events"):
        consume("--stream", "partner_events", "--group", "g")
    consume("--stream", "shop:partner_events", "--group", "g")


def test_consume_reports_an_unreachable_redis(settings):
    settings.MERP = {**settings.MERP, "EVENT_REDIS_URL": "redis://127.0.0.1:1/0"}
    with pytest.raises(CommandError, match="Redis failed"):
        consume("--stream", "partner_events", "--group", "g")


def test_replay_refuses_an_unknown_stream(events_redis):
    with pytest.raises(CommandError, match="Unknown stream 'partner_evnets'"):
        call_command(
            "merp_replay_events",
            "--stream",
            "partner_evnets",
            stdout=io.StringIO(),
        )


def test_replay_without_redis(no_redis):
    with pytest.raises(CommandError, match="No Redis for events: set REDIS_URL"):
        call_command("merp_replay_events", "--all", stdout=io.StringIO())


@pytest.mark.parametrize(
    "args",
    [
        ["merp_consume", "--stream", "partner_events", "--group", "g"],
        ["merp_replay_events", "--all"],
    ],
)
def test_without_redis_one_line_no_traceback(args):
    env = {
        **os.environ,
        "REDIS_URL": "",
        "MERP_EVENT_REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("CommandError: No Redis for events")
    assert len(result.stderr.strip().splitlines()) == 1
