"""Fan-out and delivery in this process (no worker), to a real HTTP receiver."""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import WebhookVerificationError

from businessobjects import services
from extensions import services as ext
from webhooks import delivery, fanout
from webhooks import services as webhook_services
from webhooks.models import Delivery, Endpoint

from .conftest import merp_override, wait_for

pytestmark = pytest.mark.django_db


def pump() -> None:
    """Fan out, then send every due delivery once."""
    fanout.fan_out()
    for endpoint_id in Endpoint.objects.values_list("pk", flat=True):
        delivery.deliver_due(endpoint_id)


def pump_until(predicate, what: str):
    def step():
        pump()
        return predicate()

    return wait_for(step, timeout=30, what=what)


def test_a_delivery_is_signed_as_standard_webhooks_says(
    make_endpoint, make_partner, company_a, receiver
):
    endpoint = make_endpoint(company_a)
    partner = make_partner(company_a, email="a@acme.test")
    pump()
    (request,) = receiver.requests
    body = request.verify(endpoint.secret)
    assert request.headers["webhook-id"] == body["event_id"]
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 300
    assert request.headers["content-type"] == "application/json"
    # The envelope of the streams, payload and changes as objects.
    assert body["event_type"] == "partner.created"
    assert body["aggregate_id"] == str(partner.pk)
    assert body["company_id"] == str(company_a.pk)
    assert body["payload"]["email"] == "a@acme.test"
    assert body["changes"]["name"] == {"old": None, "new": "Acme"}
    # Another secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        request.verify(webhook_services.signing.new_secret())
    row = Delivery.objects.get()
    assert (row.state, row.attempts, row.status_code) == ("succeeded", 1, 200)
    assert row.duration_ms is not None and '"received"' in row.response_excerpt


def test_only_events_after_the_endpoint_was_created_are_sent(
    make_endpoint, make_partner, company_a, receiver
):
    make_partner(company_a, name="Before")
    pump()
    make_endpoint(company_a)
    make_partner(company_a, name="After")
    pump()
    assert [e["payload"]["name"] for e in receiver.events()] == ["After"]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["*"], ["partner.created", "partner.updated", "partner.deleted"]),
        (["partner.*"], ["partner.created", "partner.updated", "partner.deleted"]),
        (
            ["partner.updated", "partner.deleted"],
            ["partner.updated", "partner.deleted"],
        ),
        (["contact.*"], []),
    ],
)
def test_event_types_patterns(
    patterns, expected, make_endpoint, make_partner, company_a, receiver
):
    make_endpoint(company_a, event_types=patterns)
    partner = make_partner(company_a)
    services.update(partner, data={"phone": "+331"})
    services.delete(partner)
    pump()
    assert [e["event_type"] for e in receiver.events()] == expected


def test_changed_fields_filter_updates_including_custom_fields(
    make_endpoint, make_partner, company_a, receiver
):
    ext.definition_create(
        company=company_a, model="partner", name="tier", field_type="string"
    )
    make_endpoint(
        company_a,
        event_types=["partner.*"],
        changed_fields=["email", "extensions.tier"],
    )
    partner = make_partner(company_a)  # created: not filtered
    services.update(partner, data={"phone": "+331"})  # filtered out
    services.update(partner, data={"email": "new@acme.test"})
    services.update(partner, extensions={"tier": "gold"})
    services.update(partner, data={"name": "Renamed"})  # filtered out
    pump()
    events = receiver.events()
    assert [e["event_type"] for e in events] == [
        "partner.created",
        "partner.updated",
        "partner.updated",
    ]
    assert set(events[1]["changes"]) == {"email"}
    assert set(events[2]["changes"]) == {"extensions.tier"}


def test_companies_are_isolated(
    make_endpoint, make_partner, company_a, company_b, receiver
):
    endpoint_b = make_endpoint(company_b)
    make_partner(company_a, name="A's")
    make_partner(company_b, name="B's")
    pump()
    (request,) = receiver.requests
    assert request.verify(endpoint_b.secret)["payload"]["name"] == "B's"
    assert set(Delivery.objects.values_list("company_id", flat=True)) == {company_b.pk}


def test_500s_are_retried_on_the_schedule_then_succeed(
    make_endpoint, make_partner, company_a, receiver
):
    make_endpoint(company_a)
    receiver.fail_next("*", (500, 0), (503, 0))
    make_partner(company_a)
    pump()
    row = Delivery.objects.get()
    assert (row.state, row.attempts, row.status_code) == ("pending", 1, 500)
    assert row.error == "The receiver answered 500."
    assert row.next_attempt_at > timezone.now() - timedelta(seconds=1)
    pump_until(lambda: Delivery.objects.get().state == "succeeded", "the third attempt")
    row.refresh_from_db()
    assert (row.attempts, row.status_code, row.error) == (3, 200, "")
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_timeouts_are_retried(make_endpoint, make_partner, company_a, receiver):
    make_endpoint(company_a)
    receiver.fail_next("*", (200, 1.5))  # longer than WEBHOOK_TIMEOUT (1 s)
    make_partner(company_a)
    pump()
    row = Delivery.objects.get()
    assert row.state == "pending" and row.status_code is None
    assert row.error.startswith("Timed out after 1 s")
    pump_until(lambda: Delivery.objects.get().state == "succeeded", "the retry")
    assert Delivery.objects.get().attempts == 2


def test_a_delivery_fails_when_the_schedule_is_exhausted(
    make_endpoint, make_partner, company_a, receiver, settings
):
    make_endpoint(company_a)
    receiver.default = (500, 0)
    make_partner(company_a)
    pump_until(lambda: Delivery.objects.get().state == "failed", "failure")
    row = Delivery.objects.get()
    # One attempt, then one per entry of the schedule.
    assert row.attempts == 1 + len(settings.MERP["WEBHOOK_RETRY_SCHEDULE"])
    assert row.next_attempt_at is None and row.status_code == 500
    assert len(receiver.requests) == row.attempts


def test_a_later_event_of_an_object_waits_for_an_earlier_retrying_one(
    make_endpoint, make_partner, company_a, receiver
):
    make_endpoint(company_a)
    first = make_partner(company_a, name="First")
    other = make_partner(company_a, name="Other")
    services.update(first, data={"phone": "+331"})
    fanout.fan_out()
    created_id = str(
        Delivery.objects.get(
            aggregate_id=str(first.pk), event_type="partner.created"
        ).event_id
    )
    receiver.fail_next(created_id, (500, 0), (500, 0))
    pump()
    # The other object went; the first object's update waits behind its create.
    assert [(e["aggregate_id"], e["event_type"]) for e in receiver.events()] == [
        (str(first.pk), "partner.created"),
        (str(other.pk), "partner.created"),
    ]
    pump_until(
        lambda: not Delivery.objects.filter(state="pending").exists(), "all sent"
    )
    sent = [
        (e["aggregate_id"], e["event_type"])
        for e in receiver.events()
        if e["aggregate_id"] == str(first.pk)
    ]
    assert sent == [(str(first.pk), "partner.created")] * 3 + [
        (str(first.pk), "partner.updated")
    ]


def test_a_failed_delivery_no_longer_holds_the_object_back(
    make_endpoint, make_partner, company_a, receiver
):
    make_endpoint(company_a)
    partner = make_partner(company_a)
    receiver.default = (500, 0)
    pump_until(lambda: Delivery.objects.filter(state="failed").exists(), "failure")
    receiver.default = (200, 0)
    services.update(partner, data={"phone": "+331"})
    pump()
    assert Delivery.objects.get(event_type="partner.updated").state == "succeeded"


def test_replay_by_event_id_resets_and_by_range_creates_missing_deliveries(
    make_endpoint, make_partner, company_a, receiver
):
    old = make_partner(company_a, name="Old")  # before the endpoint
    pump()  # sequenced (after commit, outside tests)
    endpoint = make_endpoint(company_a)
    make_partner(company_a, name="New")
    pump()
    assert len(receiver.requests) == 1
    event_id = receiver.events()[0]["event_id"]

    result = webhook_services.replay(endpoint, event_id=event_id)
    assert (result.reset, result.created) == (1, 0)
    pump()
    assert receiver.event_ids() == [event_id, event_id]
    assert Delivery.objects.get(event_id=event_id).attempts == 1

    since = old.created_at - timedelta(seconds=1)
    result = webhook_services.replay(endpoint, since=since)
    assert (result.reset, result.created) == (1, 1)
    pump()
    names = [e["payload"]["name"] for e in receiver.events()]
    assert sorted(names[2:]) == ["New", "Old"]


def test_replay_of_an_unknown_event_names_event_id(make_endpoint, company_a):
    endpoint = make_endpoint(company_a)
    with pytest.raises(Exception) as caught:
        webhook_services.replay(endpoint, event_id=uuid.uuid4())
    assert "event_id" in caught.value.message_dict


def test_after_rotation_both_secrets_sign_for_the_overlap(
    make_endpoint, make_partner, company_a, receiver
):
    endpoint = make_endpoint(company_a)
    old_secret = endpoint.secret
    rotated = webhook_services.rotate_secret(endpoint)
    assert rotated.secret != old_secret and rotated.secret.startswith("whsec_")
    assert rotated.previous_secret_expires_at > timezone.now() + timedelta(hours=23)
    make_partner(company_a)
    pump()
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    request.verify(old_secret)
    request.verify(rotated.secret)

    # After the overlap only the new secret signs.
    Endpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    make_partner(company_a, name="Later")
    pump()
    later = receiver.requests[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    later.verify(rotated.secret)
    with pytest.raises(WebhookVerificationError):
        later.verify(old_secret)


def test_a_private_address_is_refused_at_delivery_time(
    make_endpoint, make_partner, company_a, receiver, settings
):
    make_endpoint(company_a)  # allowed when it was saved
    merp_override(settings, WEBHOOK_ALLOW_PRIVATE=False)
    make_partner(company_a)
    pump()
    assert receiver.requests == []
    row = Delivery.objects.get()
    assert row.state == "pending" and row.attempts == 1
    assert row.error == (
        "Refused before connecting: The host '127.0.0.1' resolves to 127.0.0.1, "
        "a loopback address; webhooks go to public addresses only "
        "(MERP_WEBHOOK_ALLOW_PRIVATE=true lifts this for development)."
    )


def test_a_name_resolving_to_loopback_is_refused_at_delivery_time(
    make_endpoint, make_partner, company_a, receiver, settings
):
    # A DNS name (rebinding: public when saved, private later) is checked after
    # resolution, and the connection goes to the address checked.
    port = receiver.url.split(":")[2].split("/")[0]
    make_endpoint(company_a, url=f"http://localhost:{port}/hook")
    make_partner(company_a)
    pump()
    (request,) = receiver.requests
    assert request.headers["host"] == f"localhost:{port}"
    merp_override(settings, WEBHOOK_ALLOW_PRIVATE=False)
    make_partner(company_a, name="Second")
    pump()
    assert len(receiver.requests) == 1
    row = Delivery.objects.filter(state="pending").get()
    assert "'localhost' resolves to" in row.error and "loopback" in row.error


def test_an_inactive_endpoint_gets_nothing_new(
    make_endpoint, make_partner, company_a, receiver
):
    endpoint = make_endpoint(company_a)
    webhook_services.endpoint_update(endpoint, is_active=False)
    make_partner(company_a)
    pump()
    assert receiver.requests == [] and not Delivery.objects.exists()
