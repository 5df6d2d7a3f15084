"""``/api/webhooks/``: company admins only, secrets shown once, refusals name the
field, deliveries and replay, the OpenAPI schema."""

import uuid

import pytest

from webhooks.models import Delivery, Endpoint

from .conftest import merp_override
from .test_delivery import pump

pytestmark = pytest.mark.django_db

PUBLIC = "http://93.184.216.34/hook"  # a public literal address: no DNS needed


def create(client, **body):
    body.setdefault("url", PUBLIC)
    body.setdefault("event_types", ["partner.*"])
    return client.post("/api/webhooks/", body, format="json")


def test_the_secret_is_shown_on_create_and_rotation_only(api, admin_a):
    client = api(admin_a)
    created = create(client, description="ERP sync")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["changed_fields"] is None and body["is_active"] is True
    shown = client.get(f"/api/webhooks/{body['id']}/").json()
    assert "secret" not in shown and shown["description"] == "ERP sync"
    listed = client.get("/api/webhooks/").json()["results"]
    assert listed and all("secret" not in e for e in listed)

    rotated = client.post(f"/api/webhooks/{body['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in ("", body["secret"])
    assert rotated.json()["previous_secret_expires_at"]
    endpoint = Endpoint.objects.get()
    assert endpoint.previous_secret == body["secret"]


def test_members_get_403_and_other_companies_404(api, admin_a, member_a, admin_b):
    endpoint_id = create(api(admin_a)).json()["id"]
    member = api(member_a)
    assert member.get("/api/webhooks/").status_code == 403
    assert create(member).status_code == 403
    assert member.get(f"/api/webhooks/{endpoint_id}/").status_code == 403
    other = api(admin_b)
    assert other.get("/api/webhooks/").json()["results"] == []
    for method, suffix in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "deliveries/"),
        ("post", "replay/"),
        ("post", "rotate-secret/"),
    ]:
        response = getattr(other, method)(
            f"/api/webhooks/{endpoint_id}/{suffix}", {}, format="json"
        )
        assert response.status_code == 404, (method, suffix)
    assert Endpoint.objects.get().company_id == admin_a.memberships.get().company_id


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://100.64.0.1/hook", "non-global"),
    ],
)
def test_private_targets_are_refused_at_subscribe_time(api, admin_a, url, kind):
    response = create(api(admin_a), url=url)
    assert response.status_code == 400
    (message,) = response.json()["url"]
    assert f"a {kind} address" in message
    assert not Endpoint.objects.exists()


def test_private_targets_are_allowed_when_the_setting_says_so(api, admin_a, settings):
    merp_override(settings, WEBHOOK_ALLOW_PRIVATE=True)
    assert create(api(admin_a), url="http://127.0.0.1:9/hook").status_code == 201


def test_an_update_to_a_private_url_is_refused(api, admin_a):
    client = api(admin_a)
    endpoint_id = create(client).json()["id"]
    response = client.patch(
        f"/api/webhooks/{endpoint_id}/", {"url": "http://10.0.0.1/"}, format="json"
    )
    assert response.status_code == 400 and "url" in response.json()
    assert Endpoint.objects.get().url == PUBLIC


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://93.184.216.34/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://no-such-host.invalid/"}, "url"),
        ({"event_types": []}, "event_types"),
        ({"event_types": "partner.*"}, "event_types"),
        ({"event_types": ["partner.renamed"]}, "event_types"),
        ({"event_types": ["invoice.*"]}, "event_types"),
        ({"changed_fields": ["no_such_field"]}, "changed_fields"),
        ({"changed_fields": "email"}, "changed_fields"),
        ({"changed_fields": ["extensions.Bad-Name"]}, "changed_fields"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, admin_a, body, field):
    response = create(api(admin_a), **body)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Endpoint.objects.exists()


def test_changed_fields_accepts_fields_of_the_subscribed_objects(api, admin_a):
    response = create(
        api(admin_a),
        event_types=["partner.updated"],
        changed_fields=["email", "extensions.tier"],
    )
    assert response.status_code == 201, response.json()
    assert response.json()["changed_fields"] == ["email", "extensions.tier"]
    # A contact-only field is not one of a partner's.
    refused = create(api(admin_a), event_types=["address.*"], changed_fields=["email"])
    assert refused.status_code == 400 and "changed_fields" in refused.json()


def test_deliveries_list_and_replay(
    api, admin_a, company_a, make_partner, receiver, fast_webhooks
):
    client = api(admin_a)
    endpoint_id = create(client, url=receiver.url).json()["id"]
    make_partner(company_a)
    pump()
    listed = client.get(f"/api/webhooks/{endpoint_id}/deliveries/?page_size=10")
    assert listed.status_code == 200
    page = listed.json()
    assert page["count"] == 1
    (row,) = page["results"]
    assert row["state"] == "succeeded" and row["attempt"] == 1
    assert row["status_code"] == 200 and row["duration_ms"] is not None
    assert row["event_type"] == "partner.created" and row["next_attempt_at"] is None
    assert row["response_excerpt"].startswith("{")
    assert (
        client.get(f"/api/webhooks/{endpoint_id}/deliveries/?state=pending").json()[
            "results"
        ]
        == []
    )

    replayed = client.post(
        f"/api/webhooks/{endpoint_id}/replay/",
        {"event_id": row["event_id"]},
        format="json",
    )
    assert replayed.status_code == 202
    assert replayed.json() == {"replayed": 1, "reset": 1, "created": 0}
    assert Delivery.objects.get().state == "pending"
    pump()
    assert receiver.event_ids() == [row["event_id"]] * 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": str(uuid.uuid4())}, "event_id"),
        ({"event_id": str(uuid.uuid4()), "since": "2025-01-01T00:00:00Z"}, "event_id"),
        (
            {"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
            "until",
        ),
    ],
)
def test_replay_bad_input_is_a_400_naming_the_field(api, admin_a, body, field):
    client = api(admin_a)
    endpoint_id = create(client).json()["id"]
    response = client.post(f"/api/webhooks/{endpoint_id}/replay/", body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_deliveries_bad_filters_are_400(api, admin_a):
    client = api(admin_a)
    endpoint_id = create(client).json()["id"]
    base = f"/api/webhooks/{endpoint_id}/deliveries/"
    assert "state" in client.get(base + "?state=lost").json()
    assert "event_id" in client.get(base + "?event_id=x").json()
    assert "color" in client.get(base + "?color=red").json()


def test_the_schema_documents_the_webhooks_api(api, admin_a):
    schema = api(admin_a).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/webhooks/",
        "/api/webhooks/{id}/",
        "/api/webhooks/{id}/deliveries/",
        "/api/webhooks/{id}/replay/",
        "/api/webhooks/{id}/rotate-secret/",
    ):
        assert path in paths, path
    create_op = paths["/api/webhooks/"]["post"]
    assert "application/json" in create_op["requestBody"]["content"]
    created = create_op["responses"]["201"]["content"]["application/json"]["schema"]
    name = created["$ref"].rsplit("/", 1)[-1]
    assert "secret" in schema["components"]["schemas"][name]["properties"]
    replay = paths["/api/webhooks/{id}/replay/"]["post"]
    assert "application/json" in replay["requestBody"]["content"]
