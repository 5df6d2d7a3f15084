"""GET /api/audit/: the active company's log across object types, company admins
only, with filters, newest first, paginated."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from businessobjects import services
from businessobjects.context import use_context
from businessobjects.models import Contact, Membership, Partner
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db

LOG_KEYS = {
    "version",
    "history_id",
    "object_type",
    "object_id",
    "action",
    "changed_at",
    "user",
    "correlation_id",
    "reason",
    "changes",
}


@pytest.fixture
def activity(company_a, company_b, admin_a, member_a):
    """Interleaved writes to three object types in A, and one in B."""
    with use_context(user=admin_a, company=company_a, correlation_id="c-partner"):
        partner = services.create(Partner, data={"name": "P"}, reason="new client")
    with use_context(user=member_a, company=company_a, correlation_id="c-contact"):
        contact = services.create(Contact, data={"partner": partner.pk, "name": "C"})
    with use_context(user=admin_a, company=company_a, correlation_id="c-product"):
        product = services.create(Product, data={"sku": "S", "name": "Sprocket"})
        services.update(partner, data={"name": "P2"})
        services.delete(contact)
    services.create(Partner, data={"name": "B's"}, company=company_b)
    return {"partner": partner, "contact": contact, "product": product}


def log(client, query: str = ""):
    return client.get(f"/api/audit/{query}")


def test_newest_first_across_types(api, admin_a, activity):
    body = log(api(admin_a)).json()
    assert body["count"] == 5
    entries = body["results"]
    assert set(entries[0]) == LOG_KEYS
    assert [(e["object_type"], e["action"]) for e in entries] == [
        ("contact", "deleted"),
        ("partner", "updated"),
        ("product", "created"),
        ("contact", "created"),
        ("partner", "created"),
    ]
    oldest = entries[-1]
    assert oldest["object_id"] == activity["partner"].pk
    assert (oldest["user"], oldest["reason"]) == ("admin_a", "new client")
    assert oldest["correlation_id"] == "c-partner"
    assert oldest["changes"]["name"] == {"old": None, "new": "P"}
    assert entries[3]["user"] == "member_a" and entries[3]["reason"] is None


def test_pages_are_consistent(api, admin_a, activity):
    client = api(admin_a)
    everything = [e for e in log(client).json()["results"]]
    paged = []
    for page in (1, 2, 3):
        body = log(client, f"?page_size=2&page={page}").json()
        assert body["count"] == 5
        paged += body["results"]
    assert paged == everything
    assert log(client, "?page_size=2&page=4").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?object_type=partner", [("partner", "updated"), ("partner", "created")]),
        (
            "?object_type=contact,product",
            [("contact", "deleted"), ("product", "created"), ("contact", "created")],
        ),
        ("?user=member_a", [("contact", "created")]),
        (
            "?correlation_id=c-product",
            [("contact", "deleted"), ("partner", "updated"), ("product", "created")],
        ),
        ("?action=deleted", [("contact", "deleted")]),
        ("?action=created&object_type=partner", [("partner", "created")]),
        ("?user=nobody", []),
    ],
)
def test_filters(api, admin_a, activity, query, expected):
    body = log(api(admin_a), query).json()
    assert [(e["object_type"], e["action"]) for e in body["results"]] == expected
    assert body["count"] == len(expected)


def test_filter_by_object_and_user_id(api, admin_a, member_a, activity):
    client = api(admin_a)
    pk = activity["partner"].pk
    entries = log(client, f"?object_type=partner&object_id={pk}").json()["results"]
    assert [e["action"] for e in entries] == ["updated", "created"]
    entries = log(client, f"?user_id={member_a.pk}").json()["results"]
    assert [(e["object_type"], e["user"]) for e in entries] == [("contact", "member_a")]


def test_date_range(api, admin_a, activity):
    # Move the partner's creation back in time (history rows, not business rows).
    Partner.history.filter(history_type="+").update(
        history_date=timezone.now() - timedelta(days=10)
    )
    client = api(admin_a)
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    recent = log(client, f"?changed_after={week_ago}").json()
    assert recent["count"] == 4
    assert ("partner", "created") not in {
        (e["object_type"], e["action"]) for e in recent["results"]
    }
    old = log(client, f"?changed_before={week_ago}").json()
    assert [(e["object_type"], e["action"]) for e in old["results"]] == [
        ("partner", "created")
    ]
    moment = (timezone.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert log(client, f"?changed_after={moment}").json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?object_type=invoice", "object_type"),
        ("?object_id=abc", "object_id"),
        ("?user_id=-1", "user_id"),
        ("?action=archived", "action"),
        ("?changed_after=yesterday", "changed_after"),
        ("?changed_before=2025-13-45", "changed_before"),
        ("?colour=red", "colour"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(api, admin_a, query, field):
    response = log(api(admin_a), query)
    assert response.status_code == 400
    assert field in response.json()


def test_company_admins_only(api, admin_a, member_a, make_user, activity):
    assert log(api(member_a)).status_code == 403
    assert log(api()).status_code == 401
    root = make_user("root", is_superuser=True, is_staff=True)
    assert log(api(root, company=activity["partner"].company)).json()["count"] == 5


def test_scoped_to_the_active_company(api, admin_a, admin_b, company_b, activity):
    assert log(api(admin_b)).json()["count"] == 1
    # admin_a is only a member in B: the log of B is refused, A's is never shown.
    Membership.objects.create(user=admin_a, company=company_b, role="member")
    assert log(api(admin_a, company=company_b)).status_code == 403
    Membership.objects.filter(user=admin_a, company=company_b).update(role="admin")
    entries = log(api(admin_a, company=company_b)).json()["results"]
    assert [e["changes"]["name"]["new"] for e in entries] == ["B's"]
    # Filtering by another company's object id finds nothing.
    pk = activity["partner"].pk
    assert log(api(admin_b), f"?object_type=partner&object_id={pk}").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_constant_number_of_queries(api, admin_a, member_a, company_a, activity):
    client = api(admin_a)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert log(client, "?page_size=100").status_code == 200
        return len(captured)

    before = queries()
    for i in range(15):
        with use_context(user=member_a if i % 2 else admin_a, company=company_a):
            services.create(Partner, data={"name": f"N{i}"})
    assert queries() == before
