from django.test import override_settings

from audit.checks import check_change_reason_middleware, check_history_switches
from tests.utils import override_merp


def test_w001_history_switches_disagree():
    assert check_history_switches() == []
    with override_merp(AUDIT_ENABLED=True):
        with override_settings(SIMPLE_HISTORY_ENABLED=False):
            (warning,) = check_history_switches()
    assert warning.id == "audit.W001"
    assert "AUDIT_ENABLED" in warning.hint


def test_w002_change_reason_middleware_missing(settings):
    assert check_change_reason_middleware() == []
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "audit.middleware.ChangeReasonMiddleware"
    ]
    (warning,) = check_change_reason_middleware()
    assert warning.id == "audit.W002"
    assert "ChangeReasonMiddleware" in warning.hint
