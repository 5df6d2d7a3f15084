from datetime import UTC, datetime, time

import redis
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from events import replay, streams
from events.consumer import registered_streams
from events.models import OutboxEvent


def _moment(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None and (day := parse_date(raw)) is not None:
        value = datetime.combine(day, time.min)
    if value is None:
        raise CommandError(
            f"--{name}: {raw!r} is not an ISO 8601 date or datetime "
            "(e.g. 2026-01-31 or 2026-01-31T12:00:00Z)."
        )
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Republish stored (sent) events to their streams: by stream, time range "
        "(occurred_at, since inclusive, until exclusive), correlation id, company, "
        "object or event type."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stream", help="e.g. partner_events")
        parser.add_argument("--since", help="ISO 8601; naive values are UTC.")
        parser.add_argument("--until", help="ISO 8601; naive values are UTC.")
        parser.add_argument("--correlation-id")
        parser.add_argument("--company", type=int, help="Company id.")
        parser.add_argument("--aggregate-id")
        parser.add_argument("--event-type", help="e.g. partner.updated")
        parser.add_argument(
            "--to-stream", help="Write to this stream instead of the originals."
        )
        parser.add_argument(
            "--all", action="store_true", help="Replay every stored event."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be sent."
        )

    def handle(self, *args, **options):
        filters = {
            "stream": options["stream"],
            "since": _moment("since", options["since"]),
            "until": _moment("until", options["until"]),
            "correlation_id": options["correlation_id"],
            "company_id": options["company"],
            "aggregate_id": options["aggregate_id"],
            "event_type": options["event_type"],
        }
        if all(value is None for value in filters.values()) and not options["all"]:
            raise CommandError(
                "Give at least one filter (--stream, --since, --until, "
                "--correlation-id, --company, --aggregate-id, --event-type) or --all."
            )
        if options["stream"] is not None:
            self._check_stream(options["stream"])
        events = replay.select_events(**filters)
        if options["dry_run"]:
            self.stdout.write(f"Would replay {events.count()} events.")
            return
        if not streams.is_configured():
            raise CommandError(
                "No Redis for events: set REDIS_URL (or MERP_EVENT_REDIS_URL)."
            )
        try:
            written = replay.replay_events(events, target_stream=options["to_stream"])
        except redis.RedisError as exc:
            raise CommandError(f"Redis failed: {exc}") from exc
        self.stdout.write(f"Replayed {written} events.")

    def _check_stream(self, stream: str) -> None:
        # A mistyped --stream would select nothing and "replay 0 events".
        registered = registered_streams()
        if stream in registered or OutboxEvent.objects.filter(stream=stream).exists():
            return
        raise CommandError(
            f"Unknown stream {stream!r}: no stored event was sent to it. Streams of "
            f"the business objects: {', '.join(registered)}."
        )
