"""System checks: settings that would lose or loop work."""

from django.conf import settings
from django.core.checks import Error, Warning

from businessobjects.conf import merp_settings


def check_stream_maxlen(app_configs=None, **kwargs):
    maxlen = merp_settings.EVENT_STREAM_MAXLEN
    if not isinstance(maxlen, int) or isinstance(maxlen, bool) or maxlen < 1:
        return [
            Error(
                f"MERP['EVENT_STREAM_MAXLEN'] must be a positive integer, not "
                f"{maxlen!r}.",
                hint="Set MERP_EVENT_STREAM_MAXLEN to the entries each stream keeps "
                "(approximately), e.g. 1000000.",
                id="events.E001",
            )
        ]
    return []


def check_visibility_timeout(app_configs=None, **kwargs):
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    # Kombu's Redis transport default.
    timeout = options.get("visibility_timeout", 3600)
    longest = max(
        merp_settings.EVENT_RETRY_BACKOFF_MAX, merp_settings.EVENT_FORWARD_TIME_BUDGET
    )
    if timeout <= longest:
        return [
            Error(
                f"The broker's visibility_timeout ({timeout}s) must exceed the "
                f"longest forwarding delay or run ({longest}s): the Redis broker "
                "would hand the task to a second worker and a retry would loop.",
                hint="Raise CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'] or "
                "lower MERP['EVENT_RETRY_BACKOFF_MAX'] / "
                "MERP['EVENT_FORWARD_TIME_BUDGET'].",
                id="events.E002",
            )
        ]
    return []


def check_celery_keeps_work(app_configs=None, **kwargs):
    expected = {
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
    }
    wrong = {
        name: getattr(settings, name, None)
        for name, value in expected.items()
        if getattr(settings, name, None) != value
    }
    if wrong:
        return [
            Warning(
                "Celery settings that lose tasks when a worker dies: "
                + ", ".join(f"{name}={value!r}" for name, value in wrong.items())
                + ".",
                hint="Set "
                + ", ".join(f"{name} = {expected[name]!r}" for name in wrong)
                + " (events are still safe in the outbox, but wait for the sweep).",
                id="events.W001",
            )
        ]
    return []
