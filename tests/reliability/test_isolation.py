"""Tenant isolation, property-based: random sequences of API operations by users of
three companies on every registered business object (list, detail, writes, history).

Invariants checked on every response:
- the body never contains another company's marker (names, e-mails, usernames);
- every ``company`` in a body is the active company, every object id and history id
  belongs to it;
- another company's object is a 404 for every method (never 403, never a change);
- an ``X-Company-ID`` of a company the user is not a member of is a 403.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from rest_framework.test import APIClient

from businessobjects.models import Membership

from .conftest import count
from .support import (
    MARKERS,
    Sampler,
    bo_registrations,
    iter_endpoints,
    reference_fields,
    text_fields,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

REGISTRATIONS = bo_registrations()
# The company audit log, where the audit app routes one.
AUDIT_LOG = next(
    (f"/{e.route}" for e in iter_endpoints() if e.name == "audit-log"), None
)
# The company's event feed, where the events app routes one.
EVENTS = next(
    (f"/{e.route}" for e in iter_endpoints() if e.route == "api/events/"), None
)
EVENT_QUERIES = ["", "after=0", "after=3", "page_size=5"]
AUDIT_QUERIES = ["", "page_size=5", "action=deleted", "cursor="] + [
    f"object_type={r.name}" for r in REGISTRATIONS
]


class Actor:
    """A user acting for one company (``company_index``) of the three."""

    def __init__(self, user, company_index: int, member_of: set[int], header: bool):
        self.user = user
        self.company_index = company_index
        self.member_of = member_of
        self.header = header  # send X-Company-ID explicitly

    def __repr__(self) -> str:
        return f"<{self.user.username} as company {self.company_index}>"


def build_actors(tenants) -> list[Actor]:
    actors = []
    for index, tenant in enumerate(tenants):
        actors.append(Actor(tenant.admin, index, {index}, header=False))
        actors.append(Actor(tenant.member, index, {index}, header=True))
    # A member of the first and third company, switching with the header: its
    # responses for one company must not carry the other's data.
    multi = get_user_model().objects.create_user("multi_user", password="pw-123456")
    for index in (0, 2):
        Membership.objects.create(
            user=multi, company=tenants[index].company, is_default=index == 0
        )
        actors.append(Actor(multi, index, {0, 2}, header=True))
    return actors


def make_machine(tenants, sampler: Sampler):
    """``sampler`` made the starting rows: sharing it keeps unique values unique."""
    actors = build_actors(tenants)
    companies = [t.company for t in tenants]

    class TenantIsolation(RuleBasedStateMachine):
        # Each example runs in a savepoint rolled back at its end, so every example
        # starts from the same rows (Hypothesis replays draws that depend on them).
        def __init__(self):
            super().__init__()
            self._atomic = transaction.atomic()
            self._atomic.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

        # -- plumbing ---------------------------------------------------------

        def client(self, actor: Actor, company_index: int | None = None) -> APIClient:
            client = APIClient()
            client.force_authenticate(actor.user)
            index = actor.company_index if company_index is None else company_index
            if actor.header or company_index is not None:
                client.credentials(HTTP_X_COMPANY_ID=str(companies[index].pk))
            return client

        def call(self, actor, method, path, body=None, company_index=None):
            client = self.client(actor, company_index)
            response = getattr(client, method)(path, body, format="json")
            count("isolation: API operations")
            if company_index is None or company_index == actor.company_index:
                self.check_body(actor, response)
            return response

        def check_body(self, actor: Actor, response) -> None:
            text = response.content.decode()
            own = actor.company_index
            allowed = (
                actor.member_of
                if response.request["PATH_INFO"] == "/api/companies/"
                else {own}
            )
            for index, marker in enumerate(MARKERS):
                if index not in allowed:
                    assert marker not in text, (
                        f"{actor} got company {index}'s data from "
                        f"{response.request['PATH_INFO']}: {text[:300]}"
                    )
            if not (200 <= response.status_code < 300 and text):
                return  # error bodies carry messages, checked for markers above
            self.check_ids(actor, response.request["PATH_INFO"], json.loads(text))

        def check_ids(self, actor: Actor, path: str, body) -> None:
            company = companies[actor.company_index]
            parts = path.strip("/").split("/")  # api, plural, [id, [history]]
            registration = next(
                (r for r in REGISTRATIONS if len(parts) > 1 and r.plural == parts[1]),
                None,
            )
            items = body.get("results", [body]) if isinstance(body, dict) else body
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict):
                    continue
                if "company" in item:
                    assert item["company"] == company.pk, (actor, path, item)
                if registration is None:
                    continue
                model = registration.model
                if parts[-1] == "history" and "history_id" in item:
                    assert model.history.filter(
                        history_id=item["history_id"], company_id=company.pk
                    ).exists(), (actor, path, item)
                elif "id" in item and "version" in item:
                    assert model.objects.filter(
                        pk=item["id"], company=company
                    ).exists(), (actor, path, item)
                for field in reference_fields(model):
                    value = item.get(field.name)
                    if value is not None:
                        assert field.related_model.objects.filter(
                            pk=value, company=company
                        ).exists(), (actor, path, field.name, value)

        @staticmethod
        def ids(registration, company_index: int, *, deleted=False) -> list[int]:
            model = registration.model
            company = companies[company_index]
            live = list(
                model.objects.filter(company=company).values_list("pk", flat=True)
            )
            if not deleted:
                return sorted(live)
            gone = set(
                model.history.filter(
                    company_id=company.pk, history_type="-"
                ).values_list("id", flat=True)
            )
            return sorted(gone - set(live))

        def own_payload(self, registration, actor: Actor) -> dict:
            index = actor.company_index
            references = {}
            for field in reference_fields(registration.model):
                related = next(
                    r for r in REGISTRATIONS if r.model is field.related_model
                )
                existing = self.ids(related, index)
                references[field.name] = (
                    related.model.objects.get(pk=existing[0])
                    if existing
                    else sampler.create(
                        related, company=companies[index], marker=MARKERS[index]
                    )
                )
            return sampler.payload(
                registration,
                company=companies[index],
                marker=MARKERS[index],
                references=references,
            )

        @staticmethod
        def snapshot(registration, pk):
            row = registration.model.objects.filter(pk=pk).values().first()
            return row, registration.model.history.filter(id=pk).count()

        # -- rules ------------------------------------------------------------

        @rule(
            actor=st.sampled_from(actors), registration=st.sampled_from(REGISTRATIONS)
        )
        def create_own(self, actor, registration):
            body = self.own_payload(registration, actor)
            # A company in the body is read-only and must never move the object.
            body["company"] = companies[(actor.company_index + 1) % 3].pk
            response = self.call(actor, "post", f"/api/{registration.plural}/", body)
            assert response.status_code == 201, response.content[:300]
            assert response.json()["company"] == companies[actor.company_index].pk

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(
                [r for r in REGISTRATIONS if reference_fields(r.model)] or REGISTRATIONS
            ),
            data=st.data(),
        )
        def create_with_foreign_reference(self, actor, registration, data):
            fields = reference_fields(registration.model)
            if not fields:
                return
            field = data.draw(st.sampled_from(fields))
            related = next(r for r in REGISTRATIONS if r.model is field.related_model)
            other = data.draw(
                st.sampled_from([i for i in range(3) if i != actor.company_index])
            )
            candidates = self.ids(related, other)
            if not candidates:
                return
            body = self.own_payload(registration, actor)
            body[field.name] = data.draw(st.sampled_from(candidates))
            before = registration.model.objects.count()
            response = self.call(actor, "post", f"/api/{registration.plural}/", body)
            assert response.status_code in (400, 404), response.content[:300]
            assert field.name in response.json() or response.status_code == 404
            assert registration.model.objects.count() == before

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(REGISTRATIONS),
            data=st.data(),
        )
        def read_own(self, actor, registration, data):
            base = f"/api/{registration.plural}/"
            own = self.ids(registration, actor.company_index)
            gone = self.ids(registration, actor.company_index, deleted=True)
            if own:
                pk = data.draw(st.sampled_from(own))
                assert self.call(actor, "get", f"{base}{pk}/").status_code == 200
                assert (
                    self.call(actor, "get", f"{base}{pk}/history/").status_code == 200
                )
            if gone:
                pk = data.draw(st.sampled_from(gone))
                # History outlives the object, for its own company only.
                assert (
                    self.call(actor, "get", f"{base}{pk}/history/").status_code == 200
                )

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(REGISTRATIONS),
            data=st.data(),
        )
        def list_with_parameters(self, actor, registration, data):
            other = data.draw(
                st.sampled_from([i for i in range(3) if i != actor.company_index])
            )
            queries = ["", "ordering=-id", "page_size=2", f"search={MARKERS[other]}"]
            if text_fields(registration):
                queries.append(f"search={MARKERS[actor.company_index]}")
            for name in registration.filter_fields:
                field = registration.model._meta.get_field(name)
                if field.is_relation:
                    related = next(
                        r for r in REGISTRATIONS if r.model is field.related_model
                    )
                    for pk in self.ids(related, other)[:1]:
                        queries.append(f"{name}={pk}")
            query = data.draw(st.sampled_from(queries))
            response = self.call(actor, "get", f"/api/{registration.plural}/?{query}")
            if query.startswith(tuple(f"{n}=" for n in registration.filter_fields)):
                # Another company's id is an invalid choice, like a missing one.
                assert response.status_code == 400, response.content[:300]
            else:
                assert response.status_code == 200, response.content[:300]
                if query == f"search={MARKERS[other]}":
                    assert response.json()["count"] == 0

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(REGISTRATIONS),
            method=st.sampled_from(["get", "patch", "put", "delete", "history"]),
            include_deleted=st.booleans(),
            data=st.data(),
        )
        def access_foreign(self, actor, registration, method, include_deleted, data):
            # The multi-company user reaches company 2 only with the header; without
            # it, company 2's objects are "foreign" to its default company too.
            other = data.draw(
                st.sampled_from([i for i in range(3) if i != actor.company_index])
            )
            candidates = self.ids(registration, other, deleted=include_deleted)
            if not candidates:
                return
            pk = data.draw(st.sampled_from(candidates))
            before = self.snapshot(registration, pk)
            base = f"/api/{registration.plural}/{pk}/"
            if method == "history":
                response = self.call(actor, "get", f"{base}history/")
            elif method in ("patch", "put"):
                body = self.own_payload(registration, actor)
                body["version"] = 1
                response = self.call(actor, method, base, body)
            else:
                response = self.call(actor, method, base)
            assert response.status_code == 404, (actor, method, base, response.content)
            assert self.snapshot(registration, pk) == before

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(REGISTRATIONS),
            method=st.sampled_from(["list", "post", "get", "history"]),
            data=st.data(),
        )
        def foreign_company_header(self, actor, registration, method, data):
            outsider = data.draw(
                st.sampled_from([i for i in range(3) if i not in actor.member_of])
            )
            base = f"/api/{registration.plural}/"
            own = self.ids(registration, outsider)
            pk = own[0] if own else 1
            before = registration.model.objects.count()
            path, verb, body = {
                "list": (base, "get", None),
                "post": (base, "post", {"name": "x"}),
                "get": (f"{base}{pk}/", "get", None),
                "history": (f"{base}{pk}/history/", "get", None),
            }[method]
            response = self.call(actor, verb, path, body, company_index=outsider)
            assert response.status_code == 403, response.content[:300]
            for marker in MARKERS:
                assert marker not in response.content.decode()
            assert registration.model.objects.count() == before

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(REGISTRATIONS),
            stale=st.booleans(),
            data=st.data(),
        )
        def update_own(self, actor, registration, stale, data):
            own = self.ids(registration, actor.company_index)
            if not own:
                return
            pk = data.draw(st.sampled_from(own))
            current = registration.model.objects.get(pk=pk).version
            body = self.own_payload(registration, actor)
            for field in reference_fields(registration.model):
                body.pop(field.name)
            body["version"] = current + 1 if stale else current
            response = self.call(
                actor, "patch", f"/api/{registration.plural}/{pk}/", body
            )
            assert response.status_code == (409 if stale else 200), response.content

        @rule(
            actor=st.sampled_from(actors),
            registration=st.sampled_from(REGISTRATIONS),
            data=st.data(),
        )
        def delete_own(self, actor, registration, data):
            own = self.ids(registration, actor.company_index)
            if not own:
                return
            pk = data.draw(st.sampled_from(own))
            response = self.call(actor, "delete", f"/api/{registration.plural}/{pk}/")
            # 409: still referenced by another object of the company.
            assert response.status_code in (204, 409), response.content[:300]

        if AUDIT_LOG:

            @rule(actor=st.sampled_from(actors), query=st.sampled_from(AUDIT_QUERIES))
            def read_audit_log(self, actor, query):
                response = self.call(actor, "get", f"{AUDIT_LOG}?{query}")
                # Company admins only; members are refused.
                assert response.status_code in (200, 403), response.content[:300]
                if response.status_code != 200:
                    return
                company = companies[actor.company_index]
                for entry in response.json()["results"]:
                    model = next(
                        r.model for r in REGISTRATIONS if r.name == entry["object_type"]
                    )
                    assert model.history.filter(
                        history_id=entry["history_id"], company_id=company.pk
                    ).exists(), (actor, entry)

        if EVENTS:

            @rule(actor=st.sampled_from(actors), query=st.sampled_from(EVENT_QUERIES))
            def read_events(self, actor, query):
                response = self.call(actor, "get", f"{EVENTS}?{query}")
                assert response.status_code == 200, response.content[:300]
                company = companies[actor.company_index]
                for event in response.json()["results"]:
                    assert str(event["company_id"]) == str(company.pk), (actor, event)

        @rule(actor=st.sampled_from(actors))
        def list_companies(self, actor):
            response = self.call(actor, "get", "/api/companies/")
            assert response.status_code == 200
            assert {c["id"] for c in response.json()} == {
                companies[i].pk for i in actor.member_of
            }

    return TenantIsolation


def test_no_company_ever_sees_another(tenants):
    sampler = Sampler()
    # Every company starts with one object of each kind, so foreign targets exist.
    for index, tenant in enumerate(tenants):
        for registration in REGISTRATIONS:
            sampler.create(registration, company=tenant.company, marker=MARKERS[index])
    run_state_machine_as_test(
        make_machine(tenants, sampler),
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
