"""The whole path with real Celery workers: a write through the API reaches the
receiver without any manual step; a worker SIGKILLed mid-delivery loses nothing."""

import pytest

from webhooks.models import Delivery

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_api_write_reaches_the_receiver_signed(
    celery_worker_thread, api, member_a, company_a, make_endpoint, receiver
):
    endpoint = make_endpoint(company_a, event_types=["partner.created"])
    created = api(member_a).post("/api/partners/", {"name": "Acme"}, format="json")
    assert created.status_code == 201
    (request,) = receiver.wait_for_count(1)
    body = request.verify(endpoint.secret)
    assert body["aggregate_id"] == str(created.json()["id"])
    wait_for(
        lambda: Delivery.objects.filter(state="succeeded").exists(), what="recorded"
    )


def test_retries_keep_the_order_per_object_with_a_worker(
    celery_worker_thread, api, member_a, company_a, make_endpoint, receiver
):
    make_endpoint(company_a)
    receiver.fail_next("*", (500, 0), (500, 0))
    client = api(member_a)
    pk = client.post("/api/partners/", {"name": "Acme"}, format="json").json()["id"]
    for phone in ("+1", "+2", "+3"):
        assert (
            client.patch(
                f"/api/partners/{pk}/", {"phone": phone}, format="json"
            ).status_code
            == 200
        )
    wait_for(
        lambda: Delivery.objects.filter(state="succeeded").count() == 4,
        what="four deliveries",
    )
    events = receiver.events()
    # The create failed twice (500) and went on the third attempt; every
    # update came after it, in commit order.
    versions = [int(e["version"]) for e in events]
    assert versions == [1, 1, 1, 2, 3, 4]
    assert Delivery.objects.get(event_type="partner.created").attempts == 3


def test_a_worker_killed_mid_delivery_loses_nothing(
    worker_process, api, member_a, company_a, make_endpoint, receiver
):
    env = {
        "MERP_WEBHOOK_ALLOW_PRIVATE": "true",
        "MERP_WEBHOOK_TIMEOUT": "2",
        "MERP_WEBHOOK_LEASE_MARGIN": "1",
        "MERP_WEBHOOK_SWEEP_INTERVAL": "0.5",
        "MERP_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2",
    }
    endpoint = make_endpoint(company_a)
    receiver.hold.set()  # the first request is held: the worker is mid-delivery
    first = worker_process(beat=True, **env)
    created = api(member_a).post("/api/partners/", {"name": "Acme"}, format="json")
    assert created.status_code == 201
    wait_for(receiver.arrived.is_set, what="the first delivery attempt")
    first.kill()
    row = Delivery.objects.get()
    assert (row.state, row.attempts) == ("pending", 1)
    receiver.hold.clear()
    receiver.release.set()

    worker_process(beat=True, **env)
    wait_for(
        lambda: Delivery.objects.filter(state="succeeded").exists(),
        what="the delivery after the restart",
    )
    row.refresh_from_db()
    assert row.attempts == 2
    # At least once: the held request (answered to nobody) and the new one.
    requests = receiver.wait_for_count(2)
    for request in requests:
        assert request.verify(endpoint.secret)["event_id"] == str(row.event_id)
