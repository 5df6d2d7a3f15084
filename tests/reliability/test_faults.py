"""Faults: the PostgreSQL connection of a request is killed in the middle of its write.

An execute wrapper (Django's hook around every statement) terminates the request's
backend with ``pg_terminate_backend`` from a second connection just before a chosen
statement: the row write, the history insert or the outbox insert. The request must
answer a JSON 503, and the database must hold nothing of the write (no row without
its history and its event), and the next request must work.
"""

import re

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from businessobjects.registry import Registration
from events.models import OutboxEvent

from .conftest import count
from .support import MARKERS, Sampler, bo_registrations, db_fingerprint, text_fields

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def statement_patterns(registration: Registration) -> dict[str, re.Pattern]:
    table = registration.model._meta.db_table
    history = registration.model.history.model._meta.db_table
    outbox = OutboxEvent._meta.db_table
    return {
        "row": re.compile(rf'^(INSERT INTO|UPDATE|DELETE FROM) "{table}"'),
        "history": re.compile(rf'^INSERT INTO "{history}"'),
        # A write in its own transaction sequences its event in the insert
        # (WITH counter AS (...) INSERT INTO ...).
        "outbox": re.compile(rf'^(WITH .*)?INSERT INTO "{outbox}"', re.S),
    }


class KillBackendBefore:
    """Execute wrapper: terminate this connection's backend before the first
    statement matching ``pattern``; record whether it fired."""

    def __init__(self, pattern: re.Pattern):
        self.pattern = pattern
        self.fired = False

    def __call__(self, execute, sql, params, many, context):
        if not self.fired and self.pattern.search(sql):
            self.fired = True
            pid = context["connection"].connection.info.backend_pid
            terminate(pid)
        return execute(sql, params, many, context)


def terminate(pid: int) -> None:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as killer:
        assert killer.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        # Termination is asynchronous: wait until the backend is gone.
        while killer.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone():
            killer.execute("SELECT pg_sleep(0.01)")


def assert_every_row_audited() -> None:
    for registration in bo_registrations():
        model = registration.model
        for pk in model.objects.values_list("pk", flat=True):
            assert model.history.filter(id=pk).exists(), (registration.name, pk)
            assert OutboxEvent.objects.filter(
                aggregate_type=registration.name, aggregate_id=str(pk)
            ).exists(), (registration.name, pk)


CASES = [
    pytest.param(
        registration, operation, point, id=f"{registration.name}-{operation}-{point}"
    )
    for registration in bo_registrations()
    for operation in ("create", "update", "delete")
    for point in ("row", "history", "outbox")
]


@pytest.mark.parametrize(("registration", "operation", "point"), CASES)
def test_connection_killed_mid_write_is_a_clean_503(
    registration, operation, point, tenants
):
    tenant = tenants[0]
    sampler = Sampler()
    target = sampler.create(registration, company=tenant.company, marker=MARKERS[0])
    client = APIClient()
    client.force_authenticate(tenant.member)
    base = f"/api/{registration.plural}/"
    request = {
        "create": (
            "post",
            base,
            sampler.payload(registration, company=tenant.company, marker=MARKERS[0]),
        ),
        "update": (
            "patch",
            f"{base}{target.pk}/",
            {text_fields(registration)[0]: "changed", "version": target.version},
        ),
        "delete": ("delete", f"{base}{target.pk}/", None),
    }[operation]
    before = db_fingerprint()
    kill = KillBackendBefore(statement_patterns(registration)[point])

    with connection.execute_wrapper(kill):
        method, path, body = request
        response = getattr(client, method)(path, body, format="json")
    count("faults: connections killed mid-write")

    assert kill.fired, f"no statement matched {kill.pattern.pattern}"
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    assert "database" in response.json()["detail"].lower()
    # The test client does not close connections after a request (gunicorn does).
    connection.close()
    assert db_fingerprint() == before
    assert_every_row_audited()
    # The next request gets a fresh connection and succeeds.
    method, path, body = request
    retry = getattr(client, method)(path, body, format="json")
    assert retry.status_code in (200, 201, 204), retry.content[:500]
    assert_every_row_audited()
