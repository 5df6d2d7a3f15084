import json
import signal

import redis
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from events import streams
from events.consumer import Consumer, Event, registered_streams


class Command(BaseCommand):
    help = (
        "Consume a stream in a consumer group (at least once: entries are acked "
        "after the handler returns). Without --handler, print each event as a "
        "JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stream", required=True, help="e.g. partner_events")
        parser.add_argument("--group", required=True, help="Consumer group name.")
        parser.add_argument(
            "--consumer", help="Consumer name (default: $MERP_CONSUMER_NAME or host)."
        )
        parser.add_argument(
            "--handler",
            help="Dotted path of a callable taking an events.consumer.Event.",
        )
        parser.add_argument("--count", type=int, default=10)
        parser.add_argument("--block-ms", type=int, default=2000)
        parser.add_argument(
            "--claim-min-idle-ms",
            type=int,
            default=None,
            help="Take over entries pending this long (> slowest handler).",
        )
        parser.add_argument("--max-deliveries", type=int, default=None)
        parser.add_argument(
            "--start-id",
            default="0",
            help="Where a new group starts: 0 (whole stream, default) or $ (new).",
        )
        parser.add_argument(
            "--max-events", type=int, default=None, help="Exit after this many."
        )
        parser.add_argument(
            "--exit-when-idle",
            action="store_true",
            help="Exit when no entry arrives within --block-ms.",
        )

    def handle(self, *args, **options):
        handler = self._handler(options["handler"])
        for name in ("count", "block_ms", "max_events"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be positive.")
        if not streams.is_configured():
            raise CommandError(
                "No Redis for events: set REDIS_URL (or MERP_EVENT_REDIS_URL) to "
                "consume."
            )
        try:
            handled = self._consume(handler, options)
        except redis.RedisError as exc:
            raise CommandError(f"Redis failed: {exc}") from exc
        self.stderr.write(f"Handled {handled} events.")

    def _consume(self, handler, options) -> int:
        consumer = Consumer(
            options["stream"],
            options["group"],
            options["consumer"],
            handler=handler,
            count=options["count"],
            block_ms=options["block_ms"],
            claim_min_idle_ms=options["claim_min_idle_ms"],
            max_deliveries=options["max_deliveries"],
            start_id=options["start_id"],
        )
        self._check_stream(consumer.client, options["stream"])
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: consumer.stop())
        return consumer.run(
            max_events=options["max_events"], exit_when_idle=options["exit_when_idle"]
        )

    def _check_stream(self, client: redis.Redis, stream: str) -> None:
        # A typo would otherwise create an empty stream (MKSTREAM) and wait on it
        # forever. A registered object's stream may not exist yet: that is fine.
        registered = registered_streams()
        if stream in registered or client.type(stream) == "stream":
            return
        existing = sorted(
            set(client.scan_iter(_type="stream", count=1000)) - set(registered)
        )
        others = f"; other streams in Redis: {', '.join(existing)}" if existing else ""
        raise CommandError(
            f"Unknown stream {stream!r}: not a business object's stream and not in "
            f"Redis. Streams of the business objects: {', '.join(registered)}{others}."
        )

    def _handler(self, path: str | None):
        if not path:
            return self._print
        try:
            handler = import_string(path)
        except ImportError as exc:
            raise CommandError(f"--handler: cannot import {path!r}: {exc}") from exc
        if not callable(handler):
            raise CommandError(f"--handler: {path!r} is not callable.")
        return handler

    def _print(self, event: Event) -> None:
        self.stdout.write(
            json.dumps({"message_id": event.message_id, **event.fields}, sort_keys=True)
        )
        self.stdout.flush()
