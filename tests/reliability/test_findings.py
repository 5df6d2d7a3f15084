"""Deterministic regressions for findings of the randomized suites."""

import pytest

from businessobjects import services
from businessobjects.models import Contact, Partner

pytestmark = pytest.mark.django_db


def test_deleting_a_partner_referenced_by_contacts_is_a_409(tenants, client_for):
    # Found by the isolation state machine: Contact's default verbose_name_plural
    # is a lazy string, and joining it raised TypeError (a 500).
    company = tenants[0].company
    partner = services.create(Partner, data={"name": "P"}, company=company)
    services.create(Contact, data={"partner": partner.pk, "name": "C"}, company=company)

    response = client_for(tenants[0].member).delete(f"/api/partners/{partner.pk}/")

    assert response.status_code == 409
    assert "contacts" in response.json()["detail"]
    assert Partner.objects.filter(pk=partner.pk).exists()
