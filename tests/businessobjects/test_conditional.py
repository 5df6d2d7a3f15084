"""Conditional requests: ETag, If-Match (412) and If-None-Match (304)."""

import pytest

from businessobjects import services
from businessobjects.models import Partner
from events.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner(company_a):
    # Version 2, so that a stale "1" and the current "2" differ.
    partner = services.create(Partner, data={"name": "Old"}, company=company_a)
    return services.update(partner, data={"name": "Current"})


def url(partner) -> str:
    return f"/api/partners/{partner.pk}/"


def test_every_object_response_carries_the_version_as_strong_etag(
    api, member_a, partner
):
    client = api(member_a)
    assert client.get(url(partner))["ETag"] == '"2"'
    created = client.post("/api/partners/", {"name": "New"}, format="json")
    assert created.status_code == 201
    assert created["ETag"] == '"1"'
    patched = client.patch(url(partner), {"name": "Patched"}, format="json")
    assert patched["ETag"] == '"3"'
    put = client.put(url(partner), {"name": "Put"}, format="json")
    assert put.status_code == 200
    assert put["ETag"] == '"4"' == f'"{put.json()["version"]}"'
    # Lists and histories are not one object: no ETag.
    assert "ETag" not in client.get("/api/partners/")
    assert "ETag" not in client.get(f"{url(partner)}history/")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_if_match_current_version_writes(api, member_a, partner, method):
    response = getattr(api(member_a), method)(
        url(partner), {"name": "Mine"}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"3"'
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("Mine", 3)


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
@pytest.mark.parametrize("header", ['"1"', '"1", "7"', 'W/"2"', '"abc"'])
def test_if_match_mismatch_is_412_and_changes_nothing(
    api, member_a, partner, method, header
):
    # A weak validator never matches If-Match (strong comparison, RFC 9110 13.1.1).
    events = OutboxEvent.objects.count()
    body = {"name": "Mine"} if method != "delete" else None
    response = getattr(api(member_a), method)(
        url(partner), body, format="json", HTTP_IF_MATCH=header
    )
    assert response.status_code == 412, response.content
    assert response.json()["current_version"] == 2
    assert response["ETag"] == '"2"'
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("Current", 2)
    assert OutboxEvent.objects.count() == events


def test_if_match_list_and_star_match(api, member_a, partner):
    client = api(member_a)
    listed = client.patch(
        url(partner), {"name": "A"}, format="json", HTTP_IF_MATCH='"9", "2"'
    )
    assert listed.status_code == 200
    star = client.patch(url(partner), {"name": "B"}, format="json", HTTP_IF_MATCH="*")
    assert star.status_code == 200
    assert client.delete(url(partner), HTTP_IF_MATCH="*").status_code == 204
    assert not Partner.objects.filter(pk=partner.pk).exists()


def test_if_match_current_version_deletes(api, member_a, partner):
    response = api(member_a).delete(url(partner), HTTP_IF_MATCH='"2"')
    assert response.status_code == 204
    assert not Partner.objects.filter(pk=partner.pk).exists()


def test_if_match_on_another_company_object_is_404(api, member_b, partner):
    response = api(member_b).delete(url(partner), HTTP_IF_MATCH="*")
    assert response.status_code == 404
    assert Partner.objects.filter(pk=partner.pk).exists()


@pytest.mark.parametrize("header", ["2", '"2', "W/2", '"2" "3"'])
def test_malformed_if_match_is_400_naming_the_header(api, member_a, partner, header):
    response = api(member_a).patch(
        url(partner), {"name": "Mine"}, format="json", HTTP_IF_MATCH=header
    )
    assert response.status_code == 400
    assert "If-Match" in response.json()
    partner.refresh_from_db()
    assert partner.version == 2


def test_if_match_is_checked_under_the_row_lock(api, member_a, partner, monkeypatch):
    # Someone else writes before the view reads the object: the view reads it
    # locked, in the write's transaction, so the check sees that write (and
    # nobody can write between the check and the update).
    from businessobjects.api.views import BusinessObjectViewSet

    original = BusinessObjectViewSet.get_object

    def read_after_concurrent_write(self):
        monkeypatch.setattr(BusinessObjectViewSet, "get_object", original)
        services.update(Partner.objects.get(pk=partner.pk), data={"name": "Theirs"})
        return original(self)

    monkeypatch.setattr(
        BusinessObjectViewSet, "get_object", read_after_concurrent_write
    )
    response = api(member_a).patch(
        url(partner), {"name": "Mine"}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert response.status_code == 412
    assert response.json()["current_version"] == 3
    # The other write stays; the refused one changed nothing.
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("Theirs", 3)


def test_an_update_reads_its_object_once_locked_in_its_transaction(
    api, member_a, partner
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    table = Partner._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        response = api(member_a).patch(
            url(partner), {"name": "Mine"}, format="json", HTTP_IF_MATCH='"2"'
        )
    assert response.status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    reads = [
        i
        for i, sql in enumerate(statements)
        if sql.startswith("SELECT") and f'FROM "{table}"' in sql
    ]
    assert len(reads) == 1, statements
    if connection.features.has_select_for_update:
        assert " FOR UPDATE" in statements[reads[0]]


def test_if_match_and_body_version_both_apply(api, member_a, partner):
    client = api(member_a)
    # The header matches, the body's version is stale: the 409 of the body.
    response = client.patch(
        url(partner),
        {"name": "Mine", "version": 1},
        format="json",
        HTTP_IF_MATCH='"2"',
    )
    assert response.status_code == 409


@pytest.mark.parametrize("header", ['"2"', 'W/"2"', '"1", W/"2"', "*"])
def test_if_none_match_current_is_304_without_body(api, member_a, partner, header):
    response = api(member_a).get(url(partner), HTTP_IF_NONE_MATCH=header)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == '"2"'


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', '"x"'])
def test_if_none_match_stale_is_200(api, member_a, partner, header):
    response = api(member_a).get(url(partner), HTTP_IF_NONE_MATCH=header)
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'


def test_if_none_match_does_not_hide_another_company_object(api, member_b, partner):
    assert api(member_b).get(url(partner), HTTP_IF_NONE_MATCH="*").status_code == 404


def test_malformed_if_none_match_is_400(api, member_a, partner):
    response = api(member_a).get(url(partner), HTTP_IF_NONE_MATCH="2")
    assert response.status_code == 400
    assert "If-None-Match" in response.json()


def test_schema_documents_conditional_requests(api, member_a):
    schema = api(member_a).get("/api/schema/?format=json").json()
    detail = schema["paths"]["/api/partners/{id}/"]

    def headers(operation):
        return {
            p["name"] for p in detail[operation]["parameters"] if p["in"] == "header"
        }

    assert "If-None-Match" in headers("get")
    assert "304" in detail["get"]["responses"]
    assert "ETag" in detail["get"]["responses"]["200"]["headers"]
    for operation in ("put", "patch", "delete"):
        assert "If-Match" in headers(operation)
        assert "412" in detail[operation]["responses"]
    assert "ETag" in detail["patch"]["responses"]["200"]["headers"]
    create = schema["paths"]["/api/partners/"]["post"]
    assert "ETag" in create["responses"]["201"]["headers"]
    assert "If-Match" not in {p["name"] for p in create.get("parameters", [])}
