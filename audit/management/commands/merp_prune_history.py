from django.core.management.base import BaseCommand, CommandError

from audit.services import prune_history
from businessobjects.registry import registrations


class Command(BaseCommand):
    help = (
        "Delete history rows older than --days days, per business object type "
        "(--model to limit it), in small batches. --dry-run only counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True)
        parser.add_argument(
            "--model",
            action="append",
            dest="models",
            metavar="NAME",
            help="Business object name (partner); repeat for several. Default: all.",
        )
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, days, models, dry_run, batch_size, **options):
        if days < 1:
            raise CommandError("--days must be at least 1.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        known = sorted(r.name for r in registrations())
        unknown = sorted(set(models or ()) - set(known))
        if unknown:
            raise CommandError(
                f"Unknown business object {', '.join(unknown)}. "
                f"Choose from: {', '.join(known)}."
            )
        counts = prune_history(
            days=days, object_types=models, dry_run=dry_run, batch_size=batch_size
        )
        verb = "would be deleted" if dry_run else "deleted"
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count} history rows {verb}")
        self.stdout.write(
            f"total: {sum(counts.values())} history rows older than {days} "
            f"day{'' if days == 1 else 's'} {verb}" + (" (dry run)" if dry_run else "")
        )
