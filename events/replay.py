"""Republishing stored (already sent) events, e.g. after a stream was lost or for a
new consumer. Entries are identical to the originals, ``event_id`` included, so
idempotent consumers skip what they have already seen."""

from datetime import datetime

import redis

from businessobjects.conf import merp_settings

from . import relay, streams
from .models import OutboxEvent


def select_events(
    *,
    stream: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    correlation_id: str | None = None,
    company_id: int | None = None,
    aggregate_id: str | None = None,
    event_type: str | None = None,
):
    """Return the sent events matching every given filter, in stream order.

    Unsent events are left out: the relay delivers them, in order.
    """
    queryset = OutboxEvent.objects.filter(sent_at__isnull=False)
    filters = {
        "stream": stream,
        "occurred_at__gte": since,
        "occurred_at__lt": until,
        "correlation_id": correlation_id,
        "company_id": company_id,
        "aggregate_id": aggregate_id,
        "event_type": event_type,
    }
    return queryset.filter(
        **{key: value for key, value in filters.items() if value is not None}
    ).order_by("position")


def replay_events(
    queryset,
    *,
    target_stream: str | None = None,
    client: redis.Redis | None = None,
    batch_size: int = 500,
) -> int:
    """XADD each event of ``queryset`` again (to its own stream, or to
    ``target_stream``); return how many entries were written."""
    client = client or streams.get_client()
    maxlen = merp_settings.EVENT_STREAM_MAXLEN
    written = 0
    pipe = client.pipeline(transaction=False)
    for row in relay.stream_rows(queryset, chunk_size=batch_size):
        pipe.xadd(
            target_stream or row.stream, row.fields, maxlen=maxlen, approximate=True
        )
        if len(pipe) >= batch_size:
            written += len(pipe.execute())
    if len(pipe):
        written += len(pipe.execute())
    return written
