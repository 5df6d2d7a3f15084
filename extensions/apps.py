from django.apps import AppConfig
from django.core import checks


class ExtensionsConfig(AppConfig):
    name = "extensions"
    verbose_name = "Custom fields"

    def ready(self) -> None:
        from . import checks as extension_checks
        from . import receivers  # noqa: F401  (connects signals)

        checks.register(extension_checks.check_object_ids)
