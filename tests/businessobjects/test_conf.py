"""merp_settings reads settings.MERP with defaults and never writes settings."""

import pytest
from django.conf import settings
from django.test import override_settings

from businessobjects.conf import DEFAULTS, merp_settings
from events.consumer import default_consumer_name
from tests.utils import override_merp


def test_values_come_from_merp_else_the_defaults():
    with override_settings(MERP={"PAGE_SIZE": 7}):
        assert merp_settings.PAGE_SIZE == 7
        assert merp_settings.MAX_PAGE_SIZE == DEFAULTS["MAX_PAGE_SIZE"]


def test_top_level_flags_are_not_read():
    with override_settings(AUDIT_ENABLED=False, EVENT_PUBLISHING_ENABLED=False):
        assert merp_settings.AUDIT_ENABLED is True
        assert merp_settings.EVENT_PUBLISHING_ENABLED is True


def test_overriding_a_flag_writes_no_setting():
    before = settings.SIMPLE_HISTORY_ENABLED
    with override_merp(AUDIT_ENABLED=not before):
        assert merp_settings.AUDIT_ENABLED is (not before)
        assert settings.SIMPLE_HISTORY_ENABLED is before


def test_an_unknown_name_says_where_to_declare_it():
    with pytest.raises(AttributeError, match="businessobjects.conf.DEFAULTS"):
        merp_settings.NO_SUCH_SETTING  # noqa: B018


def test_consumer_name_is_a_setting():
    with override_merp(EVENT_CONSUMER_NAME="worker-7"):
        assert default_consumer_name() == "worker-7"
    with override_merp(EVENT_CONSUMER_NAME=""):
        assert default_consumer_name()
