"""GET /api/events/?after=<id>: the active company's events, in commit order."""

import threading

import pytest
from django.db import connection, transaction

from businessobjects import services
from businessobjects.models import Partner
from events import relay
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db

# Most tests run in a test transaction, where nothing commits: they sequence the
# outbox themselves, as the after-commit hook does (the transactional tests here
# and in test_relay.py cover that hook).

FIELDS = {
    "id",
    "stream",
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "company_id",
    "user_id",
    "correlation_id",
    "occurred_at",
    "version",
    "payload",
    "changes",
    "sent_at",
}


def make_partner(company, name="P", user=None):
    partner = services.create(Partner, data={"name": name}, company=company, user=user)
    relay.sequence_outbox()
    return partner


@pytest.mark.django_db(transaction=True)
def test_lists_the_active_companys_events_with_the_stream_fields(
    api, member_a, company_a, company_b
):
    client = api(member_a)
    created = client.post(
        "/api/partners/", {"name": "Acme"}, format="json", HTTP_X_CORRELATION_ID="c-1"
    ).json()
    make_partner(company_b, name="Other company")
    body = client.get("/api/events/").json()
    assert set(body) == {"next", "results"}
    [event] = body["results"]
    assert set(event) == FIELDS
    row = OutboxEvent.objects.get(company_id=company_a.pk)
    stream_fields = row.as_stream_fields()
    assert event["id"] == row.position
    assert event["stream"] == "partner_events"
    assert event["event_id"] == stream_fields["event_id"]
    assert event["occurred_at"] == stream_fields["occurred_at"]
    assert event["event_type"] == "partner.created"
    assert event["aggregate_id"] == str(created["id"])
    assert event["company_id"] == company_a.pk
    assert event["user_id"] == member_a.pk
    assert event["correlation_id"] == "c-1"
    assert event["version"] == 1
    assert event["payload"] == created
    assert event["changes"]["name"] == {"old": None, "new": "Acme"}
    assert event["sent_at"] is None  # no worker in this test: still in the outbox


def test_after_pages_through_and_next_polls(api, member_a, company_a):
    for i in range(5):
        make_partner(company_a, name=f"P{i}")
    client = api(member_a)
    first = client.get("/api/events/?page_size=2").json()
    assert [e["payload"]["name"] for e in first["results"]] == ["P0", "P1"]
    second = client.get(first["next"]).json()
    assert [e["payload"]["name"] for e in second["results"]] == ["P2", "P3"]
    third = client.get(second["next"]).json()
    assert [e["payload"]["name"] for e in third["results"]] == ["P4"]
    empty = client.get(third["next"]).json()
    assert empty["results"] == []
    assert empty["next"] == third["next"]  # poll the same cursor again
    make_partner(company_a, name="P5")
    assert [
        e["payload"]["name"] for e in client.get(empty["next"]).json()["results"]
    ] == ["P5"]


@pytest.mark.django_db(transaction=True)
def test_after_never_skips_an_event_that_commits_late(api, member_a, company_a):
    """Outbox ids are assigned at insert: an event with a lower id can commit after
    one with a higher id. A client resuming after the last id it saw still gets it.
    """
    inserted, release = threading.Event(), threading.Event()

    def slow_write():
        try:
            with transaction.atomic():
                services.create(Partner, data={"name": "slow"}, company=company_a)
                inserted.set()
                assert release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_write)
    thread.start()
    assert inserted.wait(30)
    make_partner(company_a, name="fast")
    client = api(member_a)
    page = client.get("/api/events/").json()
    assert [e["payload"]["name"] for e in page["results"]] == ["fast"]
    release.set()
    thread.join(30)
    relay.sequence_outbox()  # as the worker does after the commit
    later = client.get(page["next"]).json()
    assert [e["payload"]["name"] for e in later["results"]] == ["slow"]
    slow = OutboxEvent.objects.get(payload__name="slow")
    fast = OutboxEvent.objects.get(payload__name="fast")
    assert slow.pk < fast.pk  # the trap was real


def test_filters(api, member_a, company_a):
    partner = make_partner(company_a, name="A")
    services.update(partner, data={"name": "B"})
    make_partner(company_a, name="C")  # sequences the update too
    client = api(member_a)
    body = client.get("/api/events/?event_type=partner.updated").json()
    assert [e["version"] for e in body["results"]] == [2]
    body = client.get(f"/api/events/?aggregate_id={partner.pk}").json()
    assert [e["event_type"] for e in body["results"]] == [
        "partner.created",
        "partner.updated",
    ]


@pytest.mark.parametrize(
    "query, field",
    [
        ("after=abc", "after"),
        ("after=-1", "after"),
        ("page_size=x", "page_size"),
        # Found by schemathesis: an empty or zero size was read as the default / 1.
        ("page_size=", "page_size"),
        ("page_size=0", "page_size"),
    ],
)
def test_bad_parameters_are_400_naming_them(api, member_a, query, field):
    response = api(member_a).get(f"/api/events/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_unknown_parameter_is_400(api, member_a):
    response = api(member_a).get("/api/events/?aggregate=partner")
    assert response.status_code == 400
    assert "aggregate" in response.json()


def test_page_size_is_capped(api, member_a, company_a, settings):
    settings.MERP = {**settings.MERP, "MAX_PAGE_SIZE": 3}
    for i in range(4):
        make_partner(company_a, name=f"P{i}")
    body = api(member_a).get("/api/events/?page_size=100").json()
    assert len(body["results"]) == 3


def test_other_companies_stay_hidden(api, member_a, member_b, company_a, company_b):
    make_partner(company_a, name="mine")
    make_partner(company_b, name="theirs")
    assert (
        api(member_b).get("/api/events/").json()["results"][0]["payload"]["name"]
        == "theirs"
    )
    assert api(member_a, company_b).get("/api/events/").status_code == 403
    assert api().get("/api/events/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_sent_events_show_sent_at(api, member_a, company_a, events_redis):
    make_partner(company_a)
    relay.forward_outbox()
    [event] = api(member_a).get("/api/events/").json()["results"]
    assert event["sent_at"] is not None


def test_schema_documents_the_endpoint(api, member_a):
    schema = api(member_a).get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/events/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"after", "page_size"}


def test_an_events_page_costs_a_constant_number_of_queries(api, member_a, company_a):
    from django.test.utils import CaptureQueriesContext

    for i in range(30):
        make_partner(company_a, name=f"P{i}")
    client = api(member_a)

    def queries(query: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/events/?{query}")
        assert response.status_code == 200
        assert response.json()["results"]
        return len(captured)

    assert queries("page_size=2") == queries("page_size=25")
