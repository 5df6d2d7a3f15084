"""Custom-field lifecycle: a definition change keeps "what the API shows is what
history and events say" (issue 12).

After every change that alters what the API shows of an object, the object's
GET, the payload of its last outbox event and the state rebuilt from its
history agree, and its version went up by exactly one.
"""

import re

import pytest

from events.models import OutboxEvent
from extensions.models import ExtensionValue, FieldDefinition

pytestmark = pytest.mark.django_db

URL = "/api/custom-fields/"


def _events(pk) -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(aggregate_type="partner", aggregate_id=str(pk))
    )


def _rebuilt(client, pk) -> tuple[dict, dict]:
    """Custom-field values rebuilt from the history API, and its newest entry."""
    entries = client.get(f"/api/partners/{pk}/history/?page_size=100").json()
    entries = entries["results"]
    state: dict = {}
    for entry in reversed(entries):  # oldest first
        for key, change in entry["changes"].items():
            if key.startswith("extensions."):
                state[key.removeprefix("extensions.")] = change["new"]
    return {k: v for k, v in state.items() if v is not None}, entries[0]


def _history_count(client, pk) -> int:
    return client.get(f"/api/partners/{pk}/history/").json()["count"]


def _snapshot(client, pks) -> dict:
    return {
        pk: (
            client.get(f"/api/partners/{pk}/").json()["version"],
            len(_events(pk)),
            _history_count(client, pk),
        )
        for pk in pks
    }


def _set(body: dict) -> dict:
    """``body`` with unset custom fields left out: a null and no key are the same
    (adding a field shows it as null on every object without an event)."""
    extensions = {k: v for k, v in body["extensions"].items() if v is not None}
    return {**body, "extensions": extensions}


def assert_consistent(client, pk, before: dict | None = None, bumped: bool = True):
    """GET == last event's payload == history; version bumped once (or not)."""
    body = client.get(f"/api/partners/{pk}/").json()
    events = _events(pk)
    last = events[-1]
    assert _set(last.payload) == _set(body)
    assert last.version == body["version"]
    shown = {k: v for k, v in body["extensions"].items() if v is not None}
    state, newest = _rebuilt(client, pk)
    assert state == shown
    if before is not None:
        version, count, entries = before[pk]
        assert body["version"] == version + (1 if bumped else 0)
        assert len(events) == count + (1 if bumped else 0)
        assert _history_count(client, pk) == entries + (1 if bumped else 0)
        if bumped:
            assert last.event_type == "partner.updated"
            assert newest["action"] == "updated"
    return body, last, newest


# -- 1. changes that change what the API shows ---------------------------------


def test_type_change_converts_through_the_services(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "code", "string")
    define(company_a, "other", "string")
    p1 = partner(company_a, extensions={"code": "12", "other": "x"})
    p2 = partner(company_a, extensions={"code": "7"})
    untouched = partner(company_a, extensions={"other": "y"})
    client = api(admin_a)
    before = _snapshot(client, [p1.pk, p2.pk, untouched.pk])
    response = client.patch(
        f"{URL}{definition.pk}/",
        {"field_type": "integer"},
        format="json",
        HTTP_X_CORRELATION_ID="retype-1",
    )
    assert response.status_code == 200, response.json()
    body, event, entry = assert_consistent(client, p1.pk, before)
    assert body["extensions"] == {"code": 12, "other": "x"}
    assert event.changes == {"extensions.code": {"old": "12", "new": 12}}
    assert event.correlation_id == "retype-1"
    assert entry["changes"] == {"extensions.code": {"old": "12", "new": 12}}
    assert entry["correlation_id"] == "retype-1"
    assert assert_consistent(client, p2.pk, before)[0]["extensions"]["code"] == 7
    assert_consistent(client, untouched.pk, before, bumped=False)
    assert (
        ExtensionValue.objects.get(object_id=p1.pk, definition=definition).value_integer
        == 12
    )


def test_type_change_refused_lists_offending_ids(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "code", "string")
    good = partner(company_a, extensions={"code": "12"})
    bad = partner(company_a, extensions={"code": "twelve"})
    client = api(admin_a)
    before = _snapshot(client, [good.pk, bad.pk])
    response = client.patch(
        f"{URL}{definition.pk}/", {"field_type": "integer"}, format="json"
    )
    assert response.status_code == 400
    assert f"object {bad.pk}" in response.json()["field_type"][0]
    assert _snapshot(client, [good.pk, bad.pk]) == before


def test_type_change_that_shows_the_same_writes_no_event(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "n", "integer")
    p = partner(company_a, extensions={"n": 5})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    response = client.patch(
        f"{URL}{definition.pk}/", {"field_type": "json"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body, *_ = assert_consistent(client, p.pk, before, bumped=False)
    assert body["extensions"] == {"n": 5}
    assert ExtensionValue.objects.get(object_id=p.pk).value_json == 5


def test_rename_is_one_update_per_object(api, admin_a, company_a, define, partner):
    definition = define(company_a, "colour", "string")
    p = partner(company_a, extensions={"colour": "red"})
    empty = partner(company_a)
    client = api(admin_a)
    before = _snapshot(client, [p.pk, empty.pk])
    response = client.patch(f"{URL}{definition.pk}/", {"name": "color"}, format="json")
    assert response.status_code == 200, response.json()
    body, event, entry = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {"color": "red"}
    expected = {
        "extensions.colour": {"old": "red", "new": None},
        "extensions.color": {"old": None, "new": "red"},
    }
    assert event.changes == expected
    assert entry["changes"] == expected
    # An object without a value shows `color: null` now instead of `colour: null`;
    # its last event still says `colour: null`. Nulls are the absence of a value.
    assert_consistent(client, empty.pk, before, bumped=False)


def test_deactivate_and_reactivate_are_updates(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    response = client.patch(
        f"{URL}{definition.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 200, response.json()
    body, event, _ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {}
    assert event.changes == {"extensions.tier": {"old": "gold", "new": None}}
    assert ExtensionValue.objects.filter(object_id=p.pk).count() == 1  # kept

    before = _snapshot(client, [p.pk])
    response = client.patch(
        f"{URL}{definition.pk}/", {"is_active": True}, format="json"
    )
    assert response.status_code == 200
    body, event, _ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {"tier": "gold"}
    assert event.changes == {"extensions.tier": {"old": None, "new": "gold"}}


def test_delete_that_deactivates_is_an_update(api, admin_a, company_a, define, partner):
    definition = define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    response = client.delete(f"{URL}{definition.pk}/")
    assert response.status_code == 200
    assert response.json()["deactivated"] is True
    body, event, _ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {}
    assert event.changes == {"extensions.tier": {"old": "gold", "new": None}}


def test_purge_is_an_update_per_object(api, admin_a, company_a, define, partner):
    definition = define(company_a, "tier", "string")
    define(company_a, "rank", "integer")
    p = partner(company_a, extensions={"tier": "gold", "rank": 2})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    response = client.delete(f"{URL}{definition.pk}/?purge=true")
    assert response.status_code == 204
    body, event, _ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {"rank": 2}
    assert event.changes == {"extensions.tier": {"old": "gold", "new": None}}
    assert not FieldDefinition.objects.filter(pk=definition.pk).exists()


def test_purge_of_an_inactive_field_changes_nothing_shown(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    client = api(admin_a)
    client.patch(f"{URL}{definition.pk}/", {"is_active": False}, format="json")
    before = _snapshot(client, [p.pk])
    assert client.delete(f"{URL}{definition.pk}/?purge=true").status_code == 204
    assert_consistent(client, p.pk, before, bumped=False)
    assert not ExtensionValue.objects.exists()


def test_put_with_rename_and_type_change(api, admin_a, company_a, define, partner):
    definition = define(company_a, "code", "string")
    p = partner(company_a, extensions={"code": "3"})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    response = client.put(
        f"{URL}{definition.pk}/",
        {"model": "partner", "name": "number", "field_type": "integer"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body, event, _ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {"number": 3}
    assert event.changes == {
        "extensions.code": {"old": "3", "new": None},
        "extensions.number": {"old": None, "new": 3},
    }


def test_many_objects_are_converted_in_batches(
    api, admin_a, company_a, define, partner, settings
):
    settings.MERP = {**getattr(settings, "MERP", {}), "BULK_BATCH_SIZE": 3}
    definition = define(company_a, "code", "string")
    pks = [
        partner(company_a, name=f"P{i}", extensions={"code": str(i)}).pk
        for i in range(7)
    ]
    client = api(admin_a)
    before = _snapshot(client, pks)
    response = client.patch(
        f"{URL}{definition.pk}/", {"field_type": "integer"}, format="json"
    )
    assert response.status_code == 200, response.json()
    for i, pk in enumerate(pks):
        assert assert_consistent(client, pk, before)[0]["extensions"] == {"code": i}


# -- 2. tightening rules over stored values --------------------------------------


@pytest.mark.parametrize(
    ("field_type", "attrs", "values", "tightened", "loosened"),
    [
        ("string", {}, ["abc", "abcdef"], {"max_length": 4}, {"max_length": 6}),
        ("string", {}, ["abc", "ab1"], {"regex": "^[a-z]+$"}, {"regex": "^[a-z0-9]+$"}),
        (
            "choice",
            {"choices": ["a", "b", "c"]},
            ["a", "b"],
            {"choices": ["a", "c"]},
            {"choices": ["a", "b"]},
        ),
        ("integer", {}, [5, 1], {"min_value": 3}, {"min_value": 1}),
        ("integer", {}, [5, 9], {"max_value": 6}, {"max_value": 9}),
        ("decimal", {}, ["5.5", "9.5"], {"max_value": "6"}, {"max_value": "9.5"}),
        ("date", {}, ["2024-01-01", "2025-06-01"], {"max_value": "2024-12-31"}, {}),
    ],
)
def test_tightening_over_stored_values_is_refused(
    api,
    admin_a,
    company_a,
    define,
    partner,
    field_type,
    attrs,
    values,
    tightened,
    loosened,
):
    definition = define(company_a, "f", field_type, **attrs)
    ok = partner(company_a, extensions={"f": values[0]})
    bad = partner(company_a, extensions={"f": values[1]})
    client = api(admin_a)
    response = client.patch(f"{URL}{definition.pk}/", tightened, format="json")
    assert response.status_code == 400, response.json()
    (attr,) = tightened
    message = response.json()[attr][0]
    assert f"{bad.pk}" in message
    assert f"{ok.pk}" not in message.split(":", 1)[1]
    assert "1 object" in message
    definition.refresh_from_db()
    assert getattr(definition, attr) != tightened[attr]
    if loosened:
        assert (
            client.patch(f"{URL}{definition.pk}/", loosened, format="json").status_code
            == 200
        )


def test_required_refused_while_objects_lack_a_value(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "vat", "string")
    partner(company_a, extensions={"vat": "DE1"})
    missing = partner(company_a)
    client = api(admin_a)
    response = client.patch(f"{URL}{definition.pk}/", {"required": True}, format="json")
    assert response.status_code == 400
    assert f"{missing.pk}" in response.json()["required"][0]
    client.patch(
        f"/api/partners/{missing.pk}/", {"extensions": {"vat": "DE2"}}, format="json"
    )
    response = client.patch(f"{URL}{definition.pk}/", {"required": True}, format="json")
    assert response.status_code == 200, response.json()
    assert (
        client.patch(
            f"{URL}{definition.pk}/", {"required": False}, format="json"
        ).status_code
        == 200
    )


def test_offending_list_is_capped_with_a_count(
    api, admin_a, company_a, define, partner
):
    definition = define(company_a, "f", "string")
    pks = [
        partner(company_a, name=f"P{i}", extensions={"f": "toolong"}).pk
        for i in range(13)
    ]
    response = api(admin_a).patch(
        f"{URL}{definition.pk}/", {"max_length": 3}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["max_length"][0]
    assert message.startswith("13 objects hold a value that breaks the new max_length")
    listed = re.search(r": ([0-9, ]+) and 3 more\.", message)
    assert [int(pk) for pk in listed.group(1).split(", ")] == pks[:10]


# -- 3. names ---------------------------------------------------------------------


def test_name_with_double_underscore_is_refused(api, admin_a, company_a, define):
    client = api(admin_a)
    response = client.post(
        URL,
        {"model": "partner", "name": "x__gt", "field_type": "string"},
        format="json",
    )
    assert response.status_code == 400
    assert "__" in response.json()["name"][0]
    definition = define(company_a, "x_gt", "string")
    response = client.patch(f"{URL}{definition.pk}/", {"name": "x__gt"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert FieldDefinition.objects.get().name == "x_gt"


# -- 4. the admin: the same rules ------------------------------------------------

DEFS = "/admin/extensions/fielddefinition/"


def _form(company, definition, **overrides):
    data = {
        "company": company.pk,
        "model": "partner",
        "name": definition.name,
        "label": definition.label,
        "field_type": definition.field_type,
        "required": "on" if definition.required else "",
        "default": "",
        "choices": "\n".join(definition.choices),
        "min_value": "",
        "max_value": "",
        "max_length": definition.max_length or "",
        "decimal_places": "",
        "regex": definition.regex,
        "help_text": "",
        "is_active": "on" if definition.is_active else "",
        "order": definition.order,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def admin_client_a(client, admin_a):
    client.force_login(admin_a)
    return client


def test_admin_rename_and_type_change_are_updates(
    admin_client_a, api, admin_a, company_a, define, partner
):
    definition = define(company_a, "code", "string")
    p = partner(company_a, extensions={"code": "4"})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    response = admin_client_a.post(
        f"{DEFS}{definition.pk}/change/",
        _form(company_a, definition, name="number", field_type="integer"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    body, event, _ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {"number": 4}
    assert event.user_id == admin_a.pk


def test_admin_refuses_tightening_and_double_underscore(
    admin_client_a, company_a, define, partner
):
    definition = define(company_a, "code", "string")
    bad = partner(company_a, extensions={"code": "toolong"})
    response = admin_client_a.post(
        f"{DEFS}{definition.pk}/change/", _form(company_a, definition, max_length="3")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert str(bad.pk) in str(errors["max_length"])
    response = admin_client_a.post(
        f"{DEFS}{definition.pk}/change/", _form(company_a, definition, name="a__b")
    )
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    definition.refresh_from_db()
    assert (definition.name, definition.max_length) == ("code", None)


def test_admin_deactivate_action_and_list_edit_are_updates(
    admin_client_a, api, admin_a, company_a, define, partner
):
    definition = define(company_a, "tier", "string")
    p = partner(company_a, extensions={"tier": "gold"})
    client = api(admin_a)
    before = _snapshot(client, [p.pk])
    admin_client_a.post(
        DEFS, {"action": "deactivate", "_selected_action": [definition.pk]}
    )
    body, *_ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {}
    before = _snapshot(client, [p.pk])
    response = admin_client_a.post(
        DEFS,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(definition.pk),
            "form-0-order": "0",
            "form-0-is_active": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    body, *_ = assert_consistent(client, p.pk, before)
    assert body["extensions"] == {"tier": "gold"}


# -- concurrency -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_value_written_during_a_type_change_is_converted_too(
    api, admin_a, company_a, define, partner
):
    """A writer that validated against the old type and is still open when the
    change starts: the change waits for it and converts its value too."""
    import threading

    from django.db import connection, connections

    from businessobjects import services as bo
    from extensions import services

    definition = define(company_a, "code", "string")
    holder = partner(company_a, extensions={"code": "1"})
    late = partner(company_a)
    client = api(admin_a)
    written, release = threading.Event(), threading.Event()
    failures = []

    def writer():
        try:
            with transaction.atomic():
                bo.update(late, extensions={"code": "42"})
                written.set()
                release.wait(60)
        except Exception as exc:  # reported below
            failures.append(exc)
            written.set()
        finally:
            connections.close_all()

    def change():
        try:
            services.definition_update(definition, field_type="integer")
        except Exception as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    from django.db import transaction

    first = threading.Thread(target=writer)
    first.start()
    assert written.wait(60)
    second = threading.Thread(target=change)
    second.start()
    # Wait (bounded) until the change waits for the writer's lock.
    with connection.cursor() as cursor:
        for _ in range(600):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
            second.join(0.05)
    release.set()
    first.join(60)
    second.join(60)
    assert not failures, [str(f) for f in failures]
    for pk, value in ((holder.pk, 1), (late.pk, 42)):
        body, event, _ = assert_consistent(client, pk)
        assert body["extensions"] == {"code": value}
        assert event.changes == {"extensions.code": {"old": str(value), "new": value}}
