"""Schema fuzzing: schemathesis drives the WSGI app from /api/schema/ with a token.

Every generated request (valid and invalid) must get a non-5xx answer whose status,
content type, headers and body are the ones the schema documents.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from .conftest import count
from .support import MARKERS, Sampler, bo_registrations

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


# Loaded at collection: the schema view needs no database. (schemathesis'
# from_fixture() loader relies on a pytest internal that pytest 9 removed.)
APP = WSGIHandler()
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # A schema-valid request may still be refused with a 400: references
            # are ids that must exist in the company, custom fields are defined
            # at run time (``extensions`` is free-form), ``ordering`` names fields,
            # and an If-Match header may name another version than the stored one.
            # Every other check runs as shipped.
            "positive_data_acceptance": {
                "expected-statuses": [
                    "2xx",
                    "3xx",
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "412",
                    "429",
                ]
            },
        }
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP, config=CONFIG)


@pytest.fixture(autouse=True)
def keep_test_transaction():
    """Django closes the connection at the end of each request; inside the test's
    transaction that would roll it back, so (like django.test.Client) stop that."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(tenants):
    tenant = tenants[0]
    sampler = Sampler()
    for registration in bo_registrations():
        for _ in range(2):
            sampler.create(registration, company=tenant.company, marker=MARKERS[0])
    return Token.objects.create(user=tenant.admin).key


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_matches_its_schema(case, token):
    count("schemathesis: requests")
    case.call_and_validate(headers={"Authorization": f"Token {token}"})
