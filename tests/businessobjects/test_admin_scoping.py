"""Admin company scoping is written once and looks memberships up once a request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from businessobjects import services
from businessobjects.models import Partner

pytestmark = pytest.mark.django_db


def _membership_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if '"businessobjects_membership"' in q["sql"]]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/businessobjects/partner/",
        "/admin/events/outboxevent/",
        "/admin/extensions/fielddefinition/",
    ],
)
def test_admin_pages_look_memberships_up_once(client, admin_a, company_a, path):
    services.create(Partner, data={"name": "Alpha"}, company=company_a)
    client.force_login(admin_a)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    assert len(_membership_queries(queries.captured_queries)) == 1


def test_history_page_scoped_with_one_lookup(client, admin_a, company_a):
    partner = services.create(Partner, data={"name": "Alpha"}, company=company_a)
    client.force_login(admin_a)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/admin/businessobjects/partner/{partner.pk}/history/")
    assert page.status_code == 200
    assert len(_membership_queries(queries.captured_queries)) == 1


def test_scoping_is_one_mixin():
    from audit.admin import BusinessObjectHistoryAdmin
    from businessobjects.admin import CompanyScopedAdmin
    from businessobjects.admin_scoping import CompanyScopedAdminMixin
    from events.admin import OutboxEventAdmin
    from extensions.admin import FieldDefinitionAdmin

    for admin_class in (CompanyScopedAdmin, OutboxEventAdmin, FieldDefinitionAdmin):
        assert issubclass(admin_class, CompanyScopedAdminMixin)
    # The history admin filters by company through the same request memo.
    assert BusinessObjectHistoryAdmin.__module__ == "audit.admin"
