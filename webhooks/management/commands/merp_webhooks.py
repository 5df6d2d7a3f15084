"""``manage.py merp_webhooks list|replay|deliver``: the delivery log from the shell."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from webhooks import delivery, fanout, services
from webhooks.models import Delivery, Endpoint


def _datetime(value: str):
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"not an ISO 8601 date-time with a zone: {value!r}")
    return parsed


class Command(BaseCommand):
    help = "List and replay webhook deliveries; deliver due ones now."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Deliveries, newest first.")
        listing.add_argument("--endpoint", type=int)
        listing.add_argument("--company", type=int)
        listing.add_argument("--state", choices=[c for c, _ in Delivery.State.choices])
        listing.add_argument("--event-id")
        listing.add_argument("--limit", type=int, default=50)
        replay = sub.add_parser("replay", help="Send events to an endpoint again.")
        replay.add_argument("--endpoint", type=int, required=True)
        replay.add_argument("--event-id")
        replay.add_argument("--since", type=_datetime)
        replay.add_argument("--until", type=_datetime)
        deliver = sub.add_parser(
            "deliver",
            help="Fan out new events and send due deliveries in this process.",
        )
        deliver.add_argument("--endpoint", type=int)

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def do_list(self, *, endpoint, company, state, event_id, limit, **_):
        rows = Delivery.objects.order_by("-id")
        for name, value in (
            ("endpoint_id", endpoint),
            ("company_id", company),
            ("state", state),
            ("event_id", event_id),
        ):
            if value is not None:
                rows = rows.filter(**{name: value})
        header = (
            "id endpoint state attempt status ms next_attempt_at event_type event_id"
        )
        self.stdout.write(header)
        for row in rows[:limit]:
            self.stdout.write(
                f"{row.pk} {row.endpoint_id} {row.state} {row.attempts} "
                f"{row.status_code or '-'} {row.duration_ms or '-'} "
                f"{row.next_attempt_at.isoformat() if row.next_attempt_at else '-'} "
                f"{row.event_type} {row.event_id}"
                + (f"  ({row.error})" if row.error and row.state != "succeeded" else "")
            )

    def do_replay(self, *, endpoint, event_id, since, until, **_):
        target = Endpoint.objects.filter(pk=endpoint).first()
        if target is None:
            raise CommandError(f"No webhook endpoint {endpoint}.")
        if until is not None and since is None:
            raise CommandError("--until needs --since.")
        try:
            result = services.replay(
                target, event_id=event_id, since=since, until=until
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"{result.total} deliveries queued ({result.reset} reset, "
            f"{result.created} created)."
        )

    def do_deliver(self, *, endpoint, **_):
        fanned = fanout.fan_out()
        endpoints = Endpoint.objects.filter(is_active=True)
        if endpoint is not None:
            endpoints = endpoints.filter(pk=endpoint)
        sent = failed = retrying = 0
        for target in endpoints:
            result = delivery.deliver_due(target.pk, time_budget=3600)
            sent, failed = sent + result.succeeded, failed + result.failed
            retrying += result.retrying
        self.stdout.write(
            f"{fanned.created} deliveries created; {sent} succeeded, "
            f"{retrying} to retry, {failed} failed."
        )
