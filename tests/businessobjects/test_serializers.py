"""The business-object serializer renders exactly what DRF's generic path renders."""

import pytest
from rest_framework import serializers

from businessobjects import services
from businessobjects.api.serializers import serializer_for
from businessobjects.models import Address, Contact, Partner
from tests.testapp.models import Product

pytestmark = pytest.mark.django_db


def _drf(serializer, instance) -> dict:
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.fixture
def objects(company_a, admin_a):
    from extensions import services as ext

    ext.definition_create(
        company=company_a, model="partner", name="limit", field_type="decimal"
    )
    ext.definition_create(
        company=company_a, model="partner", name="since", field_type="date"
    )
    acme = services.create(
        Partner,
        data={"name": "Acme", "email": "a@acme.test", "is_active": False},
        extensions={"limit": "12.50", "since": "2024-02-29"},
        company=company_a,
        user=admin_a,
    )
    bare = services.create(Partner, data={"name": "Bare"}, company=company_a)
    address = services.create(
        Address, data={"partner": acme.pk, "city": "Lyon"}, company=company_a
    )
    contact = services.create(
        Contact, data={"partner": acme.pk, "name": "Ann"}, company=company_a
    )
    product = services.create(
        Product, data={"sku": "X-1", "name": "X", "price": "9.90"}, company=company_a
    )
    return [acme, bare, address, contact, product]


def test_same_representation_as_drf(objects):
    for instance in objects:
        # Fresh from the database: values as a read sees them, none cached.
        fresh = type(instance).objects.get(pk=instance.pk)
        serializer = serializer_for(instance)()
        assert serializer.to_representation(fresh) == _drf(serializer, fresh)
        assert serializer.to_representation(instance) == _drf(serializer, instance)


def test_same_for_a_list_page(api, member_a, objects):
    response = api(member_a).get("/api/partners/")
    serializer = serializer_for(Partner)()
    expected = [
        _drf(serializer, p)
        for p in Partner.objects.filter(pk__in=[o.pk for o in objects[:2]])
    ]
    assert sorted(response.json()["results"], key=lambda r: r["id"]) == sorted(
        expected, key=lambda r: r["id"]
    )


def test_unsaved_and_odd_values_fall_back_to_drf(company_a):
    # Values given through the serializer context, as a list page gives them.
    serializer = serializer_for(Partner)(context={"extensions": {None: {}}})
    unsaved = Partner(company=company_a, name="N", email=None)
    assert serializer.to_representation(unsaved) == _drf(serializer, unsaved)
    assert serializer.to_representation(unsaved)["email"] is None


def test_methods_and_missing_attributes_go_through_drf(objects):
    base = serializer_for(Partner)

    class Extended(base):
        display = serializers.CharField(source="__str__")  # a method: called
        nickname = serializers.CharField(default="none")  # no such attribute

        class Meta(base.Meta):
            fields = (*base.Meta.fields, "display", "nickname")

    serializer = Extended()
    rendered = serializer.to_representation(objects[0])
    assert rendered == _drf(serializer, objects[0])
    assert rendered["display"] == "Acme"
    assert rendered["nickname"] == "none"
