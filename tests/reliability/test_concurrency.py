"""Concurrency against real PostgreSQL: threads, each with its own connection.

No timing assertions: a barrier lines the threads up, the outcome is checked.
"""

import threading

import pytest
from django.db import connections
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
