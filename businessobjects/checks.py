"""System checks of the framework, registered in ``BusinessObjectsConfig.ready``.

``manage.py check`` runs the model checks (E001-E004) and the admin check (E005).
Checks that talk to the database, Redis or Celery are deployment checks, so they
never slow down or block ``runserver`` and ``migrate``:
``manage.py check --deploy --database default`` runs them all (and
``manage.py merp_doctor`` prints them one line each).
"""

from . import diagnostics


def check_business_objects(app_configs=None, **kwargs):
    return diagnostics.business_objects(app_configs).messages


def check_production_settings(app_configs=None, **kwargs):
    return diagnostics.production_settings().messages


def check_database(app_configs=None, databases=None, **kwargs):
    # Django convention: database checks run only for the databases asked for.
    if not databases:
        return []
    reachable = diagnostics.database()
    if reachable.messages:
        return reachable.messages
    return [
        *diagnostics.migrations().messages,
        *diagnostics.tables().messages,
        *diagnostics.outbox_backlog().messages,
    ]


def check_services(app_configs=None, **kwargs):
    return [
        *diagnostics.redis().messages,
        *diagnostics.celery_workers().messages,
    ]


def check_admins(app_configs=None, **kwargs):
    """E005: a business object's admin must be a ``BusinessObjectAdmin``; any other
    ``ModelAdmin`` would show every company's rows and save around the services."""
    from django.contrib import admin
    from django.core.checks import Error

    from .admin import BusinessObjectAdmin
    from .registry import registrations

    errors = []
    for registration in registrations():
        model_admin = admin.site._registry.get(registration.model)
        if model_admin is not None and not isinstance(model_admin, BusinessObjectAdmin):
            errors.append(
                Error(
                    f"The admin of business object {registration.name!r} "
                    f"({type(model_admin).__qualname__}) does not subclass "
                    "BusinessObjectAdmin.",
                    hint="Subclass businessobjects.admin.BusinessObjectAdmin: it "
                    "scopes rows to the admin's companies and saves through the "
                    "services (history, events, optimistic locking).",
                    obj=type(model_admin),
                    id="businessobjects.E005",
                )
            )
    return errors
