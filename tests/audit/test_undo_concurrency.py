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


def write_in_another_connection(write, correlation_id: str):
    """Run ``write`` in its own thread (its own connection, request
    ``correlation_id``) and wait: committed before the caller goes on."""

    def run():
        from django.db import connection

        try:
            with context.use_context(correlation_id=correlation_id):
                write()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


@pytest.mark.parametrize("concurrent", ["update", "delete"])
def test_a_write_between_plan_and_undo_is_never_overwritten(
    company_a, monkeypatch, concurrent
):
    """Another request writes the object after the undo planned and before it
    writes: the undo plans again and answers 409 naming that request (or, for
    the deletion, the object gone); the other request's write stands."""
    with context.use_context(correlation_id="setup"):
        partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    with context.use_context(correlation_id="rename"):
        services.update(partner, data={"name": "Renamed"})

    planned = undo.undo_plan
    calls = []

    def plan_then_someone_writes(**kwargs):
        plan = planned(**kwargs)
        if not calls:
            target = Partner.objects.get(pk=partner.pk)
            if concurrent == "update":
                write = lambda: services.update(target, data={"name": "Theirs"})  # noqa: E731
            else:
                write = lambda: services.delete(target)  # noqa: E731
            write_in_another_connection(write, "meanwhile")
        calls.append(plan)
        return plan

    monkeypatch.setattr(undo, "undo_plan", plan_then_someone_writes)
    with pytest.raises(undo.UndoConflict) as raised:
        undo.undo(company=company_a, correlation_id="rename")

    assert len(calls) == 2  # planned again after the write
    assert [c.correlation_id for c in raised.value.conflicts] == ["meanwhile"]
    if concurrent == "update":
        assert Partner.objects.get(pk=partner.pk).name == "Theirs"
    else:
        assert not Partner.objects.filter(pk=partner.pk).exists()
    # Nothing of the undo was written.
    history = Partner.history.filter(id=partner.pk)
    assert not history.filter(history_change_reason="undo rename").exists()
