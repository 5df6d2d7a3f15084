"""The event envelope (docs/events.md), defined once: its fields, how an outbox
row becomes a stream entry, and how a stream entry is read back."""

import json
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder

# The fields of every stream entry, in this order; the API's event items carry
# them too (beside the feed position, the stream and sent_at).
FIELDS = (
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "company_id",
    "user_id",
    "correlation_id",
    "occurred_at",
    "version",
    "payload",
    "changes",
)


def dumps(value) -> str:
    """JSON as PostgreSQL prints ``jsonb`` (UTF-8, ", ", ": "), so an entry is the
    same whether the relay renders it in SQL or Python renders it."""
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def stream_fields(
    *,
    event_id,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    company_id: int,
    user_id: int | None,
    correlation_id: str,
    occurred_at: datetime,
    version: int,
    payload_json: str,
    changes_json: str,
) -> dict[str, str]:
    """Return the entry fields for XADD (all strings), JSON already rendered."""
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "company_id": str(company_id),
        "user_id": "" if user_id is None else str(user_id),
        "correlation_id": correlation_id,
        "occurred_at": occurred_at.isoformat(),
        "version": str(version),
        "payload": payload_json,
        "changes": changes_json,
    }


def parse(fields: dict) -> dict:
    """Return the typed values of a stream entry's ``fields``, by envelope field.

    Raise KeyError, ValueError or TypeError for a malformed entry.
    """
    return {
        "event_id": fields["event_id"],
        "event_type": fields["event_type"],
        "aggregate_type": fields["aggregate_type"],
        "aggregate_id": fields["aggregate_id"],
        "company_id": int(fields["company_id"]),
        "user_id": int(fields["user_id"]) if fields.get("user_id") else None,
        "correlation_id": fields.get("correlation_id", ""),
        "occurred_at": datetime.fromisoformat(fields["occurred_at"]),
        "version": int(fields["version"]),
        "payload": json.loads(fields["payload"]),
        "changes": json.loads(fields.get("changes") or "{}"),
    }
