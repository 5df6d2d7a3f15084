"""Token authentication reads the active company's membership in the same query,
and never serves a stale one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from businessobjects.models import Membership

pytestmark = pytest.mark.django_db

URL = "/api/partners/"


def token_client(user, **headers) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}", **headers)
    return client


def membership_reads(queries) -> list[str]:
    table = Membership._meta.db_table
    return [q["sql"] for q in queries if f'FROM "{table}"' in q["sql"]]


@pytest.mark.parametrize("with_header", [True, False])
def test_the_membership_comes_with_the_token(member_a, company_a, with_header):
    headers = {"HTTP_X_COMPANY_ID": str(company_a.pk)} if with_header else {}
    client = token_client(member_a, **headers)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    assert membership_reads(queries) == []
    token_query = queries.captured_queries[0]["sql"]
    assert "authtoken_token" in token_query and "membership" in token_query


def test_a_removed_membership_is_refused_on_the_next_request(member_a, company_a):
    client = token_client(member_a, HTTP_X_COMPANY_ID=str(company_a.pk))
    assert client.get(URL).status_code == 200
    Membership.objects.filter(user=member_a, company=company_a).delete()
    assert client.get(URL).status_code == 403


def test_a_role_change_applies_on_the_next_request(member_a, company_a):
    client = token_client(member_a, HTTP_X_COMPANY_ID=str(company_a.pk))
    body = {"name": "vip", "label": "VIP", "field_type": "string"}
    fields = "/api/custom-fields/"
    assert (
        client.post(fields, {**body, "model": "partner"}, format="json").status_code
        == 403
    )
    Membership.objects.filter(user=member_a).update(role="admin")
    response = client.post(fields, {**body, "model": "partner"}, format="json")
    assert response.status_code == 201


def test_another_companys_header_is_403(member_a, company_b):
    client = token_client(member_a, HTTP_X_COMPANY_ID=str(company_b.pk))
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("header, status", [("abc", 400), ("", 400), ("-1", 403)])
def test_a_malformed_header_is_still_refused(member_a, header, status):
    client = token_client(member_a, HTTP_X_COMPANY_ID=header)
    response = client.get(URL)
    assert response.status_code == status
    if status == 400:
        assert "X-Company-ID" in response.json()


def test_without_a_default_membership_the_first_one_applies(
    make_user, company_a, company_b
):
    user = make_user("two_companies")
    Membership.objects.create(user=user, company=company_b)
    Membership.objects.create(user=user, company=company_a)
    response = token_client(user).get("/api/companies/")
    assert response.status_code == 200
    created = token_client(user).post(URL, {"name": "Here"}, format="json")
    assert created.status_code == 201
    assert created.json()["company"] == company_b.pk


def test_a_superuser_acts_in_any_company(make_user, company_b):
    root = make_user("root", is_superuser=True, is_staff=True)
    client = token_client(root, HTTP_X_COMPANY_ID=str(company_b.pk))
    assert client.get(URL).status_code == 200


def test_bad_and_inactive_tokens_are_401(member_a, company_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert client.get(URL).status_code == 401
    client = token_client(member_a)
    member_a.is_active = False
    member_a.save()
    response = client.get(URL)
    assert response.status_code == 401
    assert "inactive" in response.json()["detail"].lower()
