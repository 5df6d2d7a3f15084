from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.core import checks
from django.db.models.signals import post_save, pre_save


class BusinessObjectsConfig(AppConfig):
    name = "businessobjects"
    verbose_name = "Business objects"

    def ready(self) -> None:
        from . import auth
        from . import checks as merp_checks

        user_model = get_user_model()
        pre_save.connect(
            auth.note_password_change,
            sender=user_model,
            dispatch_uid="merp_note_password_change",
        )
        post_save.connect(
            auth.revoke_tokens_on_password_change,
            sender=user_model,
            dispatch_uid="merp_revoke_tokens_on_password_change",
        )

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
