from django.core.checks import Error
from django.db import models

from businessobjects.registry import registrations

_INTEGER_KEYS = (models.AutoField, models.BigAutoField, models.IntegerField)


def check_object_ids(app_configs=None, **kwargs) -> list[Error]:
    """Custom-field values point at their object by an integer ``object_id``."""
    errors = []
    for registration in registrations():
        pk = registration.model._meta.pk
        if not isinstance(pk, _INTEGER_KEYS):
            errors.append(
                Error(
                    f"{registration.model.__name__} has a {type(pk).__name__} primary "
                    "key; custom-field values reference objects by an integer id.",
                    hint="Keep the default BigAutoField primary key on business "
                    "objects (add a separate unique field for other identifiers).",
                    obj=registration.model,
                    id="extensions.E001",
                )
            )
    return errors
