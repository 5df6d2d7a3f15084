"""One settings object for the framework: ``merp_settings.AUDIT_ENABLED`` etc.

Values come from ``settings.MERP`` (merp/settings.py fills it from the environment)
with the defaults below. This module only reads settings.
"""

from django.conf import settings

DEFAULTS = {
    # Write history rows for every business-object change.
    "AUDIT_ENABLED": True,
    # Write an outbox event for every business-object change.
    "EVENT_PUBLISHING_ENABLED": True,
    # Redis of the cache, the Celery broker and (by default) the event streams;
    # empty: no Redis (diagnostics and readiness report it as not configured).
    "REDIS_URL": "",
    # Prefix of every Redis stream name (``<prefix><model>_events``).
    "EVENT_STREAM_PREFIX": "",
    # Approximate MAXLEN passed to XADD.
    "EVENT_STREAM_MAXLEN": 1_000_000,
    # Days sent outbox events are kept for replay.
    "EVENT_RETENTION_DAYS": 7,
    # Redis of the event streams; empty: events stay in the outbox (REDIS_URL in
    # merp/settings.py).
    "EVENT_REDIS_URL": "",
    # That Redis is a Redis Cluster (also implied by a ``redis+cluster://`` URL):
    # businessobjects.redisclient, docs/scaling.md "Redis Cluster".
    "EVENT_REDIS_CLUSTER": False,
    # Socket timeouts (seconds) towards that Redis, so a dead server fails fast.
    "EVENT_REDIS_TIMEOUT": 5,
    # Outbox rows claimed, sent (one XADD script call per stream) and marked per
    # short transaction.
    "EVENT_FORWARD_BATCH_SIZE": 1000,
    # Threads (own database connections) of one forwarding run with a backlog: one
    # marks and commits its batch while the next claims and sends.
    "EVENT_FORWARD_LANES": 2,
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
    # Consumer name inside its group; empty: the host name.
    "EVENT_CONSUMER_NAME": "",
    # Outbox rows given stream positions per sequencing transaction.
    "EVENT_SEQUENCE_BATCH_SIZE": 5000,
    # Sent outbox rows deleted per statement when pruning.
    "EVENT_PRUNE_BATCH_SIZE": 5000,
    # Seconds a "forwarding task queued" marker lives in Redis, so commits in a
    # burst queue one task instead of one each.
    "EVENT_FORWARD_KICK_TTL": 10,
    # Seconds before a forwarding task tries again when rows were held back
    # behind another relay.
    "EVENT_DEFERRED_RETRY_SECONDS": 1,
    # Read replica (DATABASE_REPLICA_URL, businessobjects.routing): the seconds at
    # most that a client that wrote reads from the primary until the replica has
    # replayed its write; API actions served from the replica; models always read
    # from the primary (credentials: a revoked token must not live on in a lagging
    # replica; definitions: the cache must not keep a replica's older copy).
    "REPLICA_PIN_SECONDS": 10,
    "REPLICA_ACTIONS": ("list", "history"),
    "REPLICA_PRIMARY_MODELS": (
        "auth.user",
        "authtoken.token",
        "sessions.session",
        "contenttypes.contenttype",
        "businessobjects.company",
        "businessobjects.membership",
        "extensions.fielddefinition",
    ),
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
    # Dotted path of the project's Celery app, which diagnostics and readiness
    # ask about workers (the apps never import the project package).
    "CELERY_APP": "merp.celery.app",
    # Seconds to wait for Redis and Celery workers to answer a diagnostic ping.
    "HEALTH_TIMEOUT": 1.0,
    # Extra /health/ready/ checks of plug-ins: {name: dotted path of a
    # health_check HealthCheck class}.
    "READINESS_CHECKS": {},
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
    # The admin's branding: the header on every page, the browser title and the
    # index page's title; "View site" links to ADMIN_SITE_URL (the API docs), and
    # is hidden when it is empty.
    "ADMIN_SITE_HEADER": "M-ERP back office",
    "ADMIN_SITE_TITLE": "M-ERP back office",
    "ADMIN_INDEX_TITLE": "Business objects and settings",
    "ADMIN_SITE_URL": "/api/docs/",
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
    """Read ``settings.MERP[name]``, else ``DEFAULTS[name]``; never write settings.

    Every read looks ``settings.MERP`` up again, so ``override_settings(MERP=...)``
    takes effect at once.
    """

    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(
                f"Unknown M-ERP setting {name!r}: add it to "
                "businessobjects.conf.DEFAULTS with a documented default."
            )
        return getattr(settings, "MERP", {}).get(name, DEFAULTS[name])


merp_settings = MerpSettings()
