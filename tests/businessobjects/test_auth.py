"""Logins: throttling and lockout (token endpoint and admin), token revocation."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"
PASSWORD = "pw-123456"  # the root conftest's users


def post_token(username, password, *, ip="10.0.0.1", client=None):
    client = client or APIClient()
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


@pytest.fixture
def login_rates(settings):
    """Set the token endpoint's throttle rates for one test."""

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return set_rates


# -- throttling ---------------------------------------------------------------


def test_token_endpoint_throttles_per_username_and_ip(admin_a, member_a, login_rates):
    login_rates(login="3/min", login_ip="100/min")
    for _ in range(3):
        assert post_token("admin_a", PASSWORD).status_code == 200
    refused = post_token("admin_a", PASSWORD)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert int(refused["Retry-After"]) > 0
    assert "throttled" in refused.json()["detail"].lower()
    # Another user from the same address, and the same user from another address.
    assert post_token("member_a", PASSWORD).status_code == 200
    assert post_token("admin_a", PASSWORD, ip="10.0.0.2").status_code == 200


def test_token_endpoint_throttles_per_ip(admin_a, login_rates):
    login_rates(login="100/min", login_ip="4/min")
    statuses = [post_token(f"nobody{i}", "x").status_code for i in range(6)]
    assert statuses == [400, 400, 400, 400, 429, 429]
    assert post_token("admin_a", PASSWORD, ip="10.0.0.9").status_code == 200


def test_throttle_ignores_a_spoofed_forwarded_for(admin_a, login_rates):
    # Without NUM_PROXIES, a client-chosen X-Forwarded-For must not make a new
    # bucket per request.
    login_rates(login="2/min", login_ip="100/min")
    statuses = [
        APIClient()
        .post(
            TOKEN_URL,
            {"username": "admin_a", "password": "wrong"},
            format="json",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
        .status_code
        for i in range(3)
    ]
    assert statuses == [400, 400, 429]


def test_default_rates_refuse_a_burst(admin_a):
    # The finding: 60 wrong passwords in 30 s were all answered.
    statuses = [post_token("admin_a", f"wrong-{i}").status_code for i in range(60)]
    assert statuses.count(400) <= 5
    assert set(statuses[5:]) == {429}


# -- lockout (django-axes) -------------------------------------------------------


@pytest.fixture
def generous_rates(login_rates):
    login_rates(login="1000/min", login_ip="1000/min")


def test_token_lockout_refuses_the_right_password(
    admin_a, member_a, generous_rates, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert post_token("admin_a", "wrong").status_code == 400
    locked = post_token("admin_a", "wrong")  # the third failure locks
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert "Too many failed logins" in locked.json()["detail"]
    assert int(locked["Retry-After"]) > 0
    refused = post_token("admin_a", PASSWORD)
    assert refused.status_code == 429
    assert not Token.objects.filter(user=admin_a).exists()
    # Another user from that address, and that user from another address.
    assert post_token("member_a", PASSWORD).status_code == 200
    assert post_token("admin_a", PASSWORD, ip="10.0.0.2").status_code == 200


def test_token_lockout_ends_after_the_cooloff(admin_a, generous_rates, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        post_token("admin_a", "wrong")
    assert post_token("admin_a", PASSWORD).status_code == 429
    # Cool-off passes (the attempts age; nothing waits).
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert post_token("admin_a", PASSWORD).status_code == 200


def test_token_lockout_reset_by_command(admin_a, generous_rates, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        post_token("admin_a", "wrong")
    assert post_token("admin_a", PASSWORD).status_code == 429
    call_command("axes_reset_username", "admin_a")
    assert post_token("admin_a", PASSWORD).status_code == 200


def test_a_successful_token_login_resets_the_failures(
    admin_a, generous_rates, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        post_token("admin_a", "wrong")
    assert post_token("admin_a", PASSWORD).status_code == 200
    for _ in range(2):
        assert post_token("admin_a", "wrong").status_code == 400


def admin_login(client, username, password, ip="10.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
    )


def test_admin_login_lockout(admin_a, admin_b, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        assert admin_login(client, "admin_a", "wrong").status_code == 200  # the form
    locked = admin_login(client, "admin_a", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert locked["Content-Type"].startswith("text/html")
    refused = admin_login(client, "admin_a", PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another user, and the same user from another address, log in.
    assert admin_login(Client(), "admin_b", PASSWORD).status_code == 302
    assert admin_login(Client(), "admin_a", PASSWORD, ip="10.0.0.2").status_code == 302
    call_command("axes_reset_username", "admin_a")
    assert admin_login(client, "admin_a", PASSWORD).status_code == 302


def test_client_login_still_works_without_a_request(admin_a):
    # authenticate() without a request (tests, scripts) is not locked out.
    assert Client().login(username="admin_a", password=PASSWORD)
    assert not Client().login(username="admin_a", password="wrong")


# -- revocation ---------------------------------------------------------------


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_delete_revokes_the_token(admin_a):
    key = post_token("admin_a", PASSWORD).json()["token"]
    client = token_client(key)
    assert client.get("/api/companies/").status_code == 200
    response = client.delete(TOKEN_URL)
    assert response.status_code == 204
    assert client.get("/api/companies/").status_code == 401
    assert client.delete(TOKEN_URL).status_code == 401
    new_key = post_token("admin_a", PASSWORD).json()["token"]
    assert new_key != key
    assert token_client(new_key).get("/api/companies/").status_code == 200


def test_delete_needs_authentication():
    assert APIClient().delete(TOKEN_URL).status_code == 401


def test_password_change_revokes_the_token(admin_a, member_a):
    key = post_token("admin_a", PASSWORD).json()["token"]
    other = post_token("member_a", PASSWORD).json()["token"]
    user = get_user_model().objects.get(pk=admin_a.pk)
    user.set_password("a-new-passphrase-42")
    user.save()
    assert token_client(key).get("/api/companies/").status_code == 401
    assert token_client(other).get("/api/companies/").status_code == 200
    new_key = post_token("admin_a", "a-new-passphrase-42").json()["token"]
    assert new_key != key


def test_other_saves_keep_the_token(admin_a):
    key = post_token("admin_a", PASSWORD).json()["token"]
    user = get_user_model().objects.get(pk=admin_a.pk)
    user.email = "a@example.test"
    user.save()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert token_client(key).get("/api/companies/").status_code == 200


def test_password_hash_upgrade_keeps_the_token(admin_a, settings):
    key = post_token("admin_a", PASSWORD).json()["token"]
    # A new preferred hasher: the next password check re-hashes (not a change).
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    user = get_user_model().objects.get(pk=admin_a.pk)
    assert user.check_password(PASSWORD)
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha1$")
    assert token_client(key).get("/api/companies/").status_code == 200


def test_admin_password_change_revokes_the_token(admin_a, make_user):
    key = post_token("admin_a", PASSWORD).json()["token"]
    superuser = make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(superuser)
    response = client.post(
        f"/admin/auth/user/{admin_a.pk}/password/",
        {
            "password1": "another-passphrase-77",
            "password2": "another-passphrase-77",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert token_client(key).get("/api/companies/").status_code == 401


def test_merp_user_set_password_revokes_the_token(admin_a, company_a):
    key = post_token("admin_a", PASSWORD).json()["token"]
    call_command(
        "merp_user",
        "create",
        "admin_a",
        "--password",
        "a-third-passphrase-9",
        "--set-password",
        "--company",
        company_a.name,
        stdout=__import__("io").StringIO(),
    )
    assert token_client(key).get("/api/companies/").status_code == 401


def test_throttle_lets_logins_through_when_the_cache_is_down(admin_a, settings):
    # The lockout (database) still counts failures; a dead cache is no 500.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    assert post_token("admin_a", PASSWORD).status_code == 200


def test_schema_documents_revocation_and_429():
    from drf_spectacular.generators import SchemaGenerator

    operations = SchemaGenerator().get_schema(request=None, public=True)["paths"][
        TOKEN_URL
    ]
    assert "429" in operations["post"]["responses"]
    assert "200" in operations["post"]["responses"]
    delete = operations["delete"]
    assert "204" in delete["responses"] and "401" in delete["responses"]
    assert "requestBody" not in delete
    assert {} not in delete["security"]  # needs a token (or a session)
