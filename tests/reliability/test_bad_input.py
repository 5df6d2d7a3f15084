"""Bad input corpus: every case is a 4xx that names the problem; nothing is written.

The corpus is derived from each registered business object's fields, so a new
object (or a new field) is fuzzed without editing this file.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.db import models

from businessobjects.conf import merp_settings

from .conftest import count
from .support import (
    MARKERS,
    Sampler,
    bo_registrations,
    db_fingerprint,
    reference_fields,
    text_fields,
    writable_fields,
)

pytestmark = pytest.mark.django_db

HUGE = 100_000
DEEP = 100_000


@dataclass(frozen=True)
class Case:
    id: str
    method: str  # POST (list), PATCH/PUT/DELETE/GET (detail), LIST (GET list)
    names: str  # must appear in the JSON error body
    body: bytes | None = None
    content_type: str = "application/json"
    query: str = ""
    headers: dict = field(default_factory=dict, hash=False)
    path_suffix: str = ""  # e.g. "history/"
    pk: str | None = None  # explicit pk in the URL
    expect: tuple[int, ...] = (400,)


def _json(value) -> bytes:
    return json.dumps(value).encode()


def body_cases(registration) -> list[tuple[str, bytes, str, tuple[int, ...]]]:
    """(id, body, names, expected statuses) for request bodies."""
    model = registration.model
    cases = [
        ("malformed-json", b'{"name": ', "JSON parse error", (400,)),
        ("invalid-utf8", b'{"name": "\xff\xfe"}', "JSON parse error", (400,)),
        ("nan-constant", b'{"version": NaN}', "JSON parse error", (400,)),
        ("array-body", b"[]", "non_field_errors", (400,)),
        ("string-body", b'"hello"', "non_field_errors", (400,)),
        ("number-body", b"42", "non_field_errors", (400,)),
        (
            "deep-nesting",
            b'{"extensions": ' + b"[" * DEEP + b"]" * DEEP + b"}",
            "JSON parse error",
            (400,),
        ),
        (
            "deep-objects",
            b'{"extensions": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
            "JSON parse error",
            (400,),
        ),
        ("huge-body", _json({"name": "x" * (3 * 1024 * 1024)}), "too large", (413,)),
        ("version-string", _json({"version": "x"}), "version", (400,)),
        ("version-zero", _json({"version": 0}), "version", (400,)),
        ("version-negative", _json({"version": -5}), "version", (400,)),
        ("version-object", _json({"version": {"$gt": 0}}), "version", (400,)),
        ("extensions-array", _json({"extensions": []}), "extensions", (400,)),
        ("extensions-string", _json({"extensions": "x"}), "extensions", (400,)),
        (
            "extensions-injection-name",
            _json({"extensions": {"x'; DROP TABLE businessobjects_partner;--": 1}}),
            "extensions",
            (400,),
        ),
        (
            "extensions-nul-name",
            _json({"extensions": {"a\u0000b": 1}}),
            "extensions",
            (400,),
        ),
        (
            "extensions-dunder-name",
            _json({"extensions": {"__class__": 1}}),
            "extensions",
            (400,),
        ),
    ]
    for name in text_fields(registration):
        cases += [
            (f"{name}-nul", _json({name: "a\u0000b"}), name, (400,)),
            (
                f"{name}-lone-surrogate",
                f'{{"{name}": "a\\ud800b"}}'.encode(),
                name,
                (400,),
            ),
            (f"{name}-huge", _json({name: "x" * HUGE}), name, (400,)),
            (f"{name}-object", _json({name: {"a": 1}}), name, (400,)),
            (f"{name}-array", _json({name: ["a"]}), name, (400,)),
        ]
    for f in writable_fields(model):
        if isinstance(f, models.EmailField):
            cases += [
                (
                    f"{f.name}-not-email",
                    _json({f.name: "not an email"}),
                    f.name,
                    (400,),
                ),
                (f"{f.name}-nul", _json({f.name: "a\u0000@x.test"}), f.name, (400,)),
            ]
        if isinstance(f, models.BooleanField):
            cases.append((f"{f.name}-maybe", _json({f.name: "maybe"}), f.name, (400,)))
        if isinstance(f, models.DecimalField):
            cases += [
                (f"{f.name}-text", _json({f.name: "abc"}), f.name, (400,)),
                (f"{f.name}-nan", _json({f.name: "NaN"}), f.name, (400,)),
                (f"{f.name}-infinity", _json({f.name: "Infinity"}), f.name, (400,)),
                (
                    f"{f.name}-float-overflow",
                    b'{"%s": 1e400}' % f.name.encode(),
                    f.name,
                    (400,),
                ),
                (
                    f"{f.name}-too-many-digits",
                    _json({f.name: "9" * 60}),
                    f.name,
                    (400,),
                ),
            ]
        if isinstance(f, models.IntegerField) and not f.is_relation:
            cases += [
                (f"{f.name}-text", _json({f.name: "abc"}), f.name, (400,)),
                (f"{f.name}-out-of-range", _json({f.name: 2**80}), f.name, (400,)),
            ]
    for f in reference_fields(model):
        cases += [
            (f"{f.name}-text", _json({f.name: "abc"}), f.name, (400,)),
            (f"{f.name}-negative", _json({f.name: -1}), f.name, (400,)),
            (f"{f.name}-huge", _json({f.name: 2**70}), f.name, (400,)),
            (f"{f.name}-object", _json({f.name: {"id": 1}}), f.name, (400,)),
            (f"{f.name}-foreign", b"FOREIGN:" + f.name.encode(), f.name, (400,)),
        ]
    return cases


INJECTION_KEYS = [
    "name'; DROP TABLE businessobjects_partner;--",
    "company",
    "company_id",
    "id__in",
    "partner__company",
    "created_by__password__startswith",
    "__class__",
    "ext",
    "extensions",
    "ordering[]",
]


def query_cases(registration) -> list[Case]:
    cases = [
        Case("page-size-negative", "LIST", "page_size", query="page_size=-1"),
        Case("page-size-zero", "LIST", "page_size", query="page_size=0"),
        Case("page-size-text", "LIST", "page_size", query="page_size=abc"),
        Case("page-size-float", "LIST", "page_size", query="page_size=1.5"),
        Case(
            "page-size-5000-digits",
            "LIST",
            "count",
            query="page_size=" + "9" * 5000,
            expect=(200,),
        ),
        Case("page-size-zeros", "LIST", "page_size", query="page_size=0000"),
        Case(
            "page-5000-digits",
            "LIST",
            "Invalid page",
            query="page=" + "9" * 5000,
            expect=(404,),
        ),
        Case("page-with-cursor", "LIST", "page", query="cursor=&page=-5"),
        Case(
            "history-page-with-cursor",
            "GET",
            "page",
            path_suffix="history/",
            query="cursor=&page=2",
        ),
        Case("page-zero", "LIST", "Invalid page", query="page=0", expect=(404,)),
        Case("page-negative", "LIST", "Invalid page", query="page=-1", expect=(404,)),
        Case("page-text", "LIST", "Invalid page", query="page=abc", expect=(404,)),
        Case(
            "page-huge", "LIST", "Invalid page", query=f"page={10**30}", expect=(404,)
        ),
        Case("search-nul", "LIST", "search", query="search=a%00b"),
        Case("ordering-unknown", "LIST", "ordering", query="ordering=nope"),
        Case(
            "ordering-relation-path",
            "LIST",
            "ordering",
            query="ordering=created_by__password",
        ),
        Case(
            "ordering-company-name", "LIST", "ordering", query="ordering=company__name"
        ),
        Case(
            "ordering-injection", "LIST", "ordering", query="ordering=id;DROP%20TABLE"
        ),
        Case("ordering-nul", "LIST", "ordering", query="ordering=%00"),
        Case("ordering-bare-minus", "LIST", "ordering", query="ordering=-"),
        Case("ext-unknown-field", "LIST", "ext__nope", query="ext__nope=1"),
        Case("ext-injection-name", "LIST", "ext__", query="ext__x'--=1"),
        Case("ext-invalid-lookup", "LIST", "ext__", query="ext__nope__regex=.*"),
        Case("ext-ordering", "LIST", "ordering", query="ordering=ext__nope"),
        Case(
            "company-header-text",
            "LIST",
            "X-Company-ID",
            headers={"HTTP_X_COMPANY_ID": "abc"},
        ),
        Case(
            "company-header-float",
            "LIST",
            "X-Company-ID",
            headers={"HTTP_X_COMPANY_ID": "1.5"},
        ),
        Case(
            "company-header-blank",
            "LIST",
            "X-Company-ID",
            headers={"HTTP_X_COMPANY_ID": "   "},
        ),
        Case(
            "company-header-huge",
            "LIST",
            "not a member",
            headers={"HTTP_X_COMPANY_ID": str(10**30)},
            expect=(403,),
        ),
        Case(
            "company-header-bigint-edge",
            "LIST",
            "not a member",
            headers={"HTTP_X_COMPANY_ID": str(2**63)},
            expect=(403,),
        ),
        Case(
            "company-header-negative",
            "LIST",
            "not a member",
            headers={"HTTP_X_COMPANY_ID": "-1"},
            expect=(403,),
        ),
        Case("pk-text", "GET", "detail", pk="abc", expect=(404,)),
        Case("pk-huge", "GET", "detail", pk=str(10**30), expect=(404,)),
        Case("pk-negative", "GET", "detail", pk="-1", expect=(404,)),
        Case(
            "pk-huge-patch",
            "PATCH",
            "detail",
            pk=str(2**63),
            body=_json({"version": 1}),
            expect=(404,),
        ),
        Case("pk-huge-delete", "DELETE", "detail", pk=str(10**30), expect=(404,)),
        Case(
            "history-pk-text",
            "GET",
            "detail",
            pk="abc",
            path_suffix="history/",
            expect=(404,),
        ),
        Case(
            "company-header-empty",
            "LIST",
            "X-Company-ID",
            headers={"HTTP_X_COMPANY_ID": ""},
        ),
        Case("pk-with-dot", "GET", "detail", pk="1.5", expect=(404,)),
        Case(
            "pk-float-history",
            "GET",
            "detail",
            pk="0.5",
            path_suffix="history/",
            expect=(404,),
        ),
        Case("pk-5000-digits", "GET", "detail", pk="9" * 5000, expect=(404,)),
        Case(
            "history-pk-5000-digits",
            "GET",
            "detail",
            pk="9" * 5000,
            path_suffix="history/",
            expect=(404,),
        ),
        Case(
            "company-header-5000-digits",
            "LIST",
            "X-Company-ID",
            headers={"HTTP_X_COMPANY_ID": "9" * 5000},
        ),
        Case(
            "delete-version-5000-digits",
            "DELETE",
            "version",
            query="version=" + "9" * 5000,
        ),
        Case(
            "history-pk-huge",
            "GET",
            "detail",
            pk=str(10**30),
            path_suffix="history/",
            expect=(404,),
        ),
        Case(
            "history-page-size-negative",
            "GET",
            "page_size",
            path_suffix="history/",
            query="page_size=-1",
        ),
        Case("delete-version-text", "DELETE", "version", query="version=abc"),
        Case("delete-version-negative", "DELETE", "version", query="version=-1"),
        Case(
            "delete-version-stale",
            "DELETE",
            "version",
            query="version=999",
            expect=(409,),
        ),
        Case(
            "content-type-text",
            "POST",
            "Unsupported media type",
            body=b"name=x",
            content_type="text/plain",
            expect=(415,),
        ),
        Case(
            "content-type-xml",
            "POST",
            "Unsupported media type",
            body=b"<name>x</name>",
            content_type="application/xml",
            expect=(415,),
        ),
    ]
    for key in INJECTION_KEYS:
        cases.append(
            Case(
                f"filter-key-{key[:12]}",
                "LIST",
                key.split("'")[0],
                query=f"{_quote(key)}=1",
            )
        )
    for f in registration.filter_fields:
        model_field = registration.model._meta.get_field(f)
        if isinstance(model_field, models.BooleanField):
            cases.append(Case(f"filter-{f}-maybe", "LIST", f, query=f"{f}=maybe"))
        if model_field.is_relation:
            cases.append(Case(f"filter-{f}-text", "LIST", f, query=f"{f}=abc"))
            cases.append(Case(f"filter-{f}-huge", "LIST", f, query=f"{f}={10**30}"))
            # Another company's id must look exactly like a missing one.
            cases.append(
                Case(f"filter-{f}-foreign", "LIST", f, query=f"{f}=FOREIGN:{f}")
            )
        cases.append(Case(f"filter-{f}-empty", "LIST", f, query=f"{f}="))
        if isinstance(model_field, models.CharField):
            cases.append(Case(f"filter-{f}-nul", "LIST", f, query=f"{f}=a%00b"))
    return cases


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _with_valid_fields(body: bytes, registration, own, tenant) -> bytes:
    """Put the bad value into an otherwise valid body, so only it can be blamed.

    Bodies that are not a JSON object (or not JSON) are sent as they are; the
    bad value is spliced into the raw text so that invalid JSON stays invalid.
    """
    if not body.startswith(b"{") or len(body) > 2**20:
        return body
    valid = Sampler().payload(
        registration,
        company=tenant.company,
        marker=tenant.marker,
        references={
            f.name: getattr(own[registration.name], f.name)
            for f in reference_fields(registration.model)
        },
    )
    try:
        bad = json.loads(body)
    except (ValueError, RecursionError):
        bad = None
    if isinstance(bad, dict):
        valid = {k: v for k, v in valid.items() if k not in bad}
    if not valid:
        return body
    prefix = json.dumps(valid)[:-1].encode() + b", "
    return prefix + body[1:]


def all_cases():
    for registration in bo_registrations():
        for case_id, body, names, expect in body_cases(registration):
            for method in ("POST", "PATCH", "PUT"):
                yield pytest.param(
                    registration,
                    Case(case_id, method, names, body=body, expect=expect),
                    id=f"{registration.name}-{method}-{case_id}",
                )
        for case in query_cases(registration):
            yield pytest.param(
                registration, case, id=f"{registration.name}-{case.method}-{case.id}"
            )


@pytest.fixture
def world(tenants):
    """An object of every kind in the first and second company."""
    sampler = Sampler()
    own = {}
    foreign = {}
    for registration in bo_registrations():
        own[registration.name] = sampler.create(
            registration, company=tenants[0].company, marker=MARKERS[0]
        )
        foreign[registration.name] = sampler.create(
            registration, company=tenants[1].company, marker=MARKERS[1]
        )
    return own, foreign


@pytest.mark.parametrize(("registration", "case"), list(all_cases()))
def test_bad_input_is_a_named_4xx_and_writes_nothing(
    registration, case, tenants, world, client_for
):
    own, foreign = world
    client = client_for(tenants[0].admin)
    body = case.body
    if body is not None and body.startswith(b"FOREIGN:"):
        name = body.split(b":", 1)[1].decode()
        body = _json({name: getattr(foreign[registration.name], f"{name}_id")})
    if case.method in ("POST", "PUT") and body is not None:
        body = _with_valid_fields(body, registration, own, tenants[0])
    base = f"/api/{registration.plural}/"
    if case.method in ("POST", "LIST"):
        path = base
    else:
        pk = case.pk if case.pk is not None else own[registration.name].pk
        path = f"{base}{pk}/{case.path_suffix}"
    if case.query:
        query = case.query
        if "=FOREIGN:" in query:
            name = query.split("=FOREIGN:")[1]
            query = f"{name}={getattr(foreign[registration.name], f'{name}_id')}"
        path += "?" + query
    method = {"LIST": "get"}.get(case.method, case.method.lower())
    before = db_fingerprint()

    response = getattr(client, method)(
        path, data=body, content_type=case.content_type, **case.headers
    )
    count("bad inputs sent")

    assert response.status_code in case.expect, (
        response.status_code,
        response.content[:500],
    )
    assert response["Content-Type"].startswith("application/json"), response[
        "Content-Type"
    ]
    text = response.content.decode()
    assert case.names.lower() in text.lower(), text[:500]
    assert db_fingerprint() == before


@pytest.mark.parametrize("registration", bo_registrations(), ids=lambda r: r.name)
def test_huge_page_size_is_capped(registration, tenants, client_for, world):
    response = client_for(tenants[0].member).get(
        f"/api/{registration.plural}/?page_size={10**30}"
    )
    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["results"]) <= merp_settings.MAX_PAGE_SIZE


UNICODE_EDGE_CASES = {
    "emoji-4-byte": "\U0001f600\U0001f9d1\u200d\U0001f4bb",
    "rtl-override": "\u202egnp.exe",
    "zero-width": "a\u200bb\u200c\u200d\ufeff",
    "combining": "e\u0301\u0308\u0327",
    "cjk": "\u682a\u5f0f\u4f1a\u793e",
    "line-separators": "a\u2028b\u2029c",
    "max-bmp": "\uffff\ufffd",
    "plane-16": "\U0010fffd",
}


@pytest.mark.parametrize("text", UNICODE_EDGE_CASES.values(), ids=UNICODE_EDGE_CASES)
@pytest.mark.parametrize("registration", bo_registrations(), ids=lambda r: r.name)
def test_unicode_edge_cases_round_trip(registration, text, tenants, client_for):
    """Valid but unusual text is stored and returned exactly (no mangling, no 500)."""
    names = text_fields(registration)
    assert names, f"{registration.name} has no text field"
    sampler = Sampler()
    payload = sampler.payload(
        registration, company=tenants[0].company, marker=MARKERS[0]
    )
    for name in names:
        limit = registration.model._meta.get_field(name).max_length or 1000
        if len(text) <= limit:
            payload[name] = text
    client = client_for(tenants[0].member)
    response = client.post(f"/api/{registration.plural}/", payload, format="json")
    count("bad inputs sent")
    assert response.status_code == 201, response.content[:500]
    stored = client.get(f"/api/{registration.plural}/{response.json()['id']}/").json()
    for name in names:
        assert stored[name] == payload[name]
