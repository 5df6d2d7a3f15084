"""One settings object for the framework: ``merp_settings.AUDIT_ENABLED`` etc.

Values come from ``settings.MERP`` with the defaults below; the object reloads when
``settings.MERP`` (or a flag) is overridden, so ``override_settings`` works in tests.
"""

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS = {
    # Write history rows for every business-object change.
    "AUDIT_ENABLED": True,
    # Write an outbox event for every business-object change.
    "EVENT_PUBLISHING_ENABLED": True,
    # Prefix of every Redis stream name (``<prefix><model>_events``).
    "EVENT_STREAM_PREFIX": "",
    # Approximate MAXLEN passed to XADD.
    "EVENT_STREAM_MAXLEN": 1_000_000,
    # Days sent outbox events are kept for replay.
    "EVENT_RETENTION_DAYS": 7,
    # Redis of the event streams; empty: events stay in the outbox (REDIS_URL in
    # merp/settings.py).
    "EVENT_REDIS_URL": "",
    # Socket timeouts (seconds) towards that Redis, so a dead server fails fast.
    "EVENT_REDIS_TIMEOUT": 5,
    # Outbox rows claimed, sent with one pipelined XADD round trip and marked per
    # short transaction.
    "EVENT_FORWARD_BATCH_SIZE": 500,
    # Seconds one forwarding task drains before handing over to a fresh task; keeps
    # every task far below the broker's visibility timeout.
    "EVENT_FORWARD_TIME_BUDGET": 60,
    # Seconds between beat sweeps of the outbox (lost tasks, Redis outages).
    "EVENT_SWEEP_INTERVAL": 30,
    # Retries of a failed forwarding task, with exponential back-off up to this
    # many seconds (must stay below the visibility timeout, see events.checks).
    "EVENT_RETRY_MAX": 8,
    "EVENT_RETRY_BACKOFF_MAX": 300,
    # Consumers reclaim entries another consumer left pending this long (ms);
    # must exceed the slowest handler.
    "EVENT_CLAIM_MIN_IDLE_MS": 60_000,
    # Deliveries of one entry before a consumer moves it to "<stream>:dead".
    "EVENT_MAX_DELIVERIES": 10,
    # Default and maximum page size of list endpoints.
    "PAGE_SIZE": 50,
    "MAX_PAGE_SIZE": 500,
    # Rows per INSERT in bulk paths.
    "BULK_BATCH_SIZE": 1000,
    # Outbox backlog limits for merp_doctor and /health/ready/: the number of
    # unsent events and the age (seconds) of the oldest. Past WARN the check warns;
    # past FAIL it fails (readiness answers 503): the relay is down or too slow.
    "OUTBOX_WARN_PENDING": 1_000,
    "OUTBOX_WARN_AGE": 300,
    "OUTBOX_FAIL_PENDING": 100_000,
    "OUTBOX_FAIL_AGE": 3_600,
    # Seconds to wait for Redis and Celery workers to answer a diagnostic ping.
    "HEALTH_TIMEOUT": 1.0,
    # Seconds custom-field definitions stay cached (changes invalidate at once
    # with Redis; the local-memory cache is per process, so this bounds staleness).
    "EXTENSIONS_CACHE_TIMEOUT": 300,
    # PostgreSQL: list pages in id order that filter by custom fields run with
    # nested loops only (they walk the value index and stop after one page;
    # see extensions.filters.index_walk). False leaves the plan to PostgreSQL.
    "EXTENSIONS_FILTER_INDEX_WALK": True,
    # Limits of one json custom-field value: nesting depth (arrays and objects)
    # and size in bytes of its JSON text. Deeper or larger values are a 400.
    "EXTENSIONS_JSON_MAX_DEPTH": 32,
    "EXTENSIONS_JSON_MAX_BYTES": 64 * 1024,
    # Webhooks (webhooks/, docs/webhooks.md). Deliver to hosts that resolve to
    # private, loopback or link-local addresses (development and tests only).
    "WEBHOOK_ALLOW_PRIVATE": False,
    # Seconds a receiver has to answer (connect, send and read, in total).
    "WEBHOOK_TIMEOUT": 10.0,
    # Seconds before each retry of a failed delivery, with +/- jitter (a fraction);
    # after the last one the delivery is failed.
    "WEBHOOK_RETRY_SCHEDULE": [5, 300, 1800, 7200, 18000, 36000],
    "WEBHOOK_RETRY_JITTER": 0.2,
    # Seconds a claimed delivery stays reserved beyond its batch's timeouts; a
    # worker that dies mid-delivery leaves it to the sweep after this.
    "WEBHOOK_LEASE_MARGIN": 60.0,
    # Seconds after a rotation during which the old secret also signs.
    "WEBHOOK_SECRET_OVERLAP": 86_400,
    # Seconds between beat sweeps (fan-out of new events, due retries).
    "WEBHOOK_SWEEP_INTERVAL": 10,
    # Retries due sooner than this (seconds) are queued with a countdown, later
    # ones are left to the sweep (a countdown must stay far below the broker's
    # visibility timeout).
    "WEBHOOK_COUNTDOWN_MAX": 60,
    # Deliveries claimed per short transaction (and sent one by one: a claim's
    # lease is this many timeouts long), and seconds one task works.
    "WEBHOOK_BATCH_SIZE": 20,
    "WEBHOOK_TIME_BUDGET": 60,
    # Days finished (succeeded or failed) deliveries are kept.
    "WEBHOOK_RETENTION_DAYS": 30,
    # Backlog limits of /health/ready/: due deliveries, and how long (seconds) the
    # oldest has been due. Past WARN the check warns, past FAIL it fails.
    "WEBHOOK_WARN_PENDING": 1_000,
    "WEBHOOK_WARN_AGE": 300,
    "WEBHOOK_FAIL_AGE": 3_600,
}


class MerpSettings:
    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown M-ERP setting {name!r}")
        configured = getattr(settings, "MERP", {})
        # Top-level flags win so that override_settings(AUDIT_ENABLED=False) works.
        if name in ("AUDIT_ENABLED", "EVENT_PUBLISHING_ENABLED") and hasattr(
            settings, name
        ):
            return getattr(settings, name)
        return configured.get(name, DEFAULTS[name])


merp_settings = MerpSettings()


def _sync_simple_history(*, setting, value, **kwargs):
    # Keep simple-history's global switch in step with AUDIT_ENABLED.
    if setting == "AUDIT_ENABLED":
        settings.SIMPLE_HISTORY_ENABLED = value


setting_changed.connect(_sync_simple_history, dispatch_uid="merp_sync_simple_history")
