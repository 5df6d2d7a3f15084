"""``manage.py merp_webhooks list|replay|deliver``."""

import io

import pytest
from django.core.management import CommandError, call_command

from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("merp_webhooks", *args, stdout=out)
    return out.getvalue()


def test_deliver_list_and_replay(make_endpoint, make_partner, company_a, receiver):
    endpoint = make_endpoint(company_a)
    make_partner(company_a)
    assert (
        run("deliver") == "1 deliveries created; 1 succeeded, 0 to retry, 0 failed.\n"
    )
    row = Delivery.objects.get()
    listed = run("list", "--endpoint", str(endpoint.pk)).splitlines()
    assert listed[0].startswith("id endpoint state")
    assert listed[1].startswith(f"{row.pk} {endpoint.pk} succeeded 1 200 ")
    assert str(row.event_id) in listed[1]
    assert run("list", "--state", "failed").splitlines()[1:] == []

    out = run("replay", "--endpoint", str(endpoint.pk), "--event-id", str(row.event_id))
    assert out == "1 deliveries queued (1 reset, 0 created).\n"
    run("deliver")
    assert len(receiver.requests) == 2

    since = (row.occurred_at.replace(microsecond=0)).isoformat()
    out = run("replay", "--endpoint", str(endpoint.pk), "--since", since)
    assert out == "1 deliveries queued (1 reset, 0 created).\n"


def test_replay_errors(make_endpoint, company_a):
    endpoint = make_endpoint(company_a)
    with pytest.raises(CommandError, match="No webhook endpoint 999999"):
        run("replay", "--endpoint", "999999", "--since", "2025-01-01T00:00:00Z")
    with pytest.raises(CommandError, match="Send either event_id"):
        run("replay", "--endpoint", str(endpoint.pk))
    with pytest.raises(CommandError, match="No event with this id"):
        run(
            "replay",
            "--endpoint",
            str(endpoint.pk),
            "--event-id",
            "00000000-0000-0000-0000-000000000000",
        )
