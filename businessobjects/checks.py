"""System checks of the framework, registered in ``BusinessObjectsConfig.ready``.

``manage.py check`` runs the model checks (E001-E004). Checks that talk to the
database, Redis or Celery are deployment checks, so they never slow down or block
``runserver`` and ``migrate``: ``manage.py check --deploy --database default``
runs them all (and ``manage.py merp_doctor`` prints them one line each).
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
