"""Concurrency against real PostgreSQL: threads, each with its own connection.

No timing assertions: a barrier lines the threads up, the outcome is checked.
"""

import contextlib
import threading
import time

import psycopg
import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from businessobjects import services
from businessobjects.registry import get_registration
from events.models import OutboxEvent

from .conftest import count
from .support import MARKERS, Sampler, bo_registrations, text_fields

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 8


def in_parallel(n: int, work) -> list:
    """Run ``work(i)`` in ``n`` threads started together; return results or errors."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported to the test, not lost in the thread
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count("concurrency: parallel requests", n)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def events_of(obj) -> int:
    return OutboxEvent.objects.filter(
        aggregate_type=get_registration(obj).name, aggregate_id=str(obj.pk)
    ).count()


@pytest.mark.parametrize("registration", bo_registrations(), ids=lambda r: r.name)
def test_same_version_patches_one_wins_rest_conflict(registration, tenants):
    tenant = tenants[0]
    obj = Sampler().create(registration, company=tenant.company, marker=MARKERS[0])
    field = text_fields(registration)[0]
    limit = registration.model._meta.get_field(field).max_length or 100
    path = f"/api/{registration.plural}/{obj.pk}/"

    def patch(i):
        body = {field: f"w{i}"[:limit], "version": obj.version}
        response = client_for(tenant.member).patch(path, body, format="json")
        return response.status_code, response.json()

    results = in_parallel(THREADS, patch)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (THREADS - 1), results
    winner = next(body for status, body in results if status == 200)
    obj.refresh_from_db()
    assert getattr(obj, field) == winner[field]
    assert obj.version == 2
    assert obj.history.count() == 2  # created + the one update
    assert events_of(obj) == 2
    for status, body in results:
        if status == 409:
            assert "version" in body and body["current_version"] >= 1


@pytest.mark.parametrize(
    "registration",
    [
        r
        for r in bo_registrations()
        if any(
            (r.model._meta.get_field(f).max_length or 0) >= 4 * THREADS
            for f in text_fields(r)
        )
    ],
    ids=lambda r: r.name,
)
def test_read_modify_write_with_versions_loses_no_update(registration, tenants):
    """Each thread appends its token with the version it read, retrying on 409:
    every token must survive (DRF alone would lose all but one, DRF #5674)."""
    tenant = tenants[0]
    obj = Sampler().create(registration, company=tenant.company, marker=MARKERS[0])
    field = next(
        f
        for f in text_fields(registration)
        if (registration.model._meta.get_field(f).max_length or 0) >= 4 * THREADS
    )
    client_path = f"/api/{registration.plural}/{obj.pk}/"
    start = "|"
    obj = type(obj).objects.get(pk=obj.pk)
    services.update(obj, data={field: start})

    def append(i):
        client = client_for(tenant.member)
        conflicts = 0
        while True:
            current = client.get(client_path).json()
            body = {field: current[field] + f"{i}|", "version": current["version"]}
            response = client.patch(client_path, body, format="json")
            if response.status_code == 200:
                return conflicts
            assert response.status_code == 409, response.content
            conflicts += 1

    conflicts = sum(in_parallel(THREADS, append))

    obj.refresh_from_db()
    tokens = [t for t in getattr(obj, field).split("|") if t]
    assert sorted(tokens) == sorted(str(i) for i in range(THREADS))
    assert obj.version == 2 + THREADS  # created, reset to "|", one per thread
    assert obj.history.count() == 2 + THREADS
    assert events_of(obj) == 2 + THREADS
    count("concurrency: conflicts retried", conflicts)


def test_parallel_creates_under_a_unique_constraint_are_clean_400s(tenants):
    from tests.testapp.models import Product

    tenant = tenants[0]

    def create(i):
        response = client_for(tenant.member).post(
            "/api/products/", {"sku": "SAME-SKU", "name": f"n{i}"}, format="json"
        )
        return response.status_code, response.json()

    results = in_parallel(THREADS, create)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * (THREADS - 1), results
    refused = [body for status, body in results if status == 400]
    # The same answer as a plain duplicate, naming the field.
    sequential = client_for(tenant.member).post(
        "/api/products/", {"sku": "SAME-SKU", "name": "again"}, format="json"
    )
    assert sequential.status_code == 400
    assert all(body == sequential.json() for body in refused), refused
    assert list(sequential.json()) == ["sku"], sequential.json()
    product = Product.objects.get(company=tenant.company, sku="SAME-SKU")
    assert product.history.count() == 1
    assert events_of(product) == 1
    assert OutboxEvent.objects.filter(aggregate_type="product").count() == 1


@pytest.mark.parametrize("child_name", ["address", "contact"])
def test_child_creates_racing_parent_delete_stay_consistent(child_name, tenants):
    """Creating contacts of a partner while it is deleted: no 500, and either the
    partner is gone with no children, or it stayed (409) with its children."""
    tenant = tenants[0]
    sampler = Sampler()
    partner_registration = get_registration("partner")
    child = get_registration(child_name)
    partner = sampler.create(
        partner_registration, company=tenant.company, marker=MARKERS[0]
    )
    body = sampler.payload(
        child,
        company=tenant.company,
        marker=MARKERS[0],
        references={"partner": partner},
    )

    def work(i):
        client = client_for(tenant.member)
        if i == 0:
            return client.delete(f"/api/partners/{partner.pk}/").status_code
        return client.post(f"/api/{child.plural}/", body, format="json").status_code

    results = in_parallel(THREADS, work)

    delete_status, create_statuses = results[0], results[1:]
    assert all(status < 500 for status in results), results
    children = child.model.objects.filter(partner_id=partner.pk)
    if delete_status == 204:
        assert not children.exists()
        assert 201 not in create_statuses, results
    else:
        assert delete_status == 409, results
        assert children.count() == create_statuses.count(201) > 0
    assert set(create_statuses) <= {201, 400}, results


# Races on delete. A request reads the object, then locks it in the service; a
# concurrent DELETE that commits in between leaves the lock nothing to find. To hit
# that window every time (not 1 run in 20), another connection holds a KEY SHARE
# lock on the row: the requests' plain reads pass, their FOR UPDATE waits. Once all
# wait, the holder lets go and they take the row lock in turn.


def _connect() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
    )


def _lock_waiters(monitor: psycopg.Connection, table: str) -> int:
    return monitor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE %s",
        [f'%%FROM "{table}"%%FOR UPDATE%%'],
    ).fetchone()[0]


def _wait_for_waiters(monitor, table: str, n: int) -> None:
    deadline = time.monotonic() + 60  # a hang becomes a failure, not a timing check
    while _lock_waiters(monitor, table) < n:
        assert time.monotonic() < deadline, f"{n} requests never queued on the lock"
        time.sleep(0.02)


@contextlib.contextmanager
def row_held(obj):
    """Hold a KEY SHARE lock on ``obj``'s row from another connection until exit."""
    table = type(obj)._meta.db_table
    holder = _connect()
    monitor = _connect()
    monitor.autocommit = True
    try:
        holder.execute(f'SELECT 1 FROM "{table}" WHERE id = %s FOR KEY SHARE', [obj.pk])
        yield lambda n: _wait_for_waiters(monitor, table, n)
    finally:
        holder.rollback()
        holder.close()
        monitor.close()


def start_threads(works) -> tuple[list[threading.Thread], list]:
    results: list = [None] * len(works)

    def run(i, work):
        try:
            results[i] = work()
        except BaseException as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(i, work)) for i, work in enumerate(works)
    ]
    for thread in threads:
        thread.start()
    return threads, results


def join(threads, results) -> list:
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


DELETERS = 20


@pytest.mark.parametrize("registration", bo_registrations(), ids=lambda r: r.name)
def test_parallel_deletes_of_one_object_one_204_rest_404(registration, tenants):
    tenant = tenants[0]
    obj = Sampler().create(registration, company=tenant.company, marker=MARKERS[0])
    path = f"/api/{registration.plural}/{obj.pk}/"

    def delete():
        response = client_for(tenant.member).delete(path)
        return response.status_code, response.content

    with row_held(obj) as wait_for_waiters:
        threads, results = start_threads([delete] * DELETERS)
        wait_for_waiters(DELETERS)  # all read it; none has locked it yet
    results = join(threads, results)
    count("concurrency: parallel requests", DELETERS)

    statuses = sorted(status for status, _ in results)
    assert statuses == [204] + [404] * (DELETERS - 1), results
    assert all(
        body == b'{"detail":"Not found."}' for status, body in results if status == 404
    ), results
    assert not type(obj).objects.filter(pk=obj.pk).exists()
    kinds = list(
        OutboxEvent.objects.filter(
            aggregate_type=registration.name, aggregate_id=str(obj.pk)
        ).values_list("event_type", flat=True)
    )
    assert sorted(kinds) == sorted(
        [f"{registration.name}.created", f"{registration.name}.deleted"]
    )
    assert obj.history.filter(history_type="-").count() == 1


PATCHERS = 7


@pytest.mark.parametrize("registration", bo_registrations(), ids=lambda r: r.name)
def test_patches_racing_a_delete_are_200_or_404(registration, tenants):
    """The DELETE queues on the row lock first, then the PATCHes: each PATCH finds
    the object gone (404, nothing written), none answers 500."""
    tenant = tenants[0]
    obj = Sampler().create(registration, company=tenant.company, marker=MARKERS[0])
    field = text_fields(registration)[0]
    path = f"/api/{registration.plural}/{obj.pk}/"

    def delete():
        return client_for(tenant.member).delete(path).status_code

    def patch(i):
        def work():
            response = client_for(tenant.member).patch(
                path, {field: f"p{i}"}, format="json"
            )
            return response.status_code

        return work

    with row_held(obj) as wait_for_waiters:
        deleter, deleted = start_threads([delete])
        wait_for_waiters(1)
        patchers, patched = start_threads([patch(i) for i in range(PATCHERS)])
        wait_for_waiters(1 + PATCHERS)
    join(deleter, deleted)
    join(patchers, patched)
    count("concurrency: parallel requests", 1 + PATCHERS)

    assert deleted == [204]
    assert set(patched) <= {200, 404}, patched
    assert 404 in patched, patched  # the DELETE went first: later PATCHes miss it
    assert not type(obj).objects.filter(pk=obj.pk).exists()
    updated = OutboxEvent.objects.filter(
        aggregate_type=registration.name,
        aggregate_id=str(obj.pk),
        event_type=f"{registration.name}.updated",
    ).count()
    assert updated == patched.count(200)


def test_a_patch_of_an_object_deleted_meanwhile_is_not_found_in_the_service(
    tenants,
):
    """The service's own answer: ``ObjectNotFound`` (a ``DoesNotExist``)."""
    from django.core.exceptions import ObjectDoesNotExist

    from businessobjects.exceptions import ObjectNotFound

    registration = get_registration("partner")
    obj = Sampler().create(registration, company=tenants[0].company, marker="x")
    stale = type(obj).objects.get(pk=obj.pk)
    services.delete(obj)
    with pytest.raises(ObjectNotFound) as raised:
        services.update(stale, data={"name": "late"})
    assert isinstance(raised.value, ObjectDoesNotExist)
    with pytest.raises(ObjectNotFound):
        services.delete(stale)


def test_admin_save_or_delete_of_an_object_deleted_meanwhile(tenants, rf):
    """The admin read the object, then someone deleted it: deleting it is done
    (no error), saving it is a 404, never a 500."""
    from django.contrib import admin as django_admin
    from django.http import Http404

    registration = get_registration("partner")
    obj = Sampler().create(registration, company=tenants[0].company, marker="x")
    stale = type(obj).objects.get(pk=obj.pk)
    services.delete(obj)
    model_admin = django_admin.site._registry[type(obj)]
    request = rf.post("/")
    request.user = tenants[0].admin

    model_admin.delete_model(request, stale)
    model_admin.delete_queryset(request, [stale])

    form = type("Form", (), {"changed_data": ["name"], "cleaned_data": {"name": "n"}})
    with pytest.raises(Http404):
        model_admin.save_model(request, stale, form, change=True)
