from django.core.management.base import BaseCommand, CommandError

from businessobjects import diagnostics


class Command(BaseCommand):
    help = (
        "Diagnose the installation: database, migrations, tables, business objects, "
        "Redis, Celery workers, outbox backlog and production settings. Prints one "
        "line per check (PASS/WARN/FAIL) with a fix hint; exits non-zero on a FAIL."
    )
    # The doctor must run on a broken installation, which the checks would refuse.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Exit non-zero on warnings too (for deployment pipelines).",
        )

    def handle(self, *args, strict: bool, **options):
        styles = {
            diagnostics.PASS: self.style.SUCCESS,
            diagnostics.WARN: self.style.WARNING,
            diagnostics.FAIL: self.style.ERROR,
        }
        width = max(len(name) for name, _ in diagnostics.DIAGNOSTICS)
        counts = dict.fromkeys(styles, 0)
        for name, probe in diagnostics.DIAGNOSTICS:
            outcome = probe()
            status = outcome.status
            counts[status] += 1
            first = outcome.messages[0].msg if outcome.messages else outcome.summary
            self.stdout.write(f"{styles[status](status)}  {name:<{width}}  {first}")
            indent = " " * (width + 8)
            for i, message in enumerate(outcome.messages):
                if i:
                    self.stdout.write(f"{indent}{message.msg}")
                self.stdout.write(f"{indent}[{message.id}] fix: {message.hint}")
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        failed = counts[diagnostics.FAIL] or (strict and counts[diagnostics.WARN])
        if failed:
            raise CommandError(f"merp_doctor: {summary}", returncode=1)
        self.stdout.write(f"merp_doctor: {summary}")
