from django.db import models

from businessobjects.models import Company


class Endpoint(models.Model):
    """A company's HTTP receiver of its events.

    Configuration, not a business object: no outbox events or history of its
    own (the admin's log records admin changes).
    """

    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    # ["partner.created", "contact.*", "*"]
    event_types = models.JSONField(default=list)
    # None: every updated event; else only those changing one of these fields.
    changed_fields = models.JSONField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True, default="")
    # Standard Webhooks "whsec_<base64>"; kept in clear because it signs.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Events at higher outbox positions are sent: the ones committed after the
    # endpoint was created (older ones only by replay).
    start_position = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["company", "id"], name="webhook_endpoint_co")]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """One event for one endpoint: its state and its latest attempt.

    ``body`` is the exact JSON sent (and signed), rendered once at fan-out, so a
    retry or a replay sends the same bytes even after the outbox row is pruned.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64)
    # The event's outbox position: the order of an object's deliveries.
    position = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    body = models.TextField()
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    # When a pending delivery may be (re)tried; while one is in flight, the end
    # of its lease. None once it is finished.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "endpoint", "event_id"],
                name="webhook_delivery_unique_event",
            )
        ]
        indexes = [
            # The API's list, newest first.
            models.Index(
                fields=["company", "endpoint", "-id"], name="webhook_dlv_list"
            ),
            # Replay by time range.
            models.Index(
                fields=["company", "endpoint", "occurred_at"], name="webhook_dlv_time"
            ),
            # The claim: an endpoint's due deliveries in position order.
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                name="webhook_dlv_due",
                condition=models.Q(state="pending"),
            ),
            # The order check: an object's pending deliveries to an endpoint.
            models.Index(
                fields=["endpoint", "aggregate_type", "aggregate_id", "position"],
                name="webhook_dlv_object",
                condition=models.Q(state="pending"),
            ),
            # Pruning of finished deliveries.
            models.Index(
                fields=["endpoint", "updated_at"],
                name="webhook_dlv_finished",
                condition=~models.Q(state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_id} -> {self.endpoint_id}"


class FanoutCursor(models.Model):
    """The last outbox position fanned out to deliveries (one row).

    A single cursor is safe because positions become visible in increasing
    order with no gaps (``events.relay.sequence_outbox``); its row lock makes the
    fan-out serial.
    """

    last_position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"webhooks fanned out to {self.last_position}"
