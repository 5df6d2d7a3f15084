"""The delivery backlog, for ``/health/ready/``."""

import dataclasses

from django.core.checks import Error, Warning
from django.db.models import Count, Min
from django.utils import timezone

from businessobjects import diagnostics
from businessobjects.conf import merp_settings
from businessobjects.health import _ProbeCheck

from .fanout import lag
from .models import Delivery


def delivery_backlog() -> diagnostics.Outcome:
    """Deliveries due now and how long the oldest has waited; outbox positions
    not fanned out yet. Retries scheduled for later are not a backlog."""
    try:
        stats = Delivery.objects.filter(
            state=Delivery.State.PENDING,
            next_attempt_at__lte=timezone.now(),
            endpoint__is_active=True,
        ).aggregate(due=Count("id"), oldest=Min("next_attempt_at"))
        behind = lag()
    except Exception as exc:
        return diagnostics.Outcome(
            [Error(f"Cannot check webhook deliveries: {exc}", id="webhooks.E001")]
        )
    due = stats["due"]
    age = (timezone.now() - stats["oldest"]).total_seconds() if due else 0.0
    summary = f"{due} due"
    if due:
        summary += f", oldest due for {age:.0f} s"
    if behind:
        summary += f"; {behind} events to fan out"
    hint = (
        "Webhook workers are not keeping up: check that a Celery worker and beat "
        "run, and read their logs (python manage.py merp_webhooks list --state "
        "pending)."
    )
    message = f"Webhook delivery backlog: {summary}."
    s = merp_settings
    if age > s.WEBHOOK_FAIL_AGE:
        return diagnostics.Outcome([Error(message, hint=hint, id="webhooks.E002")])
    if due > s.WEBHOOK_WARN_PENDING or age > s.WEBHOOK_WARN_AGE:
        return diagnostics.Outcome([Warning(message, hint=hint, id="webhooks.W002")])
    return diagnostics.Outcome(summary=summary)


@dataclasses.dataclass
class DeliveryBacklog(_ProbeCheck):
    def probe(self) -> diagnostics.Outcome:
        return delivery_backlog()
