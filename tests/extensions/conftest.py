import pytest

from businessobjects import services as bo
from businessobjects.models import Partner
from extensions import services


@pytest.fixture
def define(db):
    """Define a custom field through the service: define(company, name, type, ...)."""

    def make(company, name, field_type, model="partner", **attrs):
        return services.definition_create(
            company=company, model=model, name=name, field_type=field_type, **attrs
        )

    return make


@pytest.fixture
def partner(db):
    """Create a partner through the services: partner(company, extensions=...)."""

    def make(company, name="P", extensions=None, **data):
        return bo.create(
            Partner, data={"name": name, **data}, extensions=extensions, company=company
        )

    return make
