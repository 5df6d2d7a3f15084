"""Two undos of the same request at once (a double click on "Undo this request",
a retried API call): one undoes, the other is a 409 conflict, never a 500.
Real threads on real PostgreSQL connections."""

import threading

import pytest

from audit import undo
from businessobjects import context, services
from businessobjects.models import Partner

pytestmark = pytest.mark.django_db(transaction=True)


def twice_at_once(company, correlation_id: str) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        from django.db import connection

        try:
            barrier.wait()
            undo.undo(company=company, correlation_id=correlation_id)
            outcomes.append("undone")
        except undo.UndoConflict:
            outcomes.append("conflict")
        except Exception as exc:  # the defect this test is about
            outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_concurrent_undos_of_one_request_undo_it_once(company_a):
    for round_ in range(3):
        with context.use_context(correlation_id=f"create-{round_}"):
            created = services.create(Partner, data={"name": "New"}, company=company_a)
        with context.use_context(correlation_id="setup"):
            changed = services.create(Partner, data={"name": "Old"}, company=company_a)
            gone = services.create(Partner, data={"name": "Gone"}, company=company_a)
        with context.use_context(correlation_id=f"update-{round_}"):
            services.update(changed, data={"name": "Changed"})
        with context.use_context(correlation_id=f"delete-{round_}"):
            services.delete(gone)

        for action in ("create", "update", "delete"):
            correlation_id = f"{action}-{round_}"
            assert twice_at_once(company_a, correlation_id) == [
                "conflict",
                "undone",
            ], correlation_id
        assert not Partner.objects.filter(pk=created.pk).exists()
        changed.refresh_from_db()
        assert (changed.name, changed.version) == ("Old", 3)
        assert Partner.objects.get(pk=gone.pk).name == "Gone"
