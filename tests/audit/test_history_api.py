"""GET /api/<objects>/{id}/history/: entries as DESIGN.md fixes them, newest first,
paginated, after delete, 404 for other companies."""

import pytest

from businessobjects import services
from businessobjects.models import Membership, Partner

pytestmark = pytest.mark.django_db

# DESIGN.md's entry, with version and reason ("Time travel and undo").
ENTRY_KEYS = {
    "history_id",
    "action",
    "changed_at",
    "user",
    "correlation_id",
    "changes",
    "version",
    "reason",
}


def test_entries_have_exactly_the_design_fields(api, admin_a):
    client = api(admin_a)
    pk = client.post(
        "/api/partners/", {"name": "A"}, format="json", HTTP_X_CORRELATION_ID="c-1"
    ).json()["id"]
    client.patch(
        f"/api/partners/{pk}/",
        {"name": "B"},
        format="json",
        HTTP_X_CORRELATION_ID="c-2",
    )
    body = client.get(f"/api/partners/{pk}/history/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    newest, oldest = body["results"]
    assert set(newest) == ENTRY_KEYS
    assert newest["action"] == "updated" and oldest["action"] == "created"
    assert newest["user"] == "admin_a"
    assert (newest["correlation_id"], oldest["correlation_id"]) == ("c-2", "c-1")
    assert newest["changes"] == {"name": {"old": "A", "new": "B"}}
    assert newest["changed_at"] >= oldest["changed_at"]
    assert newest["history_id"] > oldest["history_id"]


def test_newest_first_and_paginated(api, member_a, make_partner):
    partner = make_partner("v1")
    for version in range(2, 8):
        services.update(partner, data={"name": f"v{version}"})
    client = api(member_a)
    first = client.get(f"/api/partners/{partner.pk}/history/?page_size=3").json()
    assert first["count"] == 7
    assert [e["changes"]["name"]["new"] for e in first["results"]] == [
        "v7",
        "v6",
        "v5",
    ]
    assert first["previous"] is None and "page=2" in first["next"]
    last = client.get(f"/api/partners/{partner.pk}/history/?page_size=3&page=3")
    assert [e["action"] for e in last.json()["results"]] == ["created"]
    assert last.json()["next"] is None


def test_history_survives_delete(api, admin_a, make_partner):
    partner = make_partner("Gone")
    client = api(admin_a)
    assert client.delete(f"/api/partners/{partner.pk}/").status_code == 204
    assert client.get(f"/api/partners/{partner.pk}/").status_code == 404
    history = client.get(f"/api/partners/{partner.pk}/history/")
    assert history.status_code == 200
    assert [e["action"] for e in history.json()["results"]] == ["deleted", "created"]


def test_other_companies_ids_are_404(api, admin_b, member_b, make_partner):
    alive = make_partner("Secret")
    deleted = make_partner("Secret, deleted")
    services.delete(deleted)
    for user in (admin_b, member_b):
        for obj in (alive, deleted):
            response = api(user).get(f"/api/partners/{obj.pk}/history/")
            assert response.status_code == 404, (user, obj)


def test_active_company_decides(api, member_a, company_b, make_partner):
    # A member of both companies sees A's history only with A active.
    Membership.objects.create(user=member_a, company=company_b, role="member")
    partner = make_partner("A's")
    client = api(member_a)
    assert client.get(f"/api/partners/{partner.pk}/history/").status_code == 200
    switched = api(member_a, company=company_b)
    assert switched.get(f"/api/partners/{partner.pk}/history/").status_code == 404


def test_unknown_and_malformed_ids_are_404(api, member_a):
    client = api(member_a)
    assert client.get("/api/partners/999999/history/").status_code == 404
    assert client.get("/api/partners/abc/history/").status_code == 404


def test_same_id_in_another_object_type_does_not_leak(api, member_a, company_a):
    # History is per object type: a contact's id reads only contact history.
    partner = services.create(Partner, data={"name": "P"}, company=company_a)
    response = api(member_a).get(f"/api/contacts/{partner.pk}/history/")
    assert response.status_code == 404


def test_a_history_page_costs_a_constant_number_of_queries(
    api, member_a, admin_a, make_partner
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    partner = make_partner("v1")
    for version in range(2, 31):  # several users, as in real history
        user = admin_a if version % 2 else member_a
        services.update(partner, data={"name": f"v{version}"}, user=user)
    client = api(member_a)

    def queries(query: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/partners/{partner.pk}/history/?{query}")
        assert response.status_code == 200
        return len(captured)

    assert queries("page_size=2") == queries("page_size=25")
    assert queries("cursor=&page_size=2") == queries("cursor=&page_size=25")


def test_unknown_parameters_are_a_400_not_ignored(api, member_a, make_partner):
    """?as_of= reads the object then; on its history it would be ignored silently
    (the whole history answered as if it were the history up to then)."""
    partner = make_partner()
    client = api(member_a)
    url = f"/api/partners/{partner.pk}/history/"
    response = client.get(url, {"as_of": "2025-01-01"})
    assert response.status_code == 400
    assert response.json() == {"as_of": ["Unknown parameter 'as_of'."]}
    assert client.get(url, {"changed_after": "2025-01-01"}).status_code == 400
    assert client.get(url, {"page_size": "1", "page": "1"}).status_code == 200
    assert client.get(url, {"cursor": "", "format": "json"}).status_code == 200
