"""Fixtures of the scale-out tests (``make test-scale``, docs/scaling.md).

These tests need engines beside the test cluster and settings made before Django
starts, so each runs in its own pytest invocation of ``make test-scale``:
``test_replica.py`` with ``DATABASE_REPLICA_URL`` (a streaming replica this
conftest starts), ``test_pooler.py`` through PgBouncer (``python -m
tests.scale.engines pgbouncer -- pytest ...``), ``test_load.py`` with
``MERP_TEST_LOAD=1``. A plain ``pytest``
run (``make test``) does not collect them.
"""

import os
from urllib.parse import urlsplit

import pytest

from .engines import streaming_replica, wait_for_replay

collect_ignore = []
if not os.environ.get("DATABASE_REPLICA_URL"):
    collect_ignore.append("test_replica.py")
if os.environ.get("DATABASE_POOLER") != "pgbouncer":
    collect_ignore.append("test_pooler.py")
if not os.environ.get("MERP_TEST_LOAD"):
    collect_ignore.append("test_load.py")


@pytest.fixture(scope="session")
def replica_server():
    """A streaming replica of the test cluster where DATABASE_REPLICA_URL says."""
    port = urlsplit(os.environ["DATABASE_REPLICA_URL"]).port or 5440
    with streaming_replica(port) as url:
        yield url


@pytest.fixture
def replica(replica_server, transactional_db, django_db_setup):
    """The replica, caught up with the primary's test database."""
    from django.db import connections

    database = connections["default"].settings_dict["NAME"]
    wait_for_replay(replica_server, database)
    yield _Replica(replica_server, database)
    # A test that paused replay must not leave the standby behind.
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")


class _Replica:
    def __init__(self, url: str, database: str):
        self.url = url
        self.database = database

    def catch_up(self) -> None:
        wait_for_replay(self.url, self.database)

    def execute(self, sql: str, params=()):
        from django.db import connections

        with connections["replica"].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
