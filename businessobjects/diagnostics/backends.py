"""Probes of the services beside the database: Redis and the Celery workers."""

import datetime

from django.core.checks import Error
from django.utils.module_loading import import_string

from ..conf import merp_settings
from .outcome import (
    Outcome,
    redact,
    redis_error,
)

# -- services --------------------------------------------------------------------


def redis(url: str | None = None) -> Outcome:
    """PING the Redis of REDIS_URL (cache, broker and event streams)."""
    url = merp_settings.REDIS_URL if url is None else url
    if not url:
        return Outcome(
            summary="not configured (REDIS_URL unset: events stay in the outbox, "
            "Celery runs tasks in-process)"
        )
    error = redis_error(url)
    if error:
        return Outcome(
            [
                Error(
                    f"Cannot reach Redis at {redact(url)}: {error}",
                    hint="Start Redis or fix REDIS_URL (redis-cli -u <url> ping). "
                    "Events wait in the outbox meanwhile; nothing is lost.",
                    id="businessobjects.E013",
                )
            ]
        )
    return Outcome(summary=f"answering at {redact(url)}")


def celery_workers(app=None) -> Outcome:
    """Ask the Celery workers for a ``ping`` (unless tasks run eagerly)."""
    from health_check.contrib.celery import Ping

    if app is None:
        app = import_string(merp_settings.CELERY_APP)
    if app.conf.task_always_eager:
        return Outcome(summary="not configured (tasks run in-process)")
    hint = (
        "Start a worker and beat: celery -A merp worker -l info and "
        "celery -A merp beat -l info (Procfile; make run does it when REDIS_URL "
        "is set)."
    )
    broker = app.conf.broker_url or ""
    timeout = merp_settings.HEALTH_TIMEOUT
    # kombu retries an unreachable broker for seconds; a plain PING answers now.
    if broker.startswith(("redis://", "rediss://")) and (error := redis_error(broker)):
        return Outcome(
            [
                Error(
                    f"Cannot reach the Celery broker at {redact(broker)}: {error}",
                    hint="Start Redis or fix CELERY_BROKER_URL / REDIS_URL.",
                    id="businessobjects.E014",
                )
            ]
        )
    ping = Ping(app=app, timeout=datetime.timedelta(seconds=timeout))
    try:
        replies = app.control.ping(timeout=timeout)
        if not replies:
            raise LookupError(f"no worker answered within {timeout:g} s")
        ping.check_active_queues(*ping.active_workers(replies))
    except Exception as exc:
        return Outcome(
            [
                Error(
                    f"Celery workers: {getattr(exc, 'message', None) or exc}",
                    hint=hint,
                    id="businessobjects.E014",
                )
            ]
        )
    return Outcome(summary=f"{len(replies)} worker(s) answered")
