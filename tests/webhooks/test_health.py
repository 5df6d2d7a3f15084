"""/health/ready/ reports a growing delivery backlog (due deliveries waiting)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from events import relay
from webhooks import fanout
from webhooks.models import Delivery

from .conftest import merp_override
from .test_delivery import pump

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(settings):
    from merp.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True  # no worker to ask in these tests
    yield
    app.conf.task_always_eager = previous


def webhooks_check():
    response = Client().get("/health/ready/")
    return response.status_code, response.json()["checks"]["webhooks"]


def test_due_deliveries_waiting_warn_then_fail(
    eager, make_endpoint, make_partner, company_a, receiver, settings
):
    make_endpoint(company_a)
    make_partner(company_a)
    make_partner(company_a, name="Second")
    relay.sequence_outbox()  # after commit, outside tests
    status, check = webhooks_check()
    assert (status, check["status"]) == (200, "ok")
    assert check["detail"] == "0 due; 2 events to fan out"
    fanout.fan_out()
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    merp_override(settings, WEBHOOK_WARN_AGE=300, WEBHOOK_FAIL_AGE=3600)
    status, check = webhooks_check()
    assert (status, check["status"]) == (200, "warning")
    assert check["detail"].startswith("Webhook delivery backlog: 2 due, oldest due")
    merp_override(settings, WEBHOOK_FAIL_AGE=300)
    status, check = webhooks_check()
    assert (status, check["status"]) == (503, "error")

    pump()  # delivered: no backlog
    status, check = webhooks_check()
    assert check == {"status": "ok", "time_ms": check["time_ms"], "detail": "0 due"}


def test_retries_scheduled_later_are_no_backlog(
    eager, make_endpoint, make_partner, company_a, receiver, settings
):
    make_endpoint(company_a)
    make_partner(company_a)
    receiver.default = (500, 0)
    merp_override(settings, WEBHOOK_RETRY_SCHEDULE=[3600], WEBHOOK_WARN_PENDING=0)
    pump()
    assert Delivery.objects.get().state == "pending"
    assert webhooks_check()[1]["detail"] == "0 due"
