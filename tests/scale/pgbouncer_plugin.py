"""pytest plugin for suites run through PgBouncer (tests.scale.engines adds it).

PgBouncer keeps idle server connections to the test database after the tests
closed theirs, so Django's plain ``DROP DATABASE`` at the end would fail ("being
accessed by other users"): drop it with ``FORCE`` (PostgreSQL 13+), which ends
those server connections.
"""

from django.db.backends.postgresql.creation import DatabaseCreation


def _destroy_test_db(self, test_database_name, verbosity):
    with self._nodb_cursor() as cursor:
        name = self.connection.ops.quote_name(test_database_name)
        cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")


def pytest_configure(config):
    DatabaseCreation._destroy_test_db = _destroy_test_db
