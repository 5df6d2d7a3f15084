"""Change reasons: reason= on the services, the context, the X-Change-Reason header."""

import pytest
from django.core.exceptions import ValidationError

from businessobjects import services
from businessobjects.context import MAX_REASON_LENGTH, change_reason
from businessobjects.models import Partner

pytestmark = pytest.mark.django_db


def test_explicit_reason_wins_over_the_context(make_partner):
    partner = make_partner("A")
    with change_reason("context reason"):
        services.update(partner, data={"name": "B"}, reason="explicit")
        services.update(partner, data={"name": "C"})
    services.update(partner, data={"name": "D"})
    assert [r.history_change_reason for r in partner.history.all()] == [
        None,
        "context reason",
        "explicit",
        None,
    ]


def test_reason_is_not_reused_by_a_later_save(make_partner):
    partner = make_partner("A")
    services.update(partner, data={"name": "B"}, reason="once")
    partner.name = "C"
    partner.save()  # a later save outside the services carries no stale reason
    assert partner.history.first().history_change_reason is None


def test_too_long_reason_is_refused_before_writing(make_partner):
    partner = make_partner("A")
    with pytest.raises(ValidationError) as info:
        services.update(
            partner, data={"name": "B"}, reason="x" * (MAX_REASON_LENGTH + 1)
        )
    assert "reason" in info.value.message_dict
    partner.refresh_from_db()
    assert (partner.name, partner.history.count()) == ("A", 1)


def test_blank_reason_is_none(make_partner):
    partner = make_partner("A")
    services.update(partner, data={"name": "B"}, reason="   ")
    assert partner.history.first().history_change_reason is None


def test_header_percent_encoded_utf8(api, admin_a):
    response = api(admin_a).post(
        "/api/partners/",
        {"name": "A"},
        format="json",
        HTTP_X_CHANGE_REASON="Preis%20f%C3%BCr%202025, 50% off",
    )
    record = Partner.history.get(id=response.json()["id"])
    assert record.history_change_reason == "Preis für 2025, 50% off"


def test_too_long_header_is_400_and_writes_nothing(api, admin_a):
    response = api(admin_a).post(
        "/api/partners/",
        {"name": "A"},
        format="json",
        HTTP_X_CHANGE_REASON="x" * (MAX_REASON_LENGTH + 1),
    )
    assert response.status_code == 400
    assert "X-Change-Reason" in response.json()
    assert not Partner.objects.exists()


def test_header_does_not_leak_into_the_next_request(api, admin_a):
    client = api(admin_a)
    client.post(
        "/api/partners/", {"name": "A"}, format="json", HTTP_X_CHANGE_REASON="first"
    )
    client.post("/api/partners/", {"name": "B"}, format="json")
    assert Partner.history.get(name="B").history_change_reason is None
