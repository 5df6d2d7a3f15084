"""Writes of the webhooks app: endpoints, secret rotation, replay."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from businessobjects.conf import merp_settings
from businessobjects.models import Company
from events.models import OutboxEvent, OutboxSequence

from . import addresses, signing
from .fanout import deliveries_for
from .matching import validate_changed_fields, validate_event_types
from .models import Delivery, Endpoint

# Endpoint attributes a caller may set.
EDITABLE = ("url", "event_types", "changed_fields", "is_active", "description")


def validate_url(url) -> str:
    """Return ``url`` if it is http(s) and its host resolves to allowed addresses;
    ``ValidationError`` naming ``url`` otherwise."""
    if not isinstance(url, str) or not url:
        raise ValidationError({"url": ["Enter an http:// or https:// URL."]})
    try:
        addresses.resolve(url)
    except addresses.AddressRefused as exc:
        raise ValidationError({"url": [str(exc)]}) from None
    return url


def _clean(data: dict, *, current: Endpoint | None = None) -> dict:
    unknown = set(data) - set(EDITABLE)
    assert not unknown, (
        f"Unknown endpoint attributes {sorted(unknown)}; use {EDITABLE}."
    )
    cleaned = dict(data)
    if "url" in cleaned:
        cleaned["url"] = validate_url(cleaned["url"])
    event_types = cleaned.get("event_types", current and current.event_types)
    if "event_types" in cleaned or current is None:
        event_types = cleaned["event_types"] = validate_event_types(event_types)
    if "changed_fields" in cleaned or "event_types" in cleaned:
        fields = cleaned.get("changed_fields", current and current.changed_fields)
        cleaned["changed_fields"] = validate_changed_fields(fields, event_types)
    return cleaned


def _current_position() -> int:
    return (
        OutboxSequence.objects.filter(pk=1)
        .values_list("last_position", flat=True)
        .first()
        or 0
    )


@transaction.atomic
def endpoint_create(*, company: Company, **data) -> Endpoint:
    """Create an endpoint (a fresh secret; events from now on)."""
    cleaned = _clean(data)
    endpoint = Endpoint(
        company=company,
        secret=signing.new_secret(),
        start_position=_current_position(),
        **cleaned,
    )
    endpoint.full_clean(exclude=["url"])  # the URL was checked above
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_update(endpoint: Endpoint, **data) -> Endpoint:
    cleaned = _clean(data, current=endpoint)
    for name, value in cleaned.items():
        setattr(endpoint, name, value)
    endpoint.full_clean(exclude=["url", "company"])
    endpoint.save()
    if cleaned.get("is_active"):
        transaction.on_commit(lambda: _kick(endpoint.pk))
    return endpoint


def endpoint_delete(endpoint: Endpoint) -> None:
    """Delete the endpoint and its delivery log."""
    endpoint.delete()


@transaction.atomic
def rotate_secret(endpoint: Endpoint) -> Endpoint:
    """Give the endpoint a new secret; the old one also signs for
    ``WEBHOOK_SECRET_OVERLAP`` seconds (24 hours)."""
    locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = timezone.now() + timedelta(
        seconds=merp_settings.WEBHOOK_SECRET_OVERLAP
    )
    locked.secret = signing.new_secret()
    locked.save(
        update_fields=[
            "secret",
            "previous_secret",
            "previous_secret_expires_at",
            "updated_at",
        ]
    )
    return locked


@dataclass
class ReplayResult:
    reset: int = 0
    created: int = 0

    @property
    def total(self) -> int:
        return self.reset + self.created


@transaction.atomic
def replay(
    endpoint: Endpoint,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    event_id=None,
) -> ReplayResult:
    """Send events again: ``event_id``, or those that occurred in [since, until).

    A finished delivery of the event is reset to pending (one row per endpoint
    and event, so its log shows the latest run); an event of the outbox without
    a delivery, that the endpoint's filters select, gets a new one. Pending
    deliveries are left as they are (they are being sent).
    """
    if (event_id is None) == (since is None):
        raise ValidationError(
            {"non_field_errors": ["Send either event_id, or since (and until)."]}
        )
    deliveries = Delivery.objects.filter(
        company_id=endpoint.company_id, endpoint=endpoint
    )
    events = OutboxEvent.objects.filter(
        company_id=endpoint.company_id, position__isnull=False
    )
    if event_id is not None:
        deliveries = deliveries.filter(event_id=event_id)
        events = events.filter(event_id=event_id)
    else:
        until = until or timezone.now()
        if until <= since:
            raise ValidationError({"until": ["Must be later than since."]})
        deliveries = deliveries.filter(occurred_at__gte=since, occurred_at__lt=until)
        events = events.filter(occurred_at__gte=since, occurred_at__lt=until)
    known = set(deliveries.values_list("event_id", flat=True))
    now = timezone.now()
    reset = deliveries.exclude(state=Delivery.State.PENDING).update(
        state=Delivery.State.PENDING,
        attempts=0,
        next_attempt_at=now,
        status_code=None,
        duration_ms=None,
        response_excerpt="",
        error="",
        updated_at=now,
    )
    created = 0
    fresh = events.exclude(event_id__in=known).order_by("position")
    batch: list[OutboxEvent] = []
    for event in fresh.iterator(chunk_size=1000):
        batch.append(event)
        if len(batch) == 1000:
            created += _create(endpoint, batch)
            batch = []
    created += _create(endpoint, batch)
    if event_id is not None and not (known or created):
        raise ValidationError(
            {
                "event_id": [
                    "No event with this id that this endpoint's filters select "
                    "(or it was pruned from the outbox)."
                ]
            }
        )
    transaction.on_commit(lambda: _kick(endpoint.pk))
    return ReplayResult(reset=reset, created=created)


def _create(endpoint: Endpoint, events: list[OutboxEvent]) -> int:
    # Replay ignores start_position: it is for events from before, too.
    saved, endpoint.start_position = endpoint.start_position, -1
    try:
        rows = deliveries_for(events, [endpoint])
    finally:
        endpoint.start_position = saved
    return len(Delivery.objects.bulk_create(rows, ignore_conflicts=True))


def _kick(endpoint_id: int) -> None:
    from .tasks import queue_delivery

    queue_delivery(endpoint_id)
