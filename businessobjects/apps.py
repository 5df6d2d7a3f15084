from django.apps import AppConfig
from django.core import checks


class BusinessObjectsConfig(AppConfig):
    name = "businessobjects"
    verbose_name = "Business objects"

    def ready(self) -> None:
        from . import checks as merp_checks

        checks.register(merp_checks.check_business_objects, checks.Tags.models, "merp")
        checks.register(
            merp_checks.check_production_settings,
            checks.Tags.security,
            "merp",
            deploy=True,
        )
        checks.register(
            merp_checks.check_database, checks.Tags.database, "merp", deploy=True
        )
        checks.register(merp_checks.check_services, "merp", deploy=True)
