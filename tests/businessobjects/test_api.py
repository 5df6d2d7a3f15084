import pytest
from rest_framework.authtoken.models import Token

from businessobjects import services
from businessobjects.models import Address, Contact, Partner

pytestmark = pytest.mark.django_db


def make_partner(company, user=None, **data):
    return services.create(
        Partner, data={"name": "P", **data}, company=company, user=user
    )


def test_token_auth_roundtrip(client, admin_a):
    response = client.post(
        "/api/auth/token/",
        {"username": "admin_a", "password": "pw-123456"},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=admin_a).key == token
    listing = client.get("/api/partners/", HTTP_AUTHORIZATION=f"Token {token}")
    assert listing.status_code == 200


def test_token_auth_bad_credentials(client, admin_a):
    response = client.post(
        "/api/auth/token/",
        {"username": "admin_a", "password": "wrong"},
        content_type="application/json",
    )
    assert response.status_code == 400


def test_anonymous_is_refused(api):
    assert api().get("/api/partners/").status_code == 401


def test_create_and_read_partner(api, member_a, company_a):
    client = api(member_a)
    response = client.post(
        "/api/partners/",
        {"name": "Acme", "email": "a@acme.test", "is_active": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["company"] == company_a.pk
    assert body["version"] == 1
    assert body["extensions"] == {}
    assert set(body) >= {"id", "created_at", "updated_at", "name", "email", "phone"}
    partner = Partner.objects.get(pk=body["id"])
    assert partner.created_by == member_a
    assert client.get(f"/api/partners/{partner.pk}/").json()["name"] == "Acme"


@pytest.mark.parametrize("plural", ["partners", "addresses", "contacts", "products"])
def test_other_company_sees_nothing(api, plural, member_a, member_b, company_a):
    partner = make_partner(company_a, name="Secret A")
    objects = {
        "partners": partner,
        "addresses": services.create(
            Address, data={"partner": partner.pk, "city": "Berlin"}, company=company_a
        ),
        "contacts": services.create(
            Contact, data={"partner": partner.pk, "name": "Ann"}, company=company_a
        ),
    }
    if plural == "products":
        from tests.testapp.models import Product

        objects["products"] = services.create(
            Product, data={"sku": "X1", "name": "Widget"}, company=company_a
        )
    obj = objects[plural]
    client_b = api(member_b)
    listing = client_b.get(f"/api/{plural}/")
    assert listing.status_code == 200
    assert listing.json()["count"] == 0
    for method in ("get", "put", "patch", "delete"):
        response = getattr(client_b, method)(
            f"/api/{plural}/{obj.pk}/", {"name": "x"}, format="json"
        )
        assert response.status_code == 404, (method, response.content)
    assert client_b.get(f"/api/{plural}/{obj.pk}/history/").status_code == 404
    # Company A's member sees it.
    assert api(member_a).get(f"/api/{plural}/").json()["count"] >= 1
    obj.refresh_from_db()
    assert obj.version == 1


def test_foreign_company_header_is_403(api, member_a, company_b):
    response = api(member_a, company=company_b).get("/api/partners/")
    assert response.status_code == 403


def test_unknown_company_header_is_403(api, member_a):
    response = api(member_a).get("/api/partners/", HTTP_X_COMPANY_ID="999999")
    assert response.status_code == 403


def test_malformed_company_header_is_400(api, member_a):
    response = api(member_a).get("/api/partners/", HTTP_X_COMPANY_ID="abc")
    assert response.status_code == 400
    assert "X-Company-ID" in response.json()


def test_user_without_company_is_400(api, make_user):
    loner = make_user("loner")
    response = api(loner).get("/api/partners/")
    assert response.status_code == 400


def test_header_selects_second_membership(api, member_a, company_b):
    from businessobjects.models import Membership

    Membership.objects.create(user=member_a, company=company_b, role="member")
    make_partner(company_b, name="B partner")
    response = api(member_a, company=company_b).get("/api/partners/")
    assert [p["name"] for p in response.json()["results"]] == ["B partner"]
    assert api(member_a).get("/api/partners/").json()["count"] == 0


def test_companies_endpoint_lists_own_companies(api, member_a, company_a, company_b):
    response = api(member_a).get("/api/companies/")
    assert response.status_code == 200
    assert response.json() == [
        {"id": company_a.pk, "name": "Company A", "role": "member", "is_default": True}
    ]


def test_optimistic_lock_conflict(api, member_a, company_a):
    partner = make_partner(company_a, name="Old")
    client = api(member_a)
    ok = client.patch(
        f"/api/partners/{partner.pk}/", {"name": "New", "version": 1}, format="json"
    )
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    stale = client.patch(
        f"/api/partners/{partner.pk}/", {"name": "Stale", "version": 1}, format="json"
    )
    assert stale.status_code == 409
    assert "version" in stale.json()
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("New", 2)


def test_put_with_stale_version_is_409(api, member_a, company_a):
    partner = make_partner(company_a, name="Old")
    services.update(partner, data={"name": "Newer"})
    response = api(member_a).put(
        f"/api/partners/{partner.pk}/",
        {"name": "Mine", "email": "", "phone": "", "is_active": True, "version": 1},
        format="json",
    )
    assert response.status_code == 409
    partner.refresh_from_db()
    assert partner.name == "Newer"


def test_pagination_is_capped(api, member_a, company_a, settings):
    settings.MERP = {**settings.MERP, "MAX_PAGE_SIZE": 5, "PAGE_SIZE": 3}
    services.bulk_create(
        Partner, rows=[{"name": f"P{i}"} for i in range(12)], company=company_a
    )
    client = api(member_a)
    default = client.get("/api/partners/").json()
    assert (default["count"], len(default["results"])) == (12, 3)
    capped = client.get("/api/partners/?page_size=1000").json()
    assert len(capped["results"]) == 5
    assert capped["next"] is not None


@pytest.mark.parametrize(
    "query",
    ["page_size=-1", "page_size=0", "page_size=abc"],
)
def test_bad_page_size_is_a_400_naming_it(api, member_a, company_a, query):
    # Issue 7: a page size we cannot apply is refused, not silently replaced.
    make_partner(company_a)
    response = api(member_a).get(f"/api/partners/?{query}")
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_page_out_of_range_is_404(api, member_a, company_a):
    assert api(member_a).get("/api/partners/?page=99").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 300}, "name"),
        ({"name": "ok", "email": "not-an-email"}, "email"),
        ({"name": "ok", "is_active": "maybe"}, "is_active"),
        ({"name": "ok", "extensions": "nope"}, "extensions"),
        ({"name": "ok", "version": "abc"}, "version"),
    ],
)
def test_bad_input_is_400_naming_the_field(api, member_a, payload, field):
    response = api(member_a).post("/api/partners/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Partner.objects.count() == 0


def test_malformed_json_is_400(api, member_a):
    response = api(member_a).post(
        "/api/partners/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert Partner.objects.count() == 0


def test_partner_of_other_company_is_refused(api, member_a, company_b):
    foreign = make_partner(company_b, name="B")
    response = api(member_a).post(
        "/api/addresses/", {"partner": foreign.pk, "city": "X"}, format="json"
    )
    assert response.status_code == 400
    assert "partner" in response.json()
    assert Address.objects.count() == 0


def test_unknown_filter_is_400(api, member_a):
    response = api(member_a).get("/api/partners/?colour=red")
    assert response.status_code == 400
    assert "colour" in response.json()


def test_bad_ordering_is_400(api, member_a):
    response = api(member_a).get("/api/partners/?ordering=password")
    assert response.status_code == 400
    assert "ordering" in response.json()


def test_filters_search_and_ordering(api, member_a, company_a):
    for name, active in [("Bravo", True), ("Alpha", False), ("Charlie", True)]:
        make_partner(company_a, name=name, is_active=active, email=f"{name}@x.test")
    client = api(member_a)
    active = client.get("/api/partners/?is_active=true&ordering=name").json()
    assert [p["name"] for p in active["results"]] == ["Bravo", "Charlie"]
    found = client.get("/api/partners/?search=alpha@").json()
    assert [p["name"] for p in found["results"]] == ["Alpha"]
    desc = client.get("/api/partners/?ordering=-name").json()
    assert [p["name"] for p in desc["results"]] == ["Charlie", "Bravo", "Alpha"]


def test_field_filters(api, member_a, company_a):
    acme, other = make_partner(company_a, name="Acme"), make_partner(company_a)
    for partner, city in [(acme, "Lyon"), (other, "Nice")]:
        data = {"partner": partner.pk, "city": city}
        services.create(Address, data=data, company=company_a)
    client = api(member_a)
    found = client.get(f"/api/addresses/?partner={acme.pk}").json()["results"]
    assert [a["city"] for a in found] == ["Lyon"]
    assert client.get("/api/addresses/?city=Nice").json()["count"] == 1


def test_boolean_field_filter(api, member_a, company_a):
    make_partner(company_a, name="On")
    make_partner(company_a, name="Off", is_active=False)
    found = api(member_a).get("/api/partners/?is_active=false").json()["results"]
    assert [p["name"] for p in found] == ["Off"]


def test_delete_partner(api, member_a, company_a):
    partner = make_partner(company_a)
    assert api(member_a).delete(f"/api/partners/{partner.pk}/").status_code == 204
    assert not Partner.objects.filter(pk=partner.pk).exists()


def test_delete_referenced_partner_is_409(api, member_a, company_a):
    partner = make_partner(company_a)
    services.create(Address, data={"partner": partner.pk}, company=company_a)
    response = api(member_a).delete(f"/api/partners/{partner.pk}/")
    assert response.status_code == 409
    assert Partner.objects.filter(pk=partner.pk).exists()


def test_correlation_id_is_echoed_or_made(api, member_a):
    client = api(member_a)
    given = client.get("/api/partners/", HTTP_X_CORRELATION_ID="req-42")
    assert given["X-Correlation-ID"] == "req-42"
    made = client.get("/api/partners/")
    assert len(made["X-Correlation-ID"]) == 36


def test_schema_and_docs(api, member_a):
    client = api(member_a)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/partners/", "/api/addresses/{id}/", "/api/companies/"):
        assert path in paths
    assert client.get("/api/docs/").status_code == 200
