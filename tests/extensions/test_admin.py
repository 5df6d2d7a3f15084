"""Admin: define, edit, order and deactivate custom fields; custom fields as form
fields on business-object change forms, saved through the services."""

import pytest

from businessobjects.models import Partner
from extensions.models import ExtensionValue, FieldDefinition

pytestmark = pytest.mark.django_db

DEFS = "/admin/extensions/fielddefinition/"


@pytest.fixture
def admin_client_a(client, admin_a):
    client.force_login(admin_a)
    return client


def _definition_form(company, **overrides):
    data = {
        "company": company.pk,
        "model": "partner",
        "name": "tier",
        "label": "",
        "field_type": "choice",
        "required": "",
        "default": "",
        "choices": "gold\nsilver\n",
        "min_value": "",
        "max_value": "",
        "max_length": "",
        "decimal_places": "",
        "regex": "",
        "help_text": "Customer tier",
        "is_active": "on",
        "order": "1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_company_admin_defines_a_field(admin_client_a, company_a):
    assert admin_client_a.get(f"{DEFS}add/").status_code == 200
    response = admin_client_a.post(f"{DEFS}add/", _definition_form(company_a))
    assert response.status_code == 302, response.context["adminform"].form.errors
    definition = FieldDefinition.objects.get()
    assert (definition.company, definition.model_name) == (company_a, "partner")
    assert definition.choices == ["gold", "silver"]
    assert definition.label == "Tier"


def test_admin_definition_form_validates(admin_client_a, company_a):
    response = admin_client_a.post(
        f"{DEFS}add/",
        _definition_form(company_a, field_type="integer", choices="", min_value="x"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "min_value" in errors
    assert not FieldDefinition.objects.exists()


def test_admin_typed_bounds_and_default(admin_client_a, company_a):
    response = admin_client_a.post(
        f"{DEFS}add/",
        _definition_form(
            company_a,
            name="credit_limit",
            field_type="decimal",
            choices="",
            decimal_places="2",
            min_value="0",
            default="100",
        ),
    )
    assert response.status_code == 302
    definition = FieldDefinition.objects.get()
    assert (definition.min_value, definition.default) == ("0.00", "100.00")
    page = admin_client_a.get(f"{DEFS}{definition.pk}/change/")
    assert page.context["adminform"].form.initial["default"] == "100.00"


def test_company_admin_cannot_use_other_company(
    admin_client_a, company_a, company_b, define
):
    theirs = define(company_b, "secret", "string")
    mine = define(company_a, "tier", "string")
    listing = admin_client_a.get(DEFS)
    assert list(listing.context["cl"].result_list) == [mine]
    assert admin_client_a.get(f"{DEFS}{theirs.pk}/change/").status_code == 302
    response = admin_client_a.post(
        f"{DEFS}add/", _definition_form(company_b, name="sneaky")
    )
    assert response.status_code == 200
    assert "company" in response.context["adminform"].form.errors
    assert not FieldDefinition.objects.filter(name="sneaky").exists()


def test_member_cannot_open_admin(client, member_a, company_a):
    client.force_login(member_a)
    assert client.get(DEFS).status_code == 302  # to the login page


def test_admin_edit_type_change_refused(admin_client_a, company_a, define, partner):
    definition = define(company_a, "score", "string")
    partner(company_a, extensions={"score": "high"})
    response = admin_client_a.post(
        f"{DEFS}{definition.pk}/change/",
        _definition_form(company_a, name="score", field_type="integer", choices=""),
    )
    assert response.status_code == 200
    assert "do not convert" in str(response.context["adminform"].form.errors)
    definition.refresh_from_db()
    assert definition.field_type == "string"


def test_admin_orders_in_the_list(admin_client_a, company_a, define):
    first = define(company_a, "a", "string", order=1)
    second = define(company_a, "b", "string", order=2)
    response = admin_client_a.post(
        DEFS,
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": str(first.pk),
            "form-0-order": "5",
            "form-0-is_active": "on",
            "form-1-id": str(second.pk),
            "form-1-order": "2",
            "form-1-is_active": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.order == 5
    from extensions.services import definitions_for

    assert [d.name for d in definitions_for(company_a, Partner)] == ["b", "a"]


def test_admin_deactivate_action(admin_client_a, company_a, define):
    definition = define(company_a, "tier", "string")
    response = admin_client_a.post(
        DEFS, {"action": "deactivate", "_selected_action": [definition.pk]}
    )
    assert response.status_code == 302
    definition.refresh_from_db()
    assert definition.is_active is False


def test_admin_delete_with_values_deactivates(
    admin_client_a, company_a, define, partner
):
    definition = define(company_a, "tier", "string")
    partner(company_a, extensions={"tier": "gold"})
    confirm = admin_client_a.get(f"{DEFS}{definition.pk}/delete/")
    assert confirm.status_code == 200
    assert not confirm.context["protected"]
    response = admin_client_a.post(
        f"{DEFS}{definition.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("deactivated instead of deleted" in m for m in messages)
    assert not any("deleted successfully" in m for m in messages)
    definition.refresh_from_db()
    assert definition.is_active is False
    assert ExtensionValue.objects.count() == 1


def test_admin_delete_without_values_deletes(admin_client_a, company_a, define):
    definition = define(company_a, "tier", "string")
    response = admin_client_a.post(f"{DEFS}{definition.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not FieldDefinition.objects.exists()


# -- custom fields on a business object's admin form ------------------------------

PARTNERS = "/admin/businessobjects/partner/"


@pytest.fixture
def fields(company_a, define):
    define(company_a, "tier", "choice", choices=["gold", "silver"], order=1)
    define(
        company_a, "credit_limit", "decimal", decimal_places=2, min_value="0", order=2
    )
    define(company_a, "since", "date", order=3)
    define(company_a, "vip", "boolean", order=4)


def _partner_form(**overrides):
    data = {
        "name": "Acme",
        "email": "",
        "phone": "",
        "is_active": "on",
        "ext__tier": "",
        "ext__credit_limit": "",
        "ext__since": "",
        "ext__vip": "unknown",
    }
    data.update(overrides)
    return data


def test_change_form_shows_custom_fields(admin_client_a, company_a, fields, partner):
    p = partner(company_a, extensions={"tier": "gold", "credit_limit": "12.5"})
    page = admin_client_a.get(f"{PARTNERS}{p.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert list(f for f in form.fields if f.startswith("ext__")) == [
        "ext__tier",
        "ext__credit_limit",
        "ext__since",
        "ext__vip",
    ]
    assert form.initial["ext__tier"] == "gold"
    assert str(form.initial["ext__credit_limit"]) == "12.50"
    assert "Custom fields" in page.content.decode()
    assert 'name="ext__credit_limit"' in page.content.decode()


def test_change_form_saves_through_services(
    admin_client_a, admin_a, company_a, fields, partner
):
    p = partner(company_a, extensions={"tier": "gold", "credit_limit": "12.5"})
    response = admin_client_a.post(
        f"{PARTNERS}{p.pk}/change/",
        _partner_form(
            name="P",
            ext__tier="silver",
            ext__credit_limit="12.50",
            ext__since="2024-03-01",
            ext__vip="true",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    p.refresh_from_db()
    assert p.version == 2
    from extensions.services import get_extensions

    assert get_extensions(p) == {
        "tier": "silver",
        "credit_limit": "12.50",
        "since": "2024-03-01",
        "vip": True,
    }
    latest = p.history.order_by("-history_id").first()
    assert latest.history_user == admin_a
    assert latest.changes == {
        "extensions.tier": {"old": "gold", "new": "silver"},
        "extensions.since": {"old": None, "new": "2024-03-01"},
        "extensions.vip": {"old": None, "new": True},
    }


def test_change_form_clears_a_value(admin_client_a, company_a, fields, partner):
    p = partner(company_a, extensions={"tier": "gold"})
    response = admin_client_a.post(f"{PARTNERS}{p.pk}/change/", _partner_form(name="P"))
    assert response.status_code == 302
    assert not ExtensionValue.objects.filter(object_id=p.pk).exists()


def test_change_form_validates_custom_fields(
    admin_client_a, company_a, fields, partner
):
    p = partner(company_a)
    response = admin_client_a.post(
        f"{PARTNERS}{p.pk}/change/",
        _partner_form(name="Renamed", ext__credit_limit="-5"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["ext__credit_limit"] == [
        "Ensure this value is greater than or equal to 0.00."
    ]
    p.refresh_from_db()
    assert (p.name, p.version) == ("P", 1)


def test_add_form_enforces_required_and_prefills_defaults(
    admin_client_a, company_a, define
):
    define(company_a, "vat_id", "string", required=True)
    define(company_a, "tier", "choice", choices=["gold", "silver"], default="silver")
    page = admin_client_a.get(f"{PARTNERS}add/")
    form = page.context["adminform"].form
    assert form.fields["ext__vat_id"].required is True
    assert form.initial["ext__tier"] == "silver"
    data = {
        "company": company_a.pk,
        "name": "New",
        "email": "",
        "phone": "",
        "is_active": "on",
        "ext__vat_id": "",
        "ext__tier": "silver",
    }
    missing = admin_client_a.post(f"{PARTNERS}add/", data)
    assert missing.status_code == 200
    assert "ext__vat_id" in missing.context["adminform"].form.errors
    assert not Partner.objects.exists()
    created = admin_client_a.post(f"{PARTNERS}add/", {**data, "ext__vat_id": "DE1"})
    assert created.status_code == 302
    from extensions.services import get_extensions

    assert get_extensions(Partner.objects.get()) == {"vat_id": "DE1", "tier": "silver"}


def test_superuser_add_form_for_several_companies(
    client, django_user_model, company_a, company_b, define
):
    define(company_a, "vat_id", "string", required=True)
    root = django_user_model.objects.create_superuser("root", password="pw-123456")
    client.force_login(root)
    page = client.get(f"{PARTNERS}add/")
    assert not [
        f for f in page.context["adminform"].form.fields if f.startswith("ext__")
    ]
    data = {
        "company": company_a.pk,
        "name": "N",
        "email": "",
        "phone": "",
        "is_active": "on",
    }
    refused = client.post(f"{PARTNERS}add/", data)
    assert refused.status_code == 200
    assert "vat_id" in str(refused.context["adminform"].form.non_field_errors())
    chosen = client.get(f"{PARTNERS}add/?company={company_a.pk}")
    assert "ext__vat_id" in chosen.context["adminform"].form.fields
    created = client.post(
        f"{PARTNERS}add/?company={company_a.pk}", {**data, "ext__vat_id": "X"}
    )
    assert created.status_code == 302
    assert Partner.objects.get().company == company_a


def test_admin_filters_by_business_object(admin_client_a, company_a, define):
    define(company_a, "tier", "string")
    define(company_a, "department", "string", model="contact")
    listing = admin_client_a.get(DEFS, {"model": "contact"})
    assert [d.name for d in listing.context["cl"].result_list] == ["department"]
    filters = listing.context["cl"].filter_specs
    business_objects = next(f for f in filters if f.title == "business object")
    assert ("partner", "Partner") in business_objects.lookup_choices


def test_json_form_field_shows_no_literal_null():
    from extensions.jsonvalues import SafeJSONField

    field = SafeJSONField(required=False)
    assert field.prepare_value(None) == ""
    assert field.prepare_value({"a": 1}) == '{"a": 1}'
    assert not field.has_changed(None, "")


def test_delete_page_counts_values_and_purge_is_separate(
    admin_client_a, company_a, define, partner
):
    definition = define(company_a, "tier", "string")
    partner(company_a, extensions={"tier": "gold"})
    partner(company_a, name="Q", extensions={"tier": "silver"})
    page = admin_client_a.get(f"{DEFS}{definition.pk}/delete/")
    assert (page.context["value_count"], page.context["object_count"]) == (2, 2)
    assert "deactivated" in page.content.decode()
    purge = f"{DEFS}{definition.pk}/purge/"
    assert admin_client_a.get(purge).status_code == 200
    assert FieldDefinition.objects.filter(pk=definition.pk).exists()  # GET: nothing
    response = admin_client_a.post(purge, {"post": "yes"})
    assert response.status_code == 302
    assert not FieldDefinition.objects.filter(pk=definition.pk).exists()
    assert not ExtensionValue.objects.exists()


def test_delete_and_purge_pages_count_in_the_singular(
    admin_client_a, company_a, define, partner
):
    definition = define(company_a, "tier", "string")
    partner(company_a, extensions={"tier": "gold"})
    delete = admin_client_a.get(f"{DEFS}{definition.pk}/delete/").content.decode()
    assert "holds 1 value on 1 object," in delete
    purge = admin_client_a.get(f"{DEFS}{definition.pk}/purge/").content.decode()
    assert "destroys its 1 value on 1 object " in purge


def test_other_company_cannot_purge(client, admin_b, company_a, define, partner):
    definition = define(company_a, "tier", "string")
    partner(company_a, extensions={"tier": "gold"})
    client.force_login(admin_b)
    purge = f"{DEFS}{definition.pk}/purge/"
    assert client.get(purge).status_code == 404
    assert client.post(purge, {"post": "yes"}).status_code == 404
    assert ExtensionValue.objects.count() == 1
