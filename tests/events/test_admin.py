"""The outbox in the admin: read-only, company admins see their companies only."""

import pytest
from django.contrib.auth import get_user_model

from businessobjects import services
from businessobjects.models import Partner
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(company_a, company_b):
    services.create(Partner, data={"name": "Mine"}, company=company_a)
    services.create(Partner, data={"name": "Theirs"}, company=company_b)
    return {
        "a": OutboxEvent.objects.get(company_id=company_a.pk),
        "b": OutboxEvent.objects.get(company_id=company_b.pk),
    }


URL = "/admin/events/outboxevent/"


def test_company_admin_sees_only_own_events(client, admin_a, events):
    client.force_login(admin_a)
    listing = client.get(URL)
    assert listing.status_code == 200
    ids = {e.pk for e in listing.context["cl"].result_list}
    assert ids == {events["a"].pk}
    assert client.get(f"{URL}{events['a'].pk}/change/").status_code == 200
    foreign = client.get(f"{URL}{events['b'].pk}/change/")
    assert foreign.status_code == 302  # "doesn't exist", like any missing object
    assert client.get(URL, {"state": "pending"}).status_code == 200


def test_outbox_is_read_only(client, admin_a, events):
    client.force_login(admin_a)
    assert client.get(f"{URL}add/").status_code == 403
    page = client.get(f"{URL}{events['a'].pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    response = client.post(f"{URL}{events['a'].pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert OutboxEvent.objects.filter(pk=events["a"].pk).exists()


def test_superuser_sees_all(client, events):
    root = get_user_model().objects.create_superuser("root", password="pw-123456")
    client.force_login(root)
    listing = client.get(URL)
    assert {e.pk for e in listing.context["cl"].result_list} == {
        events["a"].pk,
        events["b"].pk,
    }


def test_members_have_no_access(client, make_user, company_a, events):
    member = make_user("staff_member", company_a, is_staff=True)
    client.force_login(member)
    assert client.get(URL).status_code == 403
