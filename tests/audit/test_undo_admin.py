"""The admin's audit log and its "undo this request" (plan first, then undo)."""

import pytest
from django.test import Client

from businessobjects import context, services
from businessobjects.models import Partner
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def renamed(company, correlation_id: str):
    with context.use_context(correlation_id="setup"):
        partner = services.create(Partner, data={"name": "Acme"}, company=company)
    with context.use_context(correlation_id=correlation_id):
        services.update(partner, data={"name": "Renamed"})
    return partner


def test_log_links_each_request_to_its_undo(admin_a, company_a):
    renamed(company_a, "req-1")
    response = logged_in(admin_a).get("/admin/audit/log/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "req-1" in html
    assert f"/admin/audit/undo/{company_a.pk}/req-1/" in html


def test_undo_shows_the_plan_then_undoes_on_confirmation(admin_a, company_a):
    partner = renamed(company_a, "req-1")
    client = logged_in(admin_a)
    url = f"/admin/audit/undo/{company_a.pk}/req-1/"
    events = OutboxEvent.objects.count()

    plan = client.get(url)
    assert plan.status_code == 200
    html = plan.content.decode()
    assert "Renamed" in html and "Acme" in html and 'name="_undo"' in html
    partner.refresh_from_db()
    assert partner.name == "Renamed"  # showing the plan wrote nothing
    assert OutboxEvent.objects.count() == events

    done = client.post(url, {"_undo": "1"})
    assert done.status_code == 302
    partner.refresh_from_db()
    assert partner.name == "Acme"
    last = Partner.history.filter(id=partner.pk).latest("history_id")
    assert last.history_change_reason == "undo req-1"
    assert last.history_user_id == admin_a.pk
    assert OutboxEvent.objects.count() == events + 1


def test_conflicts_are_shown_and_nothing_is_undone(admin_a, company_a):
    partner = renamed(company_a, "req-1")
    with context.use_context(correlation_id="req-2"):
        services.update(partner, data={"name": "Later"})
    client = logged_in(admin_a)
    url = f"/admin/audit/undo/{company_a.pk}/req-1/"
    page = client.get(url)
    assert page.status_code == 200
    assert "req-2" in page.content.decode()
    assert 'name="_undo"' not in page.content.decode()
    client.post(url, {"_undo": "1"})
    partner.refresh_from_db()
    assert partner.name == "Later"


def test_other_companies_are_not_found(admin_b, admin_a, company_a, company_b):
    partner = renamed(company_a, "req-1")
    client = logged_in(admin_b)
    assert client.get(f"/admin/audit/undo/{company_a.pk}/req-1/").status_code == 404
    assert client.post(f"/admin/audit/undo/{company_a.pk}/req-1/").status_code == 404
    # Their own company, another company's request: not found either.
    assert client.get(f"/admin/audit/undo/{company_b.pk}/req-1/").status_code == 404
    assert client.get(f"/admin/audit/log/?company={company_a.pk}").status_code == 404
    partner.refresh_from_db()
    assert partner.name == "Renamed"


def test_members_cannot_reach_it(member_a, company_a):
    renamed(company_a, "req-1")
    response = logged_in(member_a).get(f"/admin/audit/undo/{company_a.pk}/req-1/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_log_and_plan_read_like_the_history_page(admin_a, company_a):
    """Labels, values by type and "(empty)" (audit.display), as on the history
    page: not raw keys and blank cells."""
    from extensions import services as ext

    ext.definition_create(
        company=company_a,
        model=Partner,
        name="vip",
        label="VIP customer",
        field_type="boolean",
    )
    with context.use_context(correlation_id="setup"):
        partner = services.create(Partner, data={"name": "Acme"}, company=company_a)
    with context.use_context(correlation_id="req-9"):
        services.update(partner, data={"phone": "+1 555"}, extensions={"vip": True})
    client = logged_in(admin_a)

    log = client.get("/admin/audit/log/").content.decode()
    assert "VIP customer:" in log and "Yes" in log
    assert 'title="extensions.vip"' in log
    assert "(empty)" in log  # the phone before req-9

    plan = client.get(f"/admin/audit/undo/{company_a.pk}/req-9/").content.decode()
    assert "VIP customer" in plan and "Phone" in plan
    # After the undo the phone is empty again and the flag unset: shown, not blank.
    assert plan.count("(empty)") == 2
