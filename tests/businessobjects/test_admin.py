import pytest

from businessobjects import services
from businessobjects.models import Partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def partners(company_a, company_b):
    return (
        services.create(Partner, data={"name": "Alpha Visible"}, company=company_a),
        services.create(Partner, data={"name": "Beta Hidden"}, company=company_b),
    )


def test_company_admin_sees_only_own_rows(client, admin_a, partners):
    client.force_login(admin_a)
    page = client.get("/admin/businessobjects/partner/")
    assert page.status_code == 200
    assert b"Alpha Visible" in page.content
    assert b"Beta Hidden" not in page.content
    foreign = client.get(f"/admin/businessobjects/partner/{partners[1].pk}/change/")
    assert foreign.status_code in (302, 404)


def test_member_cannot_use_admin(client, member_a, partners):
    client.force_login(member_a)
    assert client.get("/admin/businessobjects/partner/").status_code == 302


def test_admin_change_goes_through_services(client, admin_a, partners):
    client.force_login(admin_a)
    partner = partners[0]
    response = client.post(
        f"/admin/businessobjects/partner/{partner.pk}/change/",
        {"name": "Renamed", "email": "", "phone": "", "is_active": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("Renamed", 2)
    record = partner.history.first()
    assert record.history_user == admin_a
    assert record.changes == {"name": {"old": "Alpha Visible", "new": "Renamed"}}


def test_admin_add_goes_through_services(client, admin_a, company_a):
    client.force_login(admin_a)
    response = client.post(
        "/admin/businessobjects/partner/add/",
        {"company": company_a.pk, "name": "Added", "email": "", "phone": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    partner = Partner.objects.get(name="Added")
    assert partner.company == company_a and partner.created_by == admin_a
    assert partner.history.get().history_type == "+"


def test_admin_cannot_add_to_foreign_company(client, admin_a, company_b):
    client.force_login(admin_a)
    response = client.post(
        "/admin/businessobjects/partner/add/",
        {"company": company_b.pk, "name": "Sneaky", "email": "", "phone": ""},
    )
    assert response.status_code == 200  # form error, nothing saved
    assert not Partner.objects.filter(name="Sneaky").exists()


def test_admin_delete_goes_through_services(client, admin_a, partners):
    client.force_login(admin_a)
    partner = partners[0]
    response = client.post(
        f"/admin/businessobjects/partner/{partner.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Partner.objects.filter(pk=partner.pk).exists()
    assert Partner.history.filter(id=partner.pk, history_type="-").exists()


def test_session_auth_works_for_api(client, member_a):
    client.force_login(member_a)
    assert client.get("/api/partners/").status_code == 200
