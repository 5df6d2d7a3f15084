"""/health/ (liveness) and /health/ready/ (readiness): 200 or 503, JSON per check."""

import datetime

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from businessobjects import services
from businessobjects.models import Partner
from events.models import OutboxEvent
from tests.utils import override_merp


def get(path: str):
    response = Client().get(path)
    return response, response.json()


def test_liveness_answers_without_the_database():
    # No django_db mark: any database query here would raise.
    response, body = get("/health/")
    assert response.status_code == 200
    assert body == {"status": "ok", "checks": {}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_all_up(eager_celery):
    response, body = get("/health/ready/")
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "redis", "celery", "outbox", "webhooks"}
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "ok"
    assert checks["celery"] == {
        "status": "skipped",
        "detail": "not configured (tasks run in-process)",
    }
    assert checks["outbox"]["detail"] == "0 pending"
    assert checks["webhooks"] == {
        "status": "ok",
        "time_ms": checks["webhooks"]["time_ms"],
        "detail": "0 due",
    }


@pytest.mark.django_db
def test_readiness_without_redis_skips_it(eager_celery):
    with override_merp(REDIS_URL=""):
        response, body = get("/health/ready/")
    assert response.status_code == 200
    assert body["checks"]["redis"]["status"] == "skipped"


@pytest.mark.django_db
def test_readiness_stopped_redis_is_503(eager_celery):
    with override_merp(REDIS_URL="redis://127.0.0.1:1/0"):
        response, body = get("/health/ready/")
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["checks"]["redis"]["status"] == "error"
    assert "Unable to connect to Redis" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_readiness_without_celery_worker_is_503():
    # The test settings configure a broker (REDIS_URL) and no worker runs.
    response, body = get("/health/ready/")
    assert response.status_code == 503
    assert body["checks"]["celery"]["status"] == "error"
    assert "no worker answered" in body["checks"]["celery"]["detail"]


@pytest.mark.django_db
def test_readiness_with_a_celery_worker_is_200(celery_worker_app, monkeypatch):
    monkeypatch.setattr("merp.celery.app", celery_worker_app)
    response, body = get("/health/ready/")
    assert response.status_code == 200, body
    assert body["checks"]["celery"]["detail"] == "1 worker(s) answered"


@pytest.mark.django_db
def test_readiness_outbox_backlog(eager_celery, company_a):
    services.create(Partner, data={"name": "Waiting"}, company=company_a)
    OutboxEvent.objects.update(
        occurred_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    # The test transaction's outbox row is visible: the probe shares the connection.
    with override_settings(MERP={**settings.MERP, "OUTBOX_WARN_AGE": 300}):
        response, body = get("/health/ready/")
    assert response.status_code == 200
    assert body["status"] == "warning"
    assert body["checks"]["outbox"]["status"] == "warning"
    assert "1 pending, oldest 10 min old" in body["checks"]["outbox"]["detail"]

    with override_settings(MERP={**settings.MERP, "OUTBOX_FAIL_AGE": 300}):
        response, body = get("/health/ready/")
    assert response.status_code == 503
    assert body["checks"]["outbox"]["status"] == "error"
