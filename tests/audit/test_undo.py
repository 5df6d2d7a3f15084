"""POST /api/audit/undo/: one correlation id undone in one transaction."""

import io

import pytest

from businessobjects import context, services
from businessobjects.imports import import_rows
from businessobjects.models import Address, Partner
from events.models import OutboxEvent
from extensions import services as ext

pytestmark = pytest.mark.django_db

UNDO = "/api/audit/undo/"


@pytest.fixture
def client_a(api, admin_a, company_a):
    return api(admin_a, company_a)


def write(correlation_id: str, fn, *args, **kwargs):
    """Run one service call under ``correlation_id`` (as a request would)."""
    with context.use_context(correlation_id=correlation_id):
        return fn(*args, **kwargs)


def create_partner(company, correlation_id="setup", extensions=None, **data):
    return write(
        correlation_id,
        services.create,
        Partner,
        data={"name": "Acme", **data},
        extensions=extensions,
        company=company,
    )


def snapshot():
    """Everything an undo could write, to prove that nothing was written."""
    return (
        list(Partner.objects.order_by("pk").values()),
        Partner.history.count(),
        OutboxEvent.objects.count(),
    )


def undo_events(correlation_id):
    return list(
        OutboxEvent.objects.filter(correlation_id=correlation_id)
        .order_by("id")
        .values_list("event_type", "aggregate_id")
    )


def test_undo_a_create_deletes_it(client_a, company_a, fake_extensions):
    partner = create_partner(company_a, "c-create", extensions={"tier": "gold"})

    response = client_a.post(
        UNDO,
        {"correlation_id": "c-create"},
        format="json",
        HTTP_X_CORRELATION_ID="the-undo",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["undo_correlation_id"] == "the-undo"
    assert body["reason"] == "undo c-create"
    assert [(s["object_id"], s["action"]) for s in body["steps"]] == [
        (partner.pk, "delete")
    ]
    assert not Partner.objects.filter(pk=partner.pk).exists()
    assert undo_events("the-undo") == [("partner.deleted", str(partner.pk))]
    last = Partner.history.filter(id=partner.pk).latest("history_id")
    assert (last.history_type, last.correlation_id, last.history_change_reason) == (
        "-",
        "the-undo",
        "undo c-create",
    )


def test_undo_an_update_restores_the_fields_it_changed(
    client_a, company_a, fake_extensions
):
    partner = create_partner(
        company_a, phone="1", email="a@example.com", extensions={"tier": "silver"}
    )
    write(
        "c-update",
        services.update,
        partner,
        data={"name": "Renamed", "email": "b@example.com"},
        extensions={"tier": "gold", "score": 5},
    )
    # A later change of another field: no conflict, and the undo keeps it.
    write("c-later", services.update, partner, data={"phone": "2"})

    response = client_a.post(
        UNDO, {"correlation_id": "c-update"}, format="json", HTTP_X_CORRELATION_ID="u"
    )

    assert response.status_code == 200, response.content
    partner.refresh_from_db()
    assert (partner.name, partner.email, partner.phone) == (
        "Acme",
        "a@example.com",
        "2",
    )
    assert partner.version == 4
    assert fake_extensions.current_values(partner) == {"tier": "silver"}
    assert undo_events("u") == [("partner.updated", str(partner.pk))]
    event = OutboxEvent.objects.get(correlation_id="u")
    assert event.changes == {
        "name": {"old": "Renamed", "new": "Acme"},
        "email": {"old": "b@example.com", "new": "a@example.com"},
        "extensions.tier": {"old": "gold", "new": "silver"},
        "extensions.score": {"old": 5, "new": None},
    }
    entry = client_a.get(f"/api/partners/{partner.pk}/history/").json()["results"][0]
    assert (entry["correlation_id"], entry["reason"], entry["version"]) == (
        "u",
        "undo c-update",
        4,
    )


def test_undo_a_delete_restores_id_and_custom_fields(
    client_a, company_a, fake_extensions
):
    partner = create_partner(
        company_a, email="x@example.com", extensions={"tier": "gold", "score": 7}
    )
    created_at, pk = partner.created_at, partner.pk
    write("c-delete", services.delete, partner)

    response = client_a.post(
        UNDO, {"correlation_id": "c-delete"}, format="json", HTTP_X_CORRELATION_ID="u"
    )

    assert response.status_code == 200, response.content
    restored = Partner.objects.get(pk=pk)
    assert (restored.name, restored.email, restored.version) == (
        "Acme",
        "x@example.com",
        2,
    )
    assert restored.created_at == created_at
    assert fake_extensions.current_values(restored) == {"tier": "gold", "score": 7}
    assert undo_events("u") == [("partner.restored", str(pk))]
    event = OutboxEvent.objects.get(correlation_id="u")
    assert event.payload["extensions"] == {"tier": "gold", "score": 7}
    assert event.version == 2
    last = Partner.history.filter(id=pk).latest("history_id")
    assert (last.history_type, last.history_change_reason, last.version) == (
        "+",
        "undo c-delete",
        2,
    )
    # The API reads it again, and as_of still sees the gap.
    assert client_a.get(f"/api/partners/{pk}/").json()["extensions"]["tier"] == "gold"


def test_undo_orders_children_and_parents(client_a, company_a):
    def both():
        partner = services.create(Partner, data={"name": "P"}, company=company_a)
        address = services.create(
            Address, data={"partner": partner, "city": "Rome"}, company=company_a
        )
        return partner, address

    partner, address = write("c-both", both)
    # Undo of the creates: the address goes first (it refers to the partner).
    assert client_a.post(UNDO, {"correlation_id": "c-both"}).status_code == 200
    assert not Partner.objects.exists() and not Address.objects.exists()

    partner, address = write("c-again", both)

    def delete_both():
        services.delete(address)
        services.delete(partner)

    write("c-delete-both", delete_both)
    # Undo of the deletes: the partner comes back first.
    response = client_a.post(UNDO, {"correlation_id": "c-delete-both"})
    assert response.status_code == 200, response.content
    assert Address.objects.get(pk=address.pk).partner_id == partner.pk


def test_undo_a_bulk_import_undoes_all_of_it(client_a, company_a, admin_a):
    create_partner(company_a, name="Kept")
    csv = "name,email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(7))
    result = import_rows(
        Partner, io.StringIO(csv), company=company_a, user=admin_a, batch_size=3
    )
    assert result.created == 7
    assert Partner.objects.count() == 8

    response = client_a.post(UNDO, {"correlation_id": result.correlation_id})

    assert response.status_code == 200, response.content
    assert len(response.json()["steps"]) == 7
    assert list(Partner.objects.values_list("name", flat=True)) == ["Kept"]


def test_conflict_is_a_409_and_changes_nothing(client_a, company_a, fake_extensions):
    partner = create_partner(company_a, extensions={"tier": "silver"})
    write(
        "c-1",
        services.update,
        partner,
        data={"name": "One", "phone": "1"},
        extensions={"tier": "gold"},
    )
    write(
        "c-2",
        services.update,
        partner,
        data={"name": "Two"},
        extensions={"tier": "bronze"},
    )
    before = snapshot()

    response = client_a.post(UNDO, {"correlation_id": "c-1"}, format="json")

    assert response.status_code == 409, response.content
    assert sorted(
        (c["object_type"], c["object_id"], c["field"], c["correlation_id"])
        for c in response.json()["conflicts"]
    ) == [
        ("partner", partner.pk, "extensions.tier", "c-2"),
        ("partner", partner.pk, "name", "c-2"),
    ]
    assert snapshot() == before
    # Undoing the later change first works, then the earlier one.
    assert client_a.post(UNDO, {"correlation_id": "c-2"}).status_code == 200
    assert client_a.post(UNDO, {"correlation_id": "c-1"}).status_code == 200
    partner.refresh_from_db()
    assert (partner.name, partner.phone) == ("Acme", "")
    assert fake_extensions.current_values(partner) == {"tier": "silver"}


def test_undo_of_a_create_conflicts_with_any_later_change(client_a, company_a):
    partner = create_partner(company_a, "c-create")
    write("c-edit", services.update, partner, data={"phone": "9"})
    before = snapshot()
    response = client_a.post(UNDO, {"correlation_id": "c-create"})
    assert response.status_code == 409
    assert response.json()["conflicts"] == [
        {
            "object_type": "partner",
            "object_id": partner.pk,
            "field": "phone",
            "correlation_id": "c-edit",
        }
    ]
    assert snapshot() == before


def test_dry_run_writes_nothing(client_a, company_a):
    partner = create_partner(company_a)
    write("c-1", services.update, partner, data={"name": "One"})
    before = snapshot()

    response = client_a.post(f"{UNDO}?dry_run=true", {"correlation_id": "c-1"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True and body["undo_correlation_id"] is None
    assert body["steps"] == [
        {
            "object_type": "partner",
            "object_id": partner.pk,
            "action": "update",
            "changes": {"name": {"old": "One", "new": "Acme"}},
        }
    ]
    assert snapshot() == before


def test_other_companies_and_members_cannot_undo(
    api, client_a, company_a, company_b, admin_b, member_a
):
    create_partner(company_a, "c-a")
    before = snapshot()
    # Another company's correlation id looks like one that does not exist.
    other = api(admin_b, company_b).post(UNDO, {"correlation_id": "c-a"})
    missing = api(admin_b, company_b).post(UNDO, {"correlation_id": "nothing"})
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    refused = api(member_a, company_a).post(UNDO, {"correlation_id": "c-a"})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Only company admins may undo changes."}
    assert snapshot() == before


def test_undo_only_touches_the_requesting_company(
    api, client_a, company_a, company_b, admin_b
):
    # The same correlation id in two companies (a superuser's script, say).
    mine = create_partner(company_a, "shared")
    theirs = create_partner(company_b, "shared")
    assert client_a.post(UNDO, {"correlation_id": "shared"}).status_code == 200
    assert not Partner.objects.filter(pk=mine.pk).exists()
    assert Partner.objects.filter(pk=theirs.pk).exists()


def test_bad_input_is_a_400_naming_the_field(client_a):
    response = client_a.post(UNDO, {}, format="json")
    assert response.status_code == 400 and "correlation_id" in response.json()
    response = client_a.post(UNDO + "?dry_run=maybe", {"correlation_id": "x"})
    assert response.status_code == 400 and "dry_run" in response.json()
    response = client_a.post(UNDO, {"correlation_id": "a\x00b"}, format="json")
    assert response.status_code == 400 and "correlation_id" in response.json()


def test_undo_refuses_what_it_would_otherwise_ignore(client_a, company_a):
    """Not text, unknown fields and unknown parameters: a 400, never guessed."""
    partner = create_partner(company_a, "42")
    before = snapshot()
    # A number is not a correlation id (DRF's CharField would read it as "42").
    response = client_a.post(UNDO, {"correlation_id": 42}, format="json")
    assert response.status_code == 400
    assert "correlation_id" in response.json()
    # A typo beside the id (dryrun for ?dry_run=) must not undo for real.
    response = client_a.post(
        UNDO, {"correlation_id": "42", "dryrun": True}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"dryrun": ["Unknown field."]}
    response = client_a.post(UNDO + "?dryrun=true", {"correlation_id": "42"})
    assert response.status_code == 400 and "dryrun" in response.json()
    response = client_a.post(
        UNDO + "?as_of=2025-01-01&dry_run=true", {"correlation_id": "42"}
    )
    assert response.status_code == 400 and "as_of" in response.json()
    assert snapshot() == before
    assert Partner.objects.filter(pk=partner.pk).exists()


def test_undo_of_an_undo_redoes(client_a, company_a, fake_extensions):
    partner = create_partner(company_a)
    write("c-1", services.update, partner, data={"name": "One"})
    client_a.post(UNDO, {"correlation_id": "c-1"}, HTTP_X_CORRELATION_ID="u-1")
    partner.refresh_from_db()
    assert partner.name == "Acme"
    assert client_a.post(UNDO, {"correlation_id": "u-1"}).status_code == 200
    partner.refresh_from_db()
    assert partner.name == "One"


def test_undo_sets_custom_fields_through_set_extension(
    client_a, company_a, fake_extensions
):
    partner = create_partner(company_a)
    with context.use_context(correlation_id="c-ext"):
        ext.set_extension(partner, "score", 3)
    assert client_a.post(UNDO, {"correlation_id": "c-ext"}).status_code == 200
    assert fake_extensions.current_values(Partner.objects.get(pk=partner.pk)) == {}


def test_the_undo_never_reuses_the_correlation_id_it_undoes(client_a, company_a):
    partner = create_partner(company_a)
    write("c-1", services.update, partner, data={"name": "One"})
    response = client_a.post(
        UNDO, {"correlation_id": "c-1"}, HTTP_X_CORRELATION_ID="c-1"
    )
    assert response.status_code == 200
    own = response.json()["undo_correlation_id"]
    assert own and own != "c-1"
    last = Partner.history.filter(id=partner.pk).latest("history_id")
    assert last.correlation_id == own


def test_undo_outside_a_request_gets_a_fresh_correlation_id(company_a):
    from audit.undo import undo

    partner = create_partner(company_a)
    write("c-1", services.update, partner, data={"name": "One"})
    plan = undo(company=company_a, correlation_id="c-1")
    assert plan.undo_correlation_id not in (None, "c-1")
    assert (
        context.peek_correlation_id() is None
    )  # the caller's context is left as it was


def test_planning_an_import_undo_costs_the_same_for_more_rows(company_a, admin_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.undo import undo_plan

    def planned(rows: int) -> int:
        csv = "name\n" + "".join(f"P{i}\n" for i in range(rows))
        result = import_rows(Partner, io.StringIO(csv), company=company_a, user=admin_a)
        with CaptureQueriesContext(connection) as queries:
            plan = undo_plan(company=company_a, correlation_id=result.correlation_id)
        assert len(plan.steps) == rows
        return len(queries)

    assert planned(3) == planned(30)


def test_undo_of_an_update_then_delete_restores_the_state_before(
    client_a, company_a, fake_extensions
):
    partner = create_partner(company_a, phone="1", extensions={"tier": "silver"})
    pk = partner.pk

    def edit_then_delete():
        services.update(partner, data={"phone": "2"}, extensions={"tier": "gold"})
        services.delete(partner)

    write("c-both", edit_then_delete)
    response = client_a.post(UNDO, {"correlation_id": "c-both"}, format="json")
    assert response.status_code == 200, response.content
    assert [s["action"] for s in response.json()["steps"]] == ["restore"]
    restored = Partner.objects.get(pk=pk)
    assert (restored.phone, restored.version) == ("1", 3)
    assert fake_extensions.current_values(restored) == {"tier": "silver"}


def test_undo_of_a_create_then_update_deletes_it(client_a, company_a):
    def create_then_update():
        partner = services.create(Partner, data={"name": "N"}, company=company_a)
        services.update(partner, data={"name": "M"})
        return partner

    partner = write("c-cu", create_then_update)
    response = client_a.post(UNDO, {"correlation_id": "c-cu"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["steps"] == [
        {
            "object_type": "partner",
            "object_id": partner.pk,
            "action": "delete",
            "changes": {
                "name": {"old": "M", "new": None},
                "email": {"old": "", "new": None},
                "phone": {"old": "", "new": None},
                "is_active": {"old": True, "new": None},
            },
        }
    ]
    assert not Partner.objects.filter(pk=partner.pk).exists()


def test_restore_refuses_an_id_that_exists(company_a):
    from businessobjects.exceptions import ObjectInUse

    partner = create_partner(company_a)
    events = OutboxEvent.objects.count()
    with pytest.raises(ObjectInUse):
        services.restore(
            Partner, pk=partner.pk, data={"name": "X"}, version=2, company=company_a
        )
    assert OutboxEvent.objects.count() == events
    assert Partner.objects.get(pk=partner.pk).name == "Acme"
