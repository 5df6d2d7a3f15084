"""``/health/`` (liveness) and ``/health/ready/`` (readiness), on django-health-check.

Liveness answers from the process alone (no database, no network), so an
orchestrator restarts only a process that is really stuck. Readiness runs
django-health-check's ``Database`` and ``Redis`` checks plus the framework's
Celery and outbox probes, and answers 503 when one of them fails; a warning (a
growing outbox, say) is reported but keeps the instance in service.
"""

import asyncio
import dataclasses
import datetime

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from django.urls import path
from django.utils.module_loading import import_string
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

from . import diagnostics
from .conf import merp_settings


@dataclasses.dataclass
class _ProbeCheck(HealthCheck):
    """Run a ``diagnostics`` probe: FAIL is unavailable, WARN a warning."""

    summary: str = dataclasses.field(default="", repr=False)
    # Probes that use the database share the request thread's connection.
    thread_sensitive = True

    def probe(self) -> diagnostics.Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    async def run(self) -> None:
        probe = sync_to_async(self.probe, thread_sensitive=self.thread_sensitive)
        outcome = await probe()
        self.summary = outcome.summary
        if outcome.messages:
            message = "; ".join(m.msg for m in outcome.messages)
            if outcome.status == diagnostics.FAIL:
                raise ServiceUnavailable(message)
            raise ServiceWarning(message)


@dataclasses.dataclass
class CeleryWorkers(_ProbeCheck):
    """django-health-check's Celery ``Ping``, after a quick broker PING."""

    # Waits on the network only; must not queue behind the database probes.
    thread_sensitive = False

    def probe(self) -> diagnostics.Outcome:
        return diagnostics.celery_workers()


@dataclasses.dataclass
class OutboxBacklog(_ProbeCheck):
    def probe(self) -> diagnostics.Outcome:
        return diagnostics.outbox_backlog()


def readiness_checks() -> dict[str, HealthCheck | str]:
    """Return ``{name: check}``; a string instead of a check says why it is off."""
    timeout = datetime.timedelta(seconds=merp_settings.HEALTH_TIMEOUT)
    checks: dict[str, HealthCheck | str] = {"database": Database()}
    if merp_settings.REDIS_URL:
        url = merp_settings.REDIS_URL
        checks["redis"] = Redis(client_factory=lambda: _redis_client(url))
    else:
        checks["redis"] = "not configured (REDIS_URL unset)"
    celery_app = import_string(merp_settings.CELERY_APP)
    if celery_app.conf.task_always_eager:
        checks["celery"] = "not configured (tasks run in-process)"
    else:
        checks["celery"] = CeleryWorkers()
    checks["outbox"] = OutboxBacklog()
    # Plug-ins add their own checks by dotted path (the webhooks app its delivery
    # backlog): the kernel never imports a plug-in.
    for name, dotted_path in merp_settings.READINESS_CHECKS.items():
        checks[name] = import_string(dotted_path)()
    for check in checks.values():
        if isinstance(check, HealthCheck):
            check.timeout = timeout
    return checks


def _redis_client(url: str):
    from redis.asyncio import Redis as AsyncRedis

    seconds = merp_settings.HEALTH_TIMEOUT
    return AsyncRedis.from_url(
        url, socket_connect_timeout=seconds, socket_timeout=seconds
    )


class ReadinessView(HealthCheckView):
    """200 when every check passes or only warns, 503 otherwise; JSON per check."""

    def named_checks(self) -> dict[str, HealthCheck | str]:
        return readiness_checks()

    async def get(self, request, *args, **kwargs):
        named = self.named_checks()
        active = {n: c for n, c in named.items() if isinstance(c, HealthCheck)}
        with self.get_executor() as executor:
            results = await asyncio.gather(
                *(check.get_result(executor) for check in active.values())
            )
        by_name = dict(zip(active, results, strict=True))
        report = {}
        for name, check in named.items():
            if name not in by_name:
                report[name] = {"status": "skipped", "detail": check}
                continue
            result = by_name[name]
            error = result.error
            state = (
                "ok"
                if error is None
                else "warning"
                if isinstance(error, ServiceWarning)
                else "error"
            )
            entry = {"status": state, "time_ms": round(result.time_taken * 1000, 1)}
            detail = error.message if error else getattr(check, "summary", "")
            if detail:
                entry["detail"] = detail
            report[name] = entry
        states = {entry["status"] for entry in report.values()}
        overall = next((s for s in ("error", "warning") if s in states), "ok")
        return JsonResponse(
            {"status": overall, "checks": report},
            status=503 if overall == "error" else 200,
        )


class LivenessView(ReadinessView):
    """The process serves requests; touches neither the database nor the network."""

    def named_checks(self) -> dict[str, HealthCheck | str]:
        return {}


urlpatterns = [
    path("", LivenessView.as_view(), name="health"),
    path("ready/", ReadinessView.as_view(), name="health-ready"),
]
