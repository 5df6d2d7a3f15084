"""The suite really runs through PgBouncer in transaction mode (make test-scale).

Collected only with DATABASE_POOLER=pgbouncer (tests.scale.engines sets it).
"""

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_connection_goes_through_pgbouncer_in_transaction_mode():
    settings = connection.settings_dict
    assert settings["DISABLE_SERVER_SIDE_CURSORS"] is True
    admin = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
    with psycopg.connect(f"{admin}/pgbouncer", autocommit=True) as console:
        config = {row[0]: row[1] for row in console.execute("SHOW CONFIG")}
        pools = console.execute("SHOW POOLS").fetchall()
    assert config["pool_mode"] == "transaction"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        database = cursor.fetchone()[0]
    assert database in {row[0] for row in pools}
