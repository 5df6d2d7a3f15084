"""Permission matrix: every /api/ endpoint x HTTP method x role -> expected status.

Endpoints come from the URL patterns and business objects from the registry, so a
new object is covered as it is registered; a new kind of endpoint fails
``test_every_api_endpoint_has_a_rule`` until RULES says what each role may do.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from businessobjects.registry import get_registration

from .conftest import count, make_tenant
from .support import MARKERS, Endpoint, Sampler, bo_registrations, iter_endpoints

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROLES = ("anonymous", "member", "admin", "other_admin", "staff", "superuser")
BO_NAMES = {r.name for r in bo_registrations()}

# Roles, with the company (of two) each acts for:
#   member, admin     - member / company admin of company A (the targets' company)
#   other_admin       - company admin of company B: A's objects are 404
#   staff             - is_staff without any membership: no company, 400
#   superuser         - no membership, acts for A with X-Company-ID
ANON = 401  # TokenAuthentication sends WWW-Authenticate, so DRF answers 401
NO_COMPANY = 400
OK, CREATED, GONE, MISSING, FORBIDDEN, NOT_ALLOWED = 200, 201, 204, 404, 403, 405


def row(anonymous, member, admin, other_admin, staff, superuser) -> dict:
    values = (anonymous, member, admin, other_admin, staff, superuser)
    return dict(zip(ROLES, values, strict=True))


def everyone(status) -> dict:
    return row(*(status,) * len(ROLES))


def authenticated(status, anonymous=ANON) -> dict:
    return row(anonymous, *(status,) * (len(ROLES) - 1))


def scoped(member, admin=None, other=None, superuser=None) -> dict:
    """A company-scoped endpoint: anonymous 401, staff without company 400."""
    admin = member if admin is None else admin
    other = member if other is None else other
    superuser = admin if superuser is None else superuser
    return row(ANON, member, admin, other, NO_COMPANY, superuser)


def not_allowed_scoped() -> dict:
    # The company is resolved (permission check) before the method is looked up.
    return scoped(NOT_ALLOWED)


# kind -> method -> role -> status. Methods left out are 405 (401 anonymous).
RULES: dict[str, dict[str, dict]] = {
    "bo-list": {
        "GET": scoped(OK),
        "POST": scoped(CREATED),
        "PUT": not_allowed_scoped(),
        "PATCH": not_allowed_scoped(),
        "DELETE": not_allowed_scoped(),
    },
    "bo-detail": {
        "GET": scoped(OK, other=MISSING),
        "PUT": scoped(OK, other=MISSING),
        "PATCH": scoped(OK, other=MISSING),
        "DELETE": scoped(GONE, other=MISSING),
        "POST": not_allowed_scoped(),
    },
    "bo-history": {
        "GET": scoped(OK, other=MISSING),
        "POST": not_allowed_scoped(),
        "PUT": not_allowed_scoped(),
        "PATCH": not_allowed_scoped(),
        "DELETE": not_allowed_scoped(),
    },
    "companies": {"GET": authenticated(OK)},
    "api-root": {"GET": authenticated(OK)},
    # Credentials of the role itself; anonymous sends none.
    # DELETE revokes the caller's token.
    "token": {
        "POST": row(400, OK, OK, OK, OK, OK),
        "DELETE": authenticated(GONE),
        "_other": everyone(NOT_ALLOWED),
    },
    "schema": {"GET": everyone(OK), "_other": everyone(NOT_ALLOWED)},
    "docs": {"GET": everyone(OK), "_other": everyone(NOT_ALLOWED)},
    "redoc": {"GET": everyone(OK), "_other": everyone(NOT_ALLOWED)},
    # DESIGN.md endpoints of the extensions, events and operations work; these
    # rules apply as soon as those endpoints are routed.
    # Custom-field definitions: members read, company admins write. Permissions
    # are checked before the method, so members hear 403 for any write. The
    # matrix sends no body to non-object endpoints: PUT/POST are 400 for admins.
    "custom-fields-list": {
        "GET": scoped(OK),
        "POST": scoped(FORBIDDEN, admin=400, other=400),
        "_other": scoped(FORBIDDEN, admin=NOT_ALLOWED, other=NOT_ALLOWED),
    },
    "custom-fields-detail": {
        "GET": scoped(OK, other=MISSING),
        "PUT": scoped(FORBIDDEN, admin=400, other=MISSING),
        "PATCH": scoped(FORBIDDEN, admin=OK, other=MISSING),
        "DELETE": scoped(FORBIDDEN, admin=GONE, other=MISSING),
        "POST": scoped(FORBIDDEN, admin=NOT_ALLOWED, other=NOT_ALLOWED),
    },
    "events": {"GET": scoped(OK), "_other": not_allowed_scoped()},
    # The company's audit log: company admins only.
    "audit-log": {
        "GET": scoped(FORBIDDEN, admin=OK, other=OK),
        # Permissions are checked before the method: members hear 403.
        "_other": scoped(NOT_ALLOWED, admin=NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    # Undo of a correlation id: company admins only; no body is a 400.
    "audit-undo": {
        "POST": scoped(FORBIDDEN, admin=400, other=400),
        "_other": scoped(NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    # Webhook endpoints: company admins only (members 403 whatever the method).
    "webhooks-list": {
        "GET": scoped(FORBIDDEN, admin=OK, other=OK),
        "POST": scoped(FORBIDDEN, admin=400, other=400),
        "_other": scoped(NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    "webhooks-detail": {
        "GET": scoped(FORBIDDEN, admin=OK, other=MISSING),
        "PUT": scoped(FORBIDDEN, admin=400, other=MISSING),
        "PATCH": scoped(FORBIDDEN, admin=OK, other=MISSING),
        "DELETE": scoped(FORBIDDEN, admin=GONE, other=MISSING),
        "POST": scoped(NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    "webhooks-deliveries": {
        "GET": scoped(FORBIDDEN, admin=OK, other=MISSING),
        "_other": scoped(NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    "webhooks-replay": {
        "POST": scoped(FORBIDDEN, admin=400, other=MISSING),
        "_other": scoped(NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    "webhooks-rotate-secret": {
        "POST": scoped(FORBIDDEN, admin=OK, other=MISSING),
        "_other": scoped(NOT_ALLOWED) | {"member": FORBIDDEN},
    },
    "health": {"GET": everyone(OK), "_other": everyone(NOT_ALLOWED)},
    "health-ready": {
        "GET": everyone((OK, 503)),
        "_other": everyone(NOT_ALLOWED),
    },
}


def make_custom_field(company, seq: int):
    from businessobjects.models import Partner
    from extensions.definitions import definition_create

    return definition_create(
        company=company,
        model=Partner,
        name=f"field_{seq}",
        label="F",
        field_type="string",
    )


def make_webhook(company, seq: int):
    from webhooks.services import endpoint_create

    # A public literal address: no DNS lookup, not refused as private.
    return endpoint_create(
        company=company, url=f"http://93.184.216.34/{seq}", event_types=["*"]
    )


# Kinds with an id in the path that is not a business object: how to make one of
# company A for each call.
TARGETS = {
    "custom-fields-detail": make_custom_field,
    "webhooks-detail": make_webhook,
    "webhooks-deliveries": make_webhook,
    "webhooks-replay": make_webhook,
    "webhooks-rotate-secret": make_webhook,
}


def classify(endpoint: Endpoint) -> str | None:
    name = endpoint.name or ""
    prefix, _, suffix = name.rpartition("-")
    if prefix in BO_NAMES and suffix in ("list", "detail", "history"):
        return f"bo-{suffix}"
    route = path_of(endpoint, pk="1")
    return {
        "company-list": "companies",
        "api-root": "api-root",
        "api-token": "token",
        "schema": "schema",
        "docs": "docs",
        "redoc": "redoc",
    }.get(name) or {
        "/api/custom-fields/": "custom-fields-list",
        "/api/custom-fields/1/": "custom-fields-detail",
        "/api/events/": "events",
        "/api/webhooks/": "webhooks-list",
        "/api/webhooks/1/": "webhooks-detail",
        "/api/webhooks/1/deliveries/": "webhooks-deliveries",
        "/api/webhooks/1/replay/": "webhooks-replay",
        "/api/webhooks/1/rotate-secret/": "webhooks-rotate-secret",
        "/api/audit/": "audit-log",
        "/api/audit/undo/": "audit-undo",
        "/health/": "health",
        "/health/ready/": "health-ready",
    }.get(route)


def path_of(endpoint: Endpoint, *, pk: str) -> str:
    route = re.sub(r"\(\?P<\w+>[^)]*\)", pk, endpoint.route)
    route = re.sub(r"<(?:\w+:)?\w+>", pk, route)
    return "/" + route.replace("^", "").replace("$", "")


def expected(kind: str, method: str, role: str):
    rules = RULES[kind]
    if method in rules:
        return rules[method][role]
    if "_other" in rules:
        return rules["_other"][role]
    return ANON if role == "anonymous" else NOT_ALLOWED


API_ENDPOINTS = [e for e in iter_endpoints() if e.route.startswith(("api/", "health/"))]


def test_every_api_endpoint_has_a_rule():
    missing = [e.route for e in API_ENDPOINTS if classify(e) is None]
    assert not missing, (
        f"No permission rule for {missing}: add the endpoint to classify() and "
        "RULES in tests/reliability/test_permissions.py."
    )


@pytest.fixture
def world(db):
    tenant_a, tenant_b = make_tenant(MARKERS[0]), make_tenant(MARKERS[1])
    users = get_user_model().objects
    return {
        "a": tenant_a,
        "b": tenant_b,
        "users": {
            "anonymous": None,
            "member": tenant_a.member,
            "admin": tenant_a.admin,
            "other_admin": tenant_b.admin,
            "staff": users.create_user(
                "staff_only", password="pw-123456", is_staff=True
            ),
            "superuser": users.create_superuser("root_user", password="pw-123456"),
        },
    }


@pytest.mark.parametrize(
    "endpoint",
    [e for e in API_ENDPOINTS if classify(e)],
    ids=lambda e: path_of(e, pk="{id}"),
)
def test_permission_matrix(endpoint, world):
    kind = classify(endpoint)
    sampler = Sampler()
    company_a = world["a"].company
    registration = (
        get_registration(endpoint.name.rpartition("-")[0])
        if kind.startswith("bo-")
        else None
    )
    mismatches = []
    for role in ROLES:
        user = world["users"][role]
        for method in METHODS:
            client = APIClient()
            if user is not None:
                client.force_authenticate(user)
            if role == "superuser":
                client.credentials(HTTP_X_COMPANY_ID=str(company_a.pk))
            body = None
            pk = "1"
            if registration is not None:
                # A fresh target per call: DELETE must not change later rows.
                target = sampler.create(registration, company=company_a, marker="t")
                pk = str(target.pk)
                body = sampler.payload(
                    registration,
                    company=company_a if role != "other_admin" else world["b"].company,
                    marker=MARKERS[0] if role != "other_admin" else MARKERS[1],
                )
            if kind in TARGETS:
                pk = str(TARGETS[kind](company_a, sampler.next_seq()).pk)
            if kind == "token":
                body = (
                    {"username": user.username, "password": "pw-123456"}
                    if user is not None
                    else {}
                )
            if method in ("GET", "DELETE"):
                body = None  # the test client would turn it into a query string
            response = getattr(client, method.lower())(
                path_of(endpoint, pk=pk), body, format="json"
            )
            count("permission matrix: requests")
            want = expected(kind, method, role)
            wanted = want if isinstance(want, tuple) else (want,)
            if response.status_code not in wanted:
                mismatches.append(
                    f"{role:12} {method:6} -> {response.status_code}, expected {want}"
                    f": {response.content[:120]!r}"
                )
    assert not mismatches, f"{path_of(endpoint, pk='{id}')}\n" + "\n".join(mismatches)


# The admin: role -> status for the changelist, add form, and A's object's change,
# history and delete pages. Not logged in or not staff: redirect to the login page.
# Another company's admin: Django's "doesn't exist" redirect, like a missing object.
ADMIN_RULES = {
    "changelist": row(302, 302, OK, OK, FORBIDDEN, OK),
    "add": row(302, 302, OK, OK, FORBIDDEN, OK),
    "change": row(302, 302, OK, 302, FORBIDDEN, OK),
    # The audit trail's history page answers 404 for objects outside the
    # user's companies (it looks them up before checking permissions).
    "history": row(302, 302, OK, MISSING, MISSING, OK),
    "delete": row(302, 302, OK, 302, FORBIDDEN, OK),
}


@pytest.mark.parametrize("registration", bo_registrations(), ids=lambda r: r.name)
def test_admin_permission_matrix(registration, world, client):
    target = Sampler().create(
        registration, company=world["a"].company, marker=MARKERS[0]
    )
    opts = registration.model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    pages = {
        "changelist": base,
        "add": f"{base}add/",
        "change": f"{base}{target.pk}/change/",
        "history": f"{base}{target.pk}/history/",
        "delete": f"{base}{target.pk}/delete/",
    }
    mismatches = []
    for role in ROLES:
        client.logout()
        if world["users"][role] is not None:
            client.force_login(world["users"][role])
        for page, path in pages.items():
            response = client.get(path)
            count("permission matrix: requests")
            want = ADMIN_RULES[page][role]
            if response.status_code != want:
                mismatches.append(
                    f"{role:12} {page:10} -> {response.status_code}, expected {want}"
                )
            elif want == OK and role == "other_admin":
                assert MARKERS[0] not in response.content.decode(), (role, path)
            elif role == "other_admin" and want == 302:
                assert response["Location"].startswith("/admin/"), response["Location"]
    assert not mismatches, f"{base}\n" + "\n".join(mismatches)
