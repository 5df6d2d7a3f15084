"""SQL statements per API request, pinned: a change that adds a round trip to a
create, an update or a list page fails here (docs/performance.md).

Counted as production runs them: token authentication with ``X-Company-ID``,
audit and events on, each request in its own transaction (``transaction=True``,
so BEGIN and COMMIT are real), a decimal custom field on every partner. The
counts are the statements Django sends, BEGIN and COMMIT included; the
hand-written Django/DRF app of ``bench http`` needs 7 for a create, 8 for an
update and 4 for a list page.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from businessobjects import services
from businessobjects.models import Partner
from extensions.services import definition_create

pytestmark = pytest.mark.django_db(transaction=True)

# token + user + membership; BEGIN; partner; its history; value; its history;
# outbox event with its position; COMMIT
CREATE = 8
# token + user + membership; BEGIN; partner FOR UPDATE; its values; UPDATE; history;
# outbox event with its position; COMMIT
UPDATE = 8
# token + user + membership; BEGIN; the index walk's SET LOCAL; COUNT; page;
# COMMIT; the page's values
LIST_PAGE_NUMBERS = 7
LIST_CURSOR = LIST_PAGE_NUMBERS - 1  # no COUNT


@pytest.fixture
def client(member_a, company_a):
    definition_create(
        company=company_a,
        model="partner",
        name="credit_limit",
        field_type="decimal",
        decimal_places=2,
    )
    token = Token.objects.create(user=member_a)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_X_COMPANY_ID=str(company_a.pk)
    )
    return client


def statements(send) -> list[str]:
    send()  # the first request may fill caches (definitions, content types)
    with CaptureQueriesContext(connection) as queries:
        response = send()
    assert response.status_code < 300, response.content
    return [q["sql"] for q in queries.captured_queries]


def test_create(client):
    body = {"name": "P", "extensions": {"credit_limit": "12.50"}}
    sent = statements(lambda: client.post("/api/partners/", body, format="json"))
    assert len(sent) == CREATE, "\n".join(sent)
    assert sent[1] == "BEGIN" and sent[-1] == "COMMIT"


def test_update(client, company_a):
    partner = services.create(
        Partner,
        data={"name": "P"},
        extensions={"credit_limit": "1.00"},
        company=company_a,
    )
    counter = iter(range(100))
    sent = statements(
        lambda: client.patch(
            f"/api/partners/{partner.pk}/",
            {"name": f"U{next(counter)}"},
            format="json",
        )
    )
    assert len(sent) == UPDATE, "\n".join(sent)
    assert sent[-1] == "COMMIT"


@pytest.mark.parametrize(
    "query, expected",
    [("", LIST_PAGE_NUMBERS), ("&cursor=", LIST_CURSOR)],
    ids=["page numbers", "cursor"],
)
def test_filtered_list(client, company_a, query, expected):
    services.bulk_create(
        Partner,
        rows=[
            {"name": f"P{i}", "extensions": {"credit_limit": f"{i}.00"}}
            for i in range(60)
        ],
        company=company_a,
    )
    url = f"/api/partners/?ext__credit_limit__gte=10{query}"
    sent = statements(lambda: client.get(url))
    assert len(sent) == expected, "\n".join(sent)


def test_list_statements_do_not_grow_with_the_page(client, company_a):
    services.bulk_create(
        Partner,
        rows=[
            {"name": f"P{i}", "extensions": {"credit_limit": f"{i}.00"}}
            for i in range(60)
        ],
        company=company_a,
    )
    small = statements(lambda: client.get("/api/partners/?page_size=2"))
    large = statements(lambda: client.get("/api/partners/?page_size=50"))
    assert len(small) == len(large)
