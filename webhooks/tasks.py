"""Celery tasks: fan-out, delivery per endpoint, the beat sweep, pruning.

Every task takes ids, reads the database afresh and is safe to run twice or in
many workers at once (claims skip locked rows; results are recorded only by the
claim's holder).
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from businessobjects.conf import merp_settings

from . import delivery, fanout
from .models import Delivery, Endpoint

logger = logging.getLogger(__name__)

# A queued-and-not-started task of the same kind makes another one unnecessary;
# the mark expires in case the task is lost.
KICK_TTL = 30
FORWARD_TASK = "events.tasks.forward_outbox"


def _claim_kick(key: str, ttl: float = KICK_TTL) -> bool:
    try:
        return bool(cache.add(f"merp:webhooks:{key}", 1, ttl))
    except Exception:
        return True  # the cache is down: queue anyway


def _release_kick(key: str) -> None:
    try:
        cache.delete(f"merp:webhooks:{key}")
    except Exception:
        pass  # it expires by itself


def _apply(task, key: str, *, ttl: float = KICK_TTL, **options) -> None:
    if not _claim_kick(key, ttl):
        return
    try:
        task.apply_async(retry=False, **options)
    except Exception as exc:
        # The broker is down: the beat sweep does this later.
        logger.warning("Could not queue %s: %s", task.name, exc)
        _release_kick(key)


def queue_fan_out() -> None:
    _apply(fan_out, "fan-out")


def queue_delivery(endpoint_id: int) -> None:
    _apply(deliver, f"deliver:{endpoint_id}", args=[endpoint_id])


def after_forward_outbox(sender=None, **kwargs) -> None:
    """``task_postrun`` receiver: new events were sequenced, fan them out."""
    if getattr(sender, "name", None) == FORWARD_TASK:
        queue_fan_out()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def fan_out() -> dict:
    """Create deliveries for the events past the fan-out cursor and queue them."""
    _release_kick("fan-out")
    result = fanout.fan_out()
    for endpoint_id in sorted(result.endpoints):
        queue_delivery(endpoint_id)
    if result.more:
        queue_fan_out()
    return {"scanned": result.scanned, "created": result.created}


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(endpoint_id: int, retry: bool = False) -> dict:
    """Send the endpoint's due deliveries; queue the next run when one is due soon
    (later ones are the sweep's)."""
    _release_kick(f"{'retry' if retry else 'deliver'}:{endpoint_id}")
    result = delivery.deliver_due(endpoint_id)
    if result.more:
        queue_delivery(endpoint_id)
    else:
        wait = delivery.next_due_in(endpoint_id)
        if wait is not None and wait <= merp_settings.WEBHOOK_COUNTDOWN_MAX:
            # One countdown task per endpoint at a time (a task queued for now
            # does not stand in for it).
            _apply(
                deliver,
                f"retry:{endpoint_id}",
                ttl=wait + KICK_TTL,
                args=[endpoint_id, True],
                countdown=wait,
            )
    return result.__dict__


@shared_task(acks_late=True, ignore_result=True)
def sweep() -> dict:
    """The beat's safety net: fan out what the after-forward kick missed, queue
    every endpoint with due deliveries (retries, leases of dead workers)."""
    result = fanout.fan_out()
    due = (
        Delivery.objects.filter(
            state=Delivery.State.PENDING,
            next_attempt_at__lte=timezone.now(),
            endpoint__is_active=True,
        )
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    endpoints = set(due) | result.endpoints
    for endpoint_id in sorted(endpoints):
        queue_delivery(endpoint_id)
    if result.more:
        queue_fan_out()
    return {"fanned_out": result.created, "endpoints": len(endpoints)}


@shared_task(acks_late=True, ignore_result=True)
def prune_deliveries() -> int:
    """Delete finished deliveries older than ``WEBHOOK_RETENTION_DAYS``."""
    cutoff = timezone.now() - timedelta(days=merp_settings.WEBHOOK_RETENTION_DAYS)
    total = 0
    for endpoint_id in Endpoint.objects.values_list("pk", flat=True):
        deleted, _ = (
            Delivery.objects.filter(endpoint_id=endpoint_id, updated_at__lt=cutoff)
            .exclude(state=Delivery.State.PENDING)
            .delete()
        )
        total += deleted
    if total:
        logger.info("Pruned %d finished webhook deliveries.", total)
    return total
