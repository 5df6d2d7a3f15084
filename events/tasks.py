"""Celery tasks: one more interface onto events.relay."""

import logging

import redis
from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import DatabaseError

from businessobjects.conf import merp_settings

from . import relay, streams
from .models import OutboxEvent

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def forward_outbox(self) -> dict:
    """Forward pending outbox events to Redis Streams; on failure back off and retry.

    Queued after every commit that wrote events and by the beat sweep, so a lost
    task or a Redis outage never strands an event. Rows stay unsent until they
    are in Redis, so running this twice, or in many workers, is always safe.
    """
    if streams.is_configured():
        # Before reading the outbox: rows committed from now on queue a new task.
        streams.release_forward_kick()
    try:
        result = relay.forward_outbox()
    except (redis.RedisError, DatabaseError) as exc:
        retries = self.request.retries
        if (
            self.request.is_eager
            or retries >= merp_settings.EVENT_RETRY_MAX
            or not should_start_retrying(retries)
        ):
            logger.warning(
                "Forwarding the outbox failed (%s); a retrying task or the beat "
                "sweep tries again.",
                exc,
            )
            return {"error": str(exc)}
        countdown = get_exponential_backoff_interval(
            factor=1,
            retries=retries,
            maximum=merp_settings.EVENT_RETRY_BACKOFF_MAX,
            full_jitter=True,
        )
        logger.warning(
            "Forwarding the outbox failed (%s); retry %d in %ss.",
            exc,
            retries + 1,
            countdown,
        )
        raise self.retry(
            exc=exc, countdown=countdown, max_retries=merp_settings.EVENT_RETRY_MAX
        ) from exc
    if not self.request.is_eager:
        if result.more:
            self.apply_async()
        elif result.deferred:
            self.apply_async(countdown=merp_settings.EVENT_DEFERRED_RETRY_SECONDS)
    return result.as_dict()


def should_start_retrying(retries: int) -> bool:
    """Whether a failed run should schedule retries.

    During an outage every commit queues a task and each would start its own
    chain of retries. Rows failed more than once mean a chain is running (or
    gave up, leaving them to the sweep): a fresh task then just stops.
    """
    if retries:
        return True  # this task is the chain
    try:
        return not OutboxEvent.objects.filter(
            sent_at__isnull=True, attempts__gt=1
        ).exists()
    except DatabaseError:
        return True


@shared_task(acks_late=True, ignore_result=True)
def prune_outbox() -> int:
    """Delete sent events older than ``EVENT_RETENTION_DAYS``."""
    deleted = relay.prune_sent()
    if deleted:
        logger.info("Pruned %d sent outbox events.", deleted)
    return deleted
