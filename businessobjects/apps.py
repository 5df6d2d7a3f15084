from django.apps import AppConfig, apps
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

        if apps.is_installed("django.contrib.admin"):
            from django.contrib import admin

            # The project's admin modules first: its own @admin.register(Model)
            # of a business object wins over the built admin.
            admin.autodiscover()
            from .admin import register_admins

            register_admins()
            checks.register(merp_checks.check_admins, checks.Tags.admin, "merp")

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
