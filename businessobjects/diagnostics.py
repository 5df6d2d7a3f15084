"""Framework diagnostics: one probe per concern, shared by checks, doctor and health.

Each probe returns an ``Outcome``: Django check messages (``Error``/``Warning`` with
ids and hints, so ``businessobjects.checks`` can hand them to the system check
framework unchanged) plus a one-line summary for ``merp_doctor``. Probes never
raise: a probe that cannot reach its service reports that as its failure.
"""

import datetime
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from .conf import merp_settings

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"

# Apps whose tables the framework cannot run without.
FRAMEWORK_APPS = ("businessobjects", "extensions", "audit", "events")
# The dev-only SECRET_KEY default of merp/settings.py starts with this.
DEV_SECRET_KEY_PREFIX = "merp-dev-insecure"


@dataclass(frozen=True)
class Outcome:
    messages: list[CheckMessage] = field(default_factory=list)
    summary: str = ""

    @property
    def status(self) -> str:
        if any(m.is_serious() for m in self.messages):
            return FAIL
        return WARN if self.messages else PASS


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
                    f"{_first_line(exc)}",
                    hint="Check DATABASE_URL and that the server runs and accepts "
                    "connections (pg_isready -h <host> -p <port>).",
                    id="businessobjects.E010",
                )
            ]
        )
    return Outcome(summary=f"{connection.vendor} {_where(connection)}")


def migrations(connection=None) -> Outcome:
    """Compare the migration files with the ``django_migrations`` table."""
    from django.db.migrations.executor import MigrationExecutor

    connection = connection or connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Outcome([_unreachable("migrations", exc, "businessobjects.E011")])
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
        return Outcome([_unreachable("tables", exc, "businessobjects.E012")])
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
        return Outcome([_unreachable("outbox", exc, "businessobjects.E015")])
    pending = stats["pending"]
    age = (timezone.now() - stats["oldest"]).total_seconds() if pending else 0.0
    summary = f"{pending} pending"
    if pending:
        summary += f", oldest {_duration(age)} old"
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


# -- services --------------------------------------------------------------------


def redis(url: str | None = None) -> Outcome:
    """PING the Redis of REDIS_URL (cache, broker and event streams)."""
    url = merp_settings.REDIS_URL if url is None else url
    if not url:
        return Outcome(
            summary="not configured (REDIS_URL unset: events stay in the outbox, "
            "Celery runs tasks in-process)"
        )
    error = _redis_error(url)
    if error:
        return Outcome(
            [
                Error(
                    f"Cannot reach Redis at {_redact(url)}: {error}",
                    hint="Start Redis or fix REDIS_URL (redis-cli -u <url> ping). "
                    "Events wait in the outbox meanwhile; nothing is lost.",
                    id="businessobjects.E013",
                )
            ]
        )
    return Outcome(summary=f"answering at {_redact(url)}")


def celery_workers(app=None) -> Outcome:
    """Ask the Celery workers for a ``ping`` (unless tasks run eagerly)."""
    from health_check.contrib.celery import Ping

    if app is None:
        from merp.celery import app
    if app.conf.task_always_eager:
        return Outcome(summary="not configured (tasks run in-process)")
    hint = (
        "Start a worker and beat: celery -A merp worker -l info and "
        "celery -A merp beat -l info (Procfile; make run does it when REDIS_URL "
        "is set)."
    )
    broker = app.conf.broker_url or ""
    timeout = merp_settings.HEALTH_TIMEOUT
    # kombu retries an unreachable broker for seconds; a plain PING answers now.
    if broker.startswith(("redis://", "rediss://")) and (error := _redis_error(broker)):
        return Outcome(
            [
                Error(
                    f"Cannot reach the Celery broker at {_redact(broker)}: {error}",
                    hint="Start Redis or fix CELERY_BROKER_URL / REDIS_URL.",
                    id="businessobjects.E014",
                )
            ]
        )
    ping = Ping(app=app, timeout=datetime.timedelta(seconds=timeout))
    try:
        replies = app.control.ping(timeout=timeout)
        if not replies:
            raise LookupError(f"no worker answered within {timeout:g} s")
        ping.check_active_queues(*ping.active_workers(replies))
    except Exception as exc:
        return Outcome(
            [
                Error(
                    f"Celery workers: {getattr(exc, 'message', None) or exc}",
                    hint=hint,
                    id="businessobjects.E014",
                )
            ]
        )
    return Outcome(summary=f"{len(replies)} worker(s) answered")


# -- configuration -----------------------------------------------------------------


def business_objects(app_configs=None) -> Outcome:
    """Check that every business object is registered, audited and company-scoped."""
    from .models import BusinessObject
    from .registry import is_registered

    if app_configs is None:
        models = apps.get_models()
    else:
        models = itertools.chain(*(c.get_models() for c in app_configs))
    messages: list[CheckMessage] = []
    names = []
    for model in models:
        if not issubclass(model, BusinessObject) or model._meta.proxy:
            continue
        names.append(model._meta.model_name)
        label = model._meta.label
        if not is_registered(model):
            messages.append(
                Error(
                    f"{label} is a BusinessObject but is not registered: it has no "
                    "API, no custom fields and no events.",
                    hint="Decorate it with @businessobjects.registry.register.",
                    obj=model,
                    id="businessobjects.E001",
                )
            )
        if not hasattr(model._meta, "simple_history_manager_attribute"):
            messages.append(
                Error(
                    f"{label} has no history: its changes would not be audited.",
                    hint="Register it with @businessobjects.registry.register, "
                    "which attaches history (audit.history.track).",
                    obj=model,
                    id="businessobjects.E002",
                )
            )
        for manager in model._meta.managers:
            if not hasattr(manager, "for_company"):
                messages.append(
                    Error(
                        f"{label}.{manager.name} is not company-scoped (it has no "
                        "for_company()): it would read every company's rows.",
                        hint="Build managers from businessobjects.models."
                        "CompanyQuerySet, e.g. CompanyManager or "
                        "models.Manager.from_queryset(CompanyQuerySet).",
                        obj=model,
                        id="businessobjects.E003",
                    )
                )
        messages.extend(_unique_without_company(model))
    return Outcome(messages, summary=", ".join(sorted(names)) or "none defined")


def _unique_without_company(model) -> list[CheckMessage]:
    hint = (
        "Make company part of the rule (UniqueConstraint(fields=['company', ...])): "
        "uniqueness is per company, and the schema must stay distributable by "
        "company_id (docs/scaling.md)."
    )
    found = []
    for f in model._meta.local_concrete_fields:
        if f.unique and not f.primary_key:
            found.append(f"field {f.name!r} has unique=True")
    for fields in model._meta.unique_together:
        if "company" not in fields and "company_id" not in fields:
            found.append(f"unique_together {tuple(fields)!r}")
    for constraint in model._meta.constraints:
        fields = getattr(constraint, "fields", ()) or ()
        is_unique = type(constraint).__name__ == "UniqueConstraint"
        if is_unique and fields and not {"company", "company_id"} & set(fields):
            found.append(f"constraint {constraint.name!r} on {tuple(fields)!r}")
    return [
        Error(
            f"{model._meta.label}: {what} does not include company.",
            hint=hint,
            obj=model,
            id="businessobjects.E004",
        )
        for what in found
    ]


def production_settings() -> Outcome:
    """Warn about settings that are fine in development and unsafe in production."""
    messages: list[CheckMessage] = []
    if settings.DEBUG:
        messages.append(
            Warning(
                "DEBUG is on: error pages show code, settings and SQL.",
                hint="Set DEBUG=false in production.",
                id="businessobjects.W001",
            )
        )
    secret = settings.SECRET_KEY or ""
    if not secret or secret.startswith(DEV_SECRET_KEY_PREFIX):
        messages.append(
            Warning(
                "SECRET_KEY is the development default: sessions and tokens can be "
                "forged by anyone who has the source.",
                hint="Set SECRET_KEY to a long random value, e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(50))'.",
                id="businessobjects.W002",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        messages.append(
            Warning(
                "ALLOWED_HOSTS contains '*': any Host header is accepted "
                "(host-header poisoning of links and password resets).",
                hint="Set ALLOWED_HOSTS to your domain names, comma-separated.",
                id="businessobjects.W003",
            )
        )
    if not merp_settings.AUDIT_ENABLED:
        messages.append(
            Warning(
                "AUDIT_ENABLED is false: changes are not written to history.",
                hint="Unset AUDIT_ENABLED (or set it to true) unless this is "
                "deliberate, e.g. during a one-off data load.",
                id="businessobjects.W004",
            )
        )
    if not merp_settings.EVENT_PUBLISHING_ENABLED:
        messages.append(
            Warning(
                "EVENT_PUBLISHING_ENABLED is false: changes publish no events.",
                hint="Unset EVENT_PUBLISHING_ENABLED (or set it to true) unless "
                "no one consumes the event streams.",
                id="businessobjects.W005",
            )
        )
    return Outcome(messages, summary="safe for production" if not messages else "")


# -- the doctor's list -------------------------------------------------------------

# (name, probe) in the order merp_doctor prints them; dependent probes follow the
# ones they depend on so the first FAIL is the one to fix first.
DIAGNOSTICS: list[tuple[str, Callable[[], Outcome]]] = [
    ("database", database),
    ("migrations", migrations),
    ("tables", tables),
    ("business objects", business_objects),
    ("redis", redis),
    ("celery", celery_workers),
    ("outbox", outbox_backlog),
    ("settings", production_settings),
]


def run_all() -> list[tuple[str, Outcome]]:
    return [(name, probe()) for name, probe in DIAGNOSTICS]


# -- helpers -------------------------------------------------------------------------


def _redis_error(url: str) -> str | None:
    import redis as redis_py

    timeout = merp_settings.HEALTH_TIMEOUT
    client = redis_py.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    except Exception as exc:
        return _first_line(exc)
    finally:
        client.close()
    return None


def _unreachable(what: str, exc: Exception, check_id: str) -> Error:
    return Error(
        f"Cannot check {what}: {_first_line(exc)}",
        hint="Fix the checks above first: the database must be reachable "
        "(businessobjects.E010) and migrated (businessobjects.E011).",
        id=check_id,
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _where(connection) -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return str(s["NAME"])
    return f"{s.get('HOST') or 'localhost'}:{s.get('PORT') or 'default'}/{s['NAME']}"


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
