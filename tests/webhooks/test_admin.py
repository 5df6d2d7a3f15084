"""Endpoints and deliveries in the admin: company admins see their companies only,
writes go through the services (URL check, fresh secret shown once)."""

import pytest

from webhooks.models import Delivery, Endpoint

from .test_delivery import pump

pytestmark = pytest.mark.django_db

URL = "/admin/webhooks/endpoint/"
PUBLIC = "http://93.184.216.34/hook"


def form(company, **values):
    data = {
        "company": company.pk,
        "url": PUBLIC,
        "event_types": '["partner.*"]',
        "changed_fields": "null",
        "is_active": "on",
        "description": "",
    }
    data.update(values)
    return data


def test_a_company_admin_creates_an_endpoint_and_sees_the_secret_once(
    client, admin_a, company_a
):
    client.force_login(admin_a)
    response = client.post(f"{URL}add/", form(company_a), follow=True)
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.company == company_a and endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.content.decode()
    page = client.get(f"{URL}{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page


def test_the_admin_refuses_private_urls_and_bad_event_types(client, admin_a, company_a):
    client.force_login(admin_a)
    response = client.post(
        f"{URL}add/", form(company_a, url="http://10.0.0.1/", event_types='["x"]')
    )
    assert response.status_code == 200  # the form again, with errors
    errors = response.context["adminform"].form.errors
    assert "a private address" in errors["url"][0]
    assert not Endpoint.objects.exists()


def test_company_admins_see_only_their_companies(
    client, admin_a, company_a, company_b, make_endpoint, make_partner
):
    mine = make_endpoint(company_a)
    theirs = make_endpoint(company_b)
    make_partner(company_a)
    make_partner(company_b)
    pump()
    client.force_login(admin_a)
    listing = client.get(URL)
    assert [e.pk for e in listing.context["cl"].result_list] == [mine.pk]
    assert client.get(f"{URL}{theirs.pk}/change/").status_code == 302
    # Another company is not offered.
    add = client.get(f"{URL}add/").context["adminform"].form
    assert list(add.fields["company"].queryset) == [company_a]
    deliveries = client.get("/admin/webhooks/delivery/")
    rows = deliveries.context["cl"].result_list
    assert {d.company_id for d in rows} == {company_a.pk}
    other = Delivery.objects.get(company=company_b)
    assert client.get(f"/admin/webhooks/delivery/{other.pk}/change/").status_code == 302


def test_rotate_and_replay_actions(
    client, admin_a, company_a, make_endpoint, make_partner, receiver
):
    endpoint = make_endpoint(company_a)
    make_partner(company_a)
    pump()
    client.force_login(admin_a)
    response = client.post(
        URL,
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert endpoint.secret in response.content.decode()
    assert endpoint.previous_secret_expires_at is not None
    row = Delivery.objects.get()
    client.post(
        "/admin/webhooks/delivery/",
        {"action": "replay", "_selected_action": [row.pk]},
    )
    row.refresh_from_db()
    assert row.state == "pending" and row.attempts == 0
