"""Reads on a real streaming replica, and read-your-writes (businessobjects.routing).

The replica is a hot standby of the test cluster (conftest.replica_server);
tests commit for real (``transaction=True``) so that it can replay the writes.
Which database served a request is read from each connection's captured queries.
Pausing the standby's replay makes "the replica has not seen this write yet" a
certainty instead of a race.
"""

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from businessobjects import services
from businessobjects.models import Partner
from businessobjects.routing import ReplicaRouter, replica_reads

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

PARTNERS = Partner._meta.db_table


def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


class Served:
    """The SQL each database ran inside the block."""

    def __enter__(self):
        self.primary = CaptureQueriesContext(connections["default"])
        self.replica = CaptureQueriesContext(connections["replica"])
        self.primary.__enter__()
        self.replica.__enter__()
        return self

    def __exit__(self, *exc):
        self.replica.__exit__(*exc)
        self.primary.__exit__(*exc)

    def ran(self, alias: str, table: str) -> bool:
        queries = self.primary if alias == "default" else self.replica
        return any(table in query["sql"] for query in queries.captured_queries)


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


def pause(replica) -> None:
    replica.execute("SELECT pg_wal_replay_pause()")


def on_replica(replica, pk: int) -> bool:
    return bool(replica.execute(f"SELECT 1 FROM {PARTNERS} WHERE id = %s", [pk]))


def test_list_pages_are_served_by_the_replica(
    client, replica, admin_a, company_a, company_b
):
    services.create(Partner, data={"name": "Mine"}, company=company_a)
    services.create(Partner, data={"name": "Theirs"}, company=company_b)
    headers = auth(admin_a)
    replica.catch_up()
    with Served() as served:
        response = client.get("/api/partners/", **headers)
    assert names(response) == {"Mine"}  # still scoped to the active company
    assert served.ran("replica", PARTNERS)
    assert not served.ran("default", PARTNERS)


def test_history_audit_and_event_reads_are_served_by_the_replica(
    client, replica, admin_a, company_a
):
    partner = services.create(Partner, data={"name": "Logged"}, company=company_a)
    headers = auth(admin_a)
    replica.catch_up()
    for url, table in [
        (f"/api/partners/{partner.pk}/history/", "historicalpartner"),
        ("/api/audit/", "historicalpartner"),
        ("/api/events/", "events_outboxevent"),
    ]:
        with Served() as served:
            response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.content)
        assert served.ran("replica", table), url
        assert not served.ran("default", table), url


def test_a_writer_reads_its_write_at_once_while_the_replica_lags(
    client, replica, admin_a
):
    headers = auth(admin_a)
    pause(replica)
    created = client.post(
        "/api/partners/", {"name": "Fresh"}, content_type="application/json", **headers
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert not on_replica(replica, pk)  # the replica has not replayed it

    with Served() as served:
        listing = client.get("/api/partners/", **headers)
    assert "Fresh" in names(listing)
    assert served.ran("default", PARTNERS)
    assert not served.ran("replica", PARTNERS)

    # Detail reads are always the primary's.
    detail = client.get(f"/api/partners/{pk}/", **headers)
    assert detail.status_code == 200 and detail.json()["name"] == "Fresh"


def test_other_clients_read_the_replica_meanwhile(client, replica, admin_a, member_a):
    writer, reader = auth(admin_a), auth(member_a)
    pause(replica)
    created = client.post(
        "/api/partners/", {"name": "Fresh"}, content_type="application/json", **writer
    )
    assert created.status_code == 201, created.content
    with Served() as served:
        listing = client.get("/api/partners/", **reader)
    # The pin is per client: another one reads the replica, a moment behind.
    assert "Fresh" not in names(listing)
    assert served.ran("replica", PARTNERS)


def test_the_writer_returns_to_the_replica_once_it_replayed_the_write(
    client, replica, admin_a
):
    headers = auth(admin_a)
    created = client.post(
        "/api/partners/", {"name": "Fresh"}, content_type="application/json", **headers
    )
    assert created.status_code == 201, created.content
    replica.catch_up()
    with Served() as served:
        listing = client.get("/api/partners/", **headers)
    assert "Fresh" in names(listing)
    assert served.ran("replica", PARTNERS)
    assert not served.ran("default", PARTNERS)


def test_transactions_and_locking_reads_use_the_primary(replica, company_a):
    partner = services.create(Partner, data={"name": "Locked"}, company=company_a)
    replica.catch_up()
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_read(Partner) == "replica"
        with transaction.atomic():
            assert router.db_for_read(Partner) == "default"
            with Served() as served:
                locked = Partner.objects.select_for_update().get(pk=partner.pk)
            assert locked.name == "Locked"
            assert served.ran("default", PARTNERS)
            assert not served.ran("replica", PARTNERS)
        # Credentials are never read from a replica that may lag behind.
        assert router.db_for_read(Token) == "default"
    assert router.db_for_read(Partner) == "default"
    assert router.db_for_write(Partner) == "default"


def test_custom_field_filters_run_on_the_replica(client, replica, admin_a, company_a):
    from extensions import services as extensions

    extensions.definition_create(
        company=company_a, model="partner", name="tier", field_type="integer"
    )
    for name, tier in [("Low", 1), ("High", 5)]:
        services.create(
            Partner, data={"name": name}, extensions={"tier": tier}, company=company_a
        )
    headers = auth(admin_a)
    replica.catch_up()
    with Served() as served:
        # In id order: the index walk's SET LOCAL runs in a read-only
        # transaction on the standby.
        response = client.get("/api/partners/?ext__tier__gte=3", **headers)
    assert names(response) == {"High"}
    assert served.ran("replica", "extensions_extensionvalue")
    assert served.ran("replica", "set_config")
    assert not served.ran("default", PARTNERS)
