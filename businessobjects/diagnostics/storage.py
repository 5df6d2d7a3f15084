"""Probes of the database: connection, migrations, tables, outbox backlog."""

import itertools
from collections.abc import Iterable

from django.apps import apps
from django.core.checks import Error, Warning
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from ..conf import merp_settings
from .outcome import (
    Outcome,
    duration,
    first_line,
    unreachable,
    where,
)

# Apps whose tables the framework cannot run without.
FRAMEWORK_APPS = ("businessobjects", "extensions", "audit", "events")

# -- database ------------------------------------------------------------------


def database(connection=None) -> Outcome:
    """Open a connection and run ``SELECT 1``."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Outcome(
            [
                Error(
                    f"Cannot reach the database ({connection.vendor}): "
                    f"{first_line(exc)}",
                    hint="Check DATABASE_URL and that the server runs and accepts "
                    "connections (pg_isready -h <host> -p <port>).",
                    id="businessobjects.E010",
                )
            ]
        )
    return Outcome(summary=f"{connection.vendor} {where(connection)}")


def migrations(connection=None) -> Outcome:
    """Compare the migration files with the ``django_migrations`` table."""
    from django.db.migrations.executor import MigrationExecutor

    connection = connection or connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Outcome([unreachable("migrations", exc, "businessobjects.E011")])
    if plan:
        names = [f"{m.app_label}.{m.name}" for m, _ in plan]
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        return Outcome(
            [
                Error(
                    f"{len(names)} migration(s) not applied: {shown}",
                    hint="Run: python manage.py migrate",
                    id="businessobjects.E011",
                )
            ]
        )
    return Outcome(summary=f"all {len(executor.loader.graph.nodes)} applied")


def tables(app_labels: Iterable[str] = FRAMEWORK_APPS, connection=None) -> Outcome:
    """Check that the tables of the framework apps' models exist.

    The models are read from the app registry at run time, so tables added by a
    later version of an app (custom-field values, say) are covered too.
    """
    connection = connection or connections[DEFAULT_DB_ALIAS]
    wanted: dict[str, list[str]] = {}
    for label in app_labels:
        try:
            app_config = apps.get_app_config(label)
        except LookupError:
            return Outcome(
                [
                    Error(
                        f"The {label!r} app is not installed.",
                        hint=f"Add {label!r} to INSTALLED_APPS.",
                        id="businessobjects.E012",
                    )
                ]
            )
        wanted[label] = [
            model._meta.db_table
            for model in app_config.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy
        ]
    try:
        existing = set(connection.introspection.table_names())
    except Exception as exc:
        return Outcome([unreachable("tables", exc, "businessobjects.E012")])
    missing = sorted(t for t in itertools.chain(*wanted.values()) if t not in existing)
    if missing:
        return Outcome(
            [
                Error(
                    f"Missing tables: {', '.join(missing)}",
                    hint="Run: python manage.py migrate (a table dropped by hand "
                    "needs its app's migrations unapplied and applied again).",
                    id="businessobjects.E012",
                )
            ]
        )
    counts = ", ".join(f"{label} {len(names)}" for label, names in wanted.items())
    return Outcome(summary=f"tables present ({counts})")


def outbox_backlog(*, forwarding: bool | None = None) -> Outcome:
    """Count unsent outbox events and measure the age of the oldest one.

    Without REDIS_URL nothing forwards events (they wait in the outbox by design),
    so a backlog is reported but not held against the installation.
    """
    from django.db.models import Count, Min

    from events.models import OutboxEvent

    if forwarding is None:
        forwarding = bool(merp_settings.REDIS_URL)
    try:
        stats = OutboxEvent.objects.filter(sent_at__isnull=True).aggregate(
            pending=Count("id"), oldest=Min("occurred_at")
        )
    except Exception as exc:
        return Outcome([unreachable("outbox", exc, "businessobjects.E015")])
    pending = stats["pending"]
    age = (timezone.now() - stats["oldest"]).total_seconds() if pending else 0.0
    summary = f"{pending} pending"
    if pending:
        summary += f", oldest {duration(age)} old"
    if not forwarding:
        return Outcome(summary=f"{summary} (kept in the outbox: REDIS_URL is not set)")
    hint = (
        "The relay is not keeping up: check that a Celery worker and beat run "
        "(python manage.py merp_doctor), read their logs, or forward now with "
        "python manage.py merp_publish_outbox."
    )
    message = f"Outbox backlog: {summary}."
    s = merp_settings
    if pending > s.OUTBOX_FAIL_PENDING or age > s.OUTBOX_FAIL_AGE:
        return Outcome([Error(message, hint=hint, id="businessobjects.E015")], summary)
    if pending > s.OUTBOX_WARN_PENDING or age > s.OUTBOX_WARN_AGE:
        warning = Warning(message, hint=hint, id="businessobjects.W015")
        return Outcome([warning], summary)
    return Outcome(summary=summary)
