from django.apps import AppConfig
from django.core import checks

from businessobjects.registry import on_register


def track_history(registration) -> None:
    from .history import track  # defines models: only once models load

    track(registration.model)


# Connected when the app configs load, before any models module: ready() comes
# after the business objects are defined, too late to give them a history model.
on_register(track_history)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from . import checks as audit_checks
        from . import receivers  # noqa: F401  (connects signals)

        checks.register(audit_checks.check_history_switches)
        checks.register(audit_checks.check_change_reason_middleware)
