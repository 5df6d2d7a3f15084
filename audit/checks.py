from django.conf import settings
from django.core.checks import Warning

from businessobjects.conf import merp_settings

MIDDLEWARE_PATH = "audit.middleware.ChangeReasonMiddleware"


def check_history_switches(app_configs=None, **kwargs):
    """simple-history's own switch should follow AUDIT_ENABLED (merp.settings)."""
    simple_history = getattr(settings, "SIMPLE_HISTORY_ENABLED", True)
    if simple_history == merp_settings.AUDIT_ENABLED:
        return []
    return [
        Warning(
            f"SIMPLE_HISTORY_ENABLED is {simple_history} but AUDIT_ENABLED is "
            f"{merp_settings.AUDIT_ENABLED}.",
            hint=(
                "Set only AUDIT_ENABLED (environment variable) and let "
                "SIMPLE_HISTORY_ENABLED = AUDIT_ENABLED follow it, as merp.settings "
                "does; otherwise history of models outside M-ERP and "
                "simple-history's own tools disagree with the audit trail."
            ),
            id="audit.W001",
        )
    ]


def check_change_reason_middleware(app_configs=None, **kwargs):
    if MIDDLEWARE_PATH in settings.MIDDLEWARE:
        return []
    return [
        Warning(
            f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: the X-Change-Reason header "
            "of API requests is ignored.",
            hint=f"Add '{MIDDLEWARE_PATH}' to MIDDLEWARE.",
            id="audit.W002",
        )
    ]
