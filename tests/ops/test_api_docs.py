"""The OpenAPI schema's request bodies and the docs pages, as the installation
serves them (the end-to-end suite checks the same against gunicorn)."""

import re

import pytest
from django.conf import settings

ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"')


def test_every_request_body_is_json_only(client):
    schema = client.get("/api/schema/?format=json").json()
    bodies = {
        f"{method.upper()} {path}": sorted(operation["requestBody"]["content"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }
    assert "POST /api/auth/token/" in bodies
    assert "PATCH /api/partners/{id}/" in bodies
    assert {k: v for k, v in bodies.items() if v != ["application/json"]} == {}


def test_runtime_parsers_unchanged(api, member_a):
    # Only the documentation is JSON-only: form posts are still parsed.
    answer = api(member_a).post(
        "/api/partners/", {"name": "Form Co"}, format="multipart"
    )
    assert answer.status_code == 201, answer.content


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_assets_from_the_installation(client, page):
    answer = client.get(page)
    assert answer.status_code == 200
    assets = ASSET.findall(answer.content.decode())
    assert assets, answer.content
    static = f"/{settings.STATIC_URL.strip('/')}/"
    assert [a for a in assets if not a.startswith(static)] == []
    for asset in assets:
        assert "drf_spectacular_sidecar" in asset


def test_whitenoise_serves_static_files_first():
    middleware = settings.MIDDLEWARE
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") == 1
