"""Audit test helpers.

``fake_extensions`` (named before the custom-fields app existed) now defines real
custom fields, ``tier`` (string) and ``score`` (integer), on every business object
of companies A and B, so these tests exercise the audit trail with the real
extensions app behind the ``extensions.services`` hooks.
"""

import pytest

from businessobjects import services
from businessobjects.models import Partner
from businessobjects.registry import registrations
from extensions import services as ext


class CustomFields:
    def current_values(self, instance) -> dict:
        """The custom fields of ``instance`` that have a value."""
        values = ext.get_extensions(instance)
        return {name: value for name, value in values.items() if value is not None}


@pytest.fixture
def fake_extensions(company_a, company_b):
    for company in (company_a, company_b):
        for registration in registrations():
            for name, field_type in (("tier", "string"), ("score", "integer")):
                ext.definition_create(
                    company=company,
                    model=registration.name,
                    name=name,
                    field_type=field_type,
                )
    return CustomFields()


@pytest.fixture
def make_partner(company_a):
    def make(name: str = "Acme", company=None, **data):
        return services.create(
            Partner, data={"name": name, **data}, company=company or company_a
        )

    return make
