import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from . import envelope


class OutboxEvent(models.Model):
    """A domain event, written in the transaction of the change it describes.

    Each row keeps its own state, never a high-water mark, because ids are assigned
    at insert and rows commit out of id order:

    - ``position`` is handed out after commit by ``events.relay.sequence_outbox``
      (one sequencer at a time, in id order), so positions become visible in
      increasing order with no gaps. The API's ``?after=`` cursor and the relay's
      send order use it.
    - ``sent_at`` is set by the relay once the entry is in its Redis stream.
    """

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=100)
    stream = models.CharField(max_length=150)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64)
    company_id = models.BigIntegerField()
    user_id = models.BigIntegerField(null=True, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    occurred_at = models.DateTimeField()
    version = models.PositiveIntegerField()
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    position = models.BigIntegerField(null=True, blank=True, unique=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    stream_id = models.CharField(max_length=40, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            # The sequencer's work list.
            models.Index(
                fields=["id"],
                name="outbox_unsequenced",
                condition=models.Q(position__isnull=True),
            ),
            # The relay's work list, in send order.
            models.Index(
                fields=["position"],
                name="outbox_unsent",
                condition=models.Q(sent_at__isnull=True),
            ),
            # The relay's order check: an object's unsent rows.
            models.Index(
                fields=["aggregate_type", "aggregate_id", "position"],
                name="outbox_unsent_object",
                condition=models.Q(sent_at__isnull=True),
            ),
            # Pruning of sent rows.
            models.Index(
                fields=["sent_at"],
                name="outbox_sent_at",
                condition=models.Q(sent_at__isnull=False),
            ),
            models.Index(fields=["company_id", "position"], name="outbox_company_pos"),
            models.Index(fields=["company_id", "id"], name="outbox_company_id"),
            models.Index(fields=["correlation_id"], name="outbox_correlation"),
            models.Index(fields=["occurred_at"], name="outbox_occurred_at"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_id} ({self.event_id})"

    @property
    def aggregate_key(self) -> tuple[str, str]:
        return (self.aggregate_type, self.aggregate_id)

    def as_stream_fields(self) -> dict[str, str]:
        """Return the entry fields of DESIGN.md, as strings for XADD
        (``events.envelope``; the relay renders the JSON in SQL)."""
        return envelope.stream_fields(
            event_id=self.event_id,
            event_type=self.event_type,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            company_id=self.company_id,
            user_id=self.user_id,
            correlation_id=self.correlation_id,
            occurred_at=self.occurred_at,
            version=self.version,
            payload_json=envelope.dumps(self.payload),
            changes_json=envelope.dumps(self.changes),
        )


class OutboxSequence(models.Model):
    """The last position handed out; its row lock makes sequencing serial.

    A counter row rather than ``MAX(position)``, so positions never restart when
    pruning has emptied the outbox.
    """

    last_position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"outbox position {self.last_position}"
