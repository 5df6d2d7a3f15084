"""?as_of= on business-object details and lists: the state at a past instant."""

from datetime import timedelta

import pytest
from django.utils import timezone

from businessobjects import services
from businessobjects.models import Address, Partner

pytestmark = pytest.mark.django_db


def at(moment) -> str:
    return moment.isoformat()


@pytest.fixture
def client_a(api, admin_a, company_a):
    return api(admin_a, company_a)


@pytest.fixture
def make_partner(company_a):
    def make(name="Acme", company=None, extensions=None, **data):
        return services.create(
            Partner,
            data={"name": name, **data},
            extensions=extensions,
            company=company or company_a,
        )

    return make


def test_detail_as_of_shows_the_values_then(client_a, make_partner, fake_extensions):
    before_create = timezone.now()
    partner = make_partner("Old name", extensions={"tier": "silver", "score": 1})
    created = timezone.now()
    services.update(partner, data={"name": "New name"}, extensions={"tier": "gold"})
    updated = timezone.now()
    services.update(partner, extensions={"score": None})

    url = f"/api/partners/{partner.pk}/"
    then = client_a.get(url, {"as_of": at(created)})
    assert then.status_code == 200, then.content
    body = then.json()
    assert body["name"] == "Old name"
    assert body["version"] == 1
    assert body["extensions"] == {"tier": "silver", "score": 1}
    assert body["id"] == partner.pk

    middle = client_a.get(url, {"as_of": at(updated)}).json()
    assert middle["name"] == "New name"
    assert middle["version"] == 2
    assert middle["extensions"] == {"tier": "gold", "score": 1}

    now = client_a.get(url).json()
    assert now["version"] == 3
    assert now["extensions"] == {"tier": "gold", "score": None}

    assert client_a.get(url, {"as_of": at(before_create)}).status_code == 404


def test_deleted_objects_are_absent_after_and_present_before(client_a, make_partner):
    partner = make_partner("Gone")
    alive = timezone.now()
    services.delete(partner)
    gone = timezone.now()

    url = f"/api/partners/{partner.pk}/"
    assert client_a.get(url).status_code == 404
    assert client_a.get(url, {"as_of": at(alive)}).json()["name"] == "Gone"
    assert client_a.get(url, {"as_of": at(gone)}).status_code == 404
    listed = client_a.get("/api/partners/", {"as_of": at(alive)}).json()
    assert [row["id"] for row in listed["results"]] == [partner.pk]
    assert client_a.get("/api/partners/", {"as_of": at(gone)}).json()["count"] == 0


def test_list_as_of_filters_search_and_pagination(
    client_a, make_partner, fake_extensions
):
    partners = [
        make_partner(f"P{i}", extensions={"score": i}, is_active=True) for i in range(5)
    ]
    moment = timezone.now()
    # After the moment: every change must stay invisible as of it.
    for partner in partners:
        services.update(partner, data={"is_active": False}, extensions={"score": 100})
    make_partner("Later", extensions={"score": 3})
    services.delete(partners[0])

    def ids(**params):
        response = client_a.get("/api/partners/", {"as_of": at(moment), **params})
        assert response.status_code == 200, response.content
        return response.json()

    everything = ids()
    assert everything["count"] == 5
    assert [r["id"] for r in everything["results"]] == [
        p.pk for p in reversed(partners)
    ]
    assert all(r["is_active"] for r in everything["results"])
    assert ids(is_active="false")["count"] == 0
    assert ids(is_active="true")["count"] == 5
    assert [r["id"] for r in ids(ext__score__gte=3)["results"]] == [
        partners[4].pk,
        partners[3].pk,
    ]
    assert ids(ext__score=100)["count"] == 0
    assert ids(ext__score__isnull="true")["count"] == 0
    assert [r["id"] for r in ids(search="P2")["results"]] == [partners[2].pk]

    first = ids(page_size=2, ordering="id")
    assert first["count"] == 5
    assert [r["id"] for r in first["results"]] == [p.pk for p in partners[:2]]
    second = client_a.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [p.pk for p in partners[2:4]]

    cursor = ids(page_size=2, cursor="")
    assert [r["id"] for r in cursor["results"]] == [p.pk for p in partners[:2:-1]]
    following = client_a.get(cursor["next"]).json()
    assert [r["id"] for r in following["results"]] == [
        partners[2].pk,
        partners[1].pk,
    ]
    # The live list: the changes after the moment.
    live = client_a.get("/api/partners/", {"ext__score": 100}).json()
    assert live["count"] == 4


def test_as_of_orders_by_every_field_the_live_list_orders_by(client_a, make_partner):
    """updated_at is not a history column: as of, it is the entry's time."""
    first, second = make_partner("First"), make_partner("Second")
    services.update(first, data={"phone": "+1 555"})  # now updated last
    moment = timezone.now()
    services.update(second, data={"phone": "+1 556"})  # after the moment

    for term, expected in (
        ("-updated_at", [first, second]),
        ("updated_at", [second, first]),
        ("-created_at", [second, first]),
        ("-version", [first, second]),
    ):
        response = client_a.get(
            "/api/partners/", {"as_of": at(moment), "ordering": term}
        )
        assert response.status_code == 200, (term, response.content)
        assert [r["id"] for r in response.json()["results"]] == [
            p.pk for p in expected
        ], term


def test_ext_filter_reads_the_value_then_not_an_older_or_newer_one(
    client_a, make_partner, fake_extensions
):
    partner = make_partner("A", extensions={"tier": "gold"})
    services.update(partner, extensions={"tier": "silver"})
    moment = timezone.now()
    services.update(partner, extensions={"tier": None})
    services.update(partner, extensions={"tier": "gold"})

    def count(**params):
        return client_a.get("/api/partners/", {"as_of": at(moment), **params}).json()[
            "count"
        ]

    assert count(ext__tier="gold") == 0
    assert count(ext__tier="silver") == 1
    assert count(ext__tier__isnull="false") == 1
    assert client_a.get("/api/partners/", {"ext__tier": "gold"}).json()["count"] == 1


def test_reference_filter_as_of(client_a, make_partner, company_a):
    first, second = make_partner("First"), make_partner("Second")
    address = services.create(
        Address, data={"partner": first, "city": "Rome"}, company=company_a
    )
    moment = timezone.now()
    services.update(address, data={"partner": second, "city": "Oslo"})

    response = client_a.get(
        "/api/addresses/", {"as_of": at(moment), "partner": first.pk}
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["id"], r["partner"], r["city"]) for r in results] == [
        (address.pk, first.pk, "Rome")
    ]


def test_bad_as_of_is_a_400_naming_it(client_a, make_partner):
    partner = make_partner()
    for url in ("/api/partners/", f"/api/partners/{partner.pk}/"):
        for bad in ("yesterday", "", "2025-13-01", "9999-12-31T23:59:59-23:59"):
            response = client_a.get(url, {"as_of": bad})
            assert response.status_code == 400, (url, bad)
            assert "as_of" in response.json()
    response = client_a.get("/api/partners/", {"as_of": "2025-01-01", "nope": 1})
    assert response.status_code == 400 and "nope" in response.json()
    response = client_a.get(
        "/api/partners/", {"as_of": "2025-01-01", "ordering": "ext__tier"}
    )
    assert response.status_code == 400 and "ordering" in response.json()


def test_as_of_without_offset_is_utc(client_a, make_partner, settings):
    settings.TIME_ZONE = "UTC"
    partner = make_partner()
    naive = (timezone.now() + timedelta(seconds=1)).replace(tzinfo=None)
    url = f"/api/partners/{partner.pk}/"
    response = client_a.get(url, {"as_of": naive.isoformat()})
    assert response.status_code == 200


def test_writes_with_as_of_are_refused(client_a, make_partner):
    partner = make_partner("Keep")
    url = f"/api/partners/{partner.pk}/?as_of=2025-01-01"
    assert client_a.patch(url, {"name": "X"}, format="json").status_code == 400
    assert client_a.delete(url).status_code == 400
    response = client_a.post(
        "/api/partners/?as_of=2025-01-01", {"name": "New"}, format="json"
    )
    assert response.status_code == 400 and "as_of" in response.json()
    assert Partner.objects.get(pk=partner.pk).name == "Keep"
    assert Partner.objects.count() == 1


def test_as_of_is_company_scoped(api, admin_b, company_b, make_partner, company_a):
    partner = make_partner("A's", company=company_a)
    moment = timezone.now()
    client_b = api(admin_b, company_b)
    assert (
        client_b.get(f"/api/partners/{partner.pk}/", {"as_of": at(moment)}).status_code
        == 404
    )
    assert client_b.get("/api/partners/", {"as_of": at(moment)}).json()["count"] == 0


def test_history_entries_carry_version_and_reason(client_a, make_partner):
    partner = make_partner("V")
    services.update(partner, data={"name": "W"}, reason="typo")
    entries = client_a.get(f"/api/partners/{partner.pk}/history/").json()["results"]
    assert [(e["version"], e["reason"]) for e in entries] == [(2, "typo"), (1, None)]
    log = client_a.get("/api/audit/", {"object_id": partner.pk}).json()["results"]
    assert [(e["version"], e["reason"]) for e in log] == [(2, "typo"), (1, None)]


def test_schema_documents_as_of_and_undo(client_a):
    schema = client_a.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/partners/", "/api/partners/{id}/"):
        names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert "as_of" in names, path
    undo = schema["paths"]["/api/audit/undo/"]["post"]
    assert {"200", "404", "409"} <= set(undo["responses"])
