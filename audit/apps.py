from django.apps import AppConfig
from django.core import checks


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from . import checks as audit_checks
        from . import receivers  # noqa: F401  (connects signals)

        checks.register(audit_checks.check_history_switches)
        checks.register(audit_checks.check_change_reason_middleware)
