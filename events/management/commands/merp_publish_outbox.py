import redis
from django.core.management.base import BaseCommand, CommandError

from events import relay, streams


class Command(BaseCommand):
    help = "Forward pending outbox events to Redis Streams now and report counts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows per batch."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete sent events older than EVENT_RETENTION_DAYS.",
        )

    def handle(self, *args, batch_size, prune, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be a positive integer.")
        total = relay.ForwardResult()
        while True:
            try:
                result = relay.forward_outbox(batch_size=batch_size)
            except redis.RedisError as exc:
                raise CommandError(
                    f"Redis failed: {exc}. {relay.pending_count()} events stay "
                    "pending in the outbox; they are sent once Redis is back."
                ) from exc
            total.sequenced += result.sequenced
            total.add(result)
            if not result.more:
                break
        pending = relay.pending_count()
        if not streams.is_configured():
            self.stdout.write(
                f"No Redis for events (REDIS_URL / MERP_EVENT_REDIS_URL unset): "
                f"sequenced {total.sequenced}; {pending} events stay in the outbox."
            )
        else:
            self.stdout.write(
                f"Sequenced {total.sequenced}, sent {total.sent}, held back "
                f"{total.deferred}; {pending} pending."
            )
        if prune:
            self.stdout.write(f"Pruned {relay.prune_sent()} sent events.")
