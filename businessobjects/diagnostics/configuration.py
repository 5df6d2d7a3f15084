"""Probes of the configuration: business-object registrations, production settings."""

import itertools

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from ..conf import merp_settings
from .outcome import (
    Outcome,
)

# The dev-only SECRET_KEY default of merp/settings.py starts with this.
DEV_SECRET_KEY_PREFIX = "merp-dev-insecure"

# -- configuration -----------------------------------------------------------------


def business_objects(app_configs=None) -> Outcome:
    """Check that every business object is registered, audited and company-scoped."""
    from ..models import BusinessObject
    from ..registry import is_registered

    if app_configs is None:
        models = apps.get_models()
    else:
        models = itertools.chain(*(c.get_models() for c in app_configs))
    messages: list[CheckMessage] = []
    names = []
    for model in models:
        if not issubclass(model, BusinessObject) or model._meta.proxy:
            continue
        names.append(model._meta.model_name)
        label = model._meta.label
        if not is_registered(model):
            messages.append(
                Error(
                    f"{label} is a BusinessObject but is not registered: it has no "
                    "API, no custom fields and no events.",
                    hint="Decorate it with @businessobjects.registry.register.",
                    obj=model,
                    id="businessobjects.E001",
                )
            )
        if not hasattr(model._meta, "simple_history_manager_attribute"):
            messages.append(
                Error(
                    f"{label} has no history: its changes would not be audited.",
                    hint="Register it with @businessobjects.registry.register, "
                    "which attaches history (audit.history.track).",
                    obj=model,
                    id="businessobjects.E002",
                )
            )
        for manager in model._meta.managers:
            if not hasattr(manager, "for_company"):
                messages.append(
                    Error(
                        f"{label}.{manager.name} is not company-scoped (it has no "
                        "for_company()): it would read every company's rows.",
                        hint="Build managers from businessobjects.models."
                        "CompanyQuerySet, e.g. CompanyManager or "
                        "models.Manager.from_queryset(CompanyQuerySet).",
                        obj=model,
                        id="businessobjects.E003",
                    )
                )
        messages.extend(_unique_without_company(model))
    return Outcome(messages, summary=", ".join(sorted(names)) or "none defined")


def _unique_without_company(model) -> list[CheckMessage]:
    hint = (
        "Make company part of the rule (UniqueConstraint(fields=['company', ...])): "
        "uniqueness is per company, and the schema must stay distributable by "
        "company_id (docs/scaling.md)."
    )
    found = []
    for f in model._meta.local_concrete_fields:
        if f.unique and not f.primary_key:
            found.append(f"field {f.name!r} has unique=True")
    for fields in model._meta.unique_together:
        if "company" not in fields and "company_id" not in fields:
            found.append(f"unique_together {tuple(fields)!r}")
    for constraint in model._meta.constraints:
        fields = getattr(constraint, "fields", ()) or ()
        is_unique = type(constraint).__name__ == "UniqueConstraint"
        if is_unique and fields and not {"company", "company_id"} & set(fields):
            found.append(f"constraint {constraint.name!r} on {tuple(fields)!r}")
    return [
        Error(
            f"{model._meta.label}: {what} does not include company.",
            hint=hint,
            obj=model,
            id="businessobjects.E004",
        )
        for what in found
    ]


def production_settings() -> Outcome:
    """Warn about settings that are fine in development and unsafe in production."""
    messages: list[CheckMessage] = []
    if settings.DEBUG:
        messages.append(
            Warning(
                "DEBUG is on: error pages show code, settings and SQL.",
                hint="Set DEBUG=false in production.",
                id="businessobjects.W001",
            )
        )
    secret = settings.SECRET_KEY or ""
    if not secret or secret.startswith(DEV_SECRET_KEY_PREFIX):
        messages.append(
            Warning(
                "SECRET_KEY is the development default: sessions and tokens can be "
                "forged by anyone who has the source.",
                hint="Set SECRET_KEY to a long random value, e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(50))'.",
                id="businessobjects.W002",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        messages.append(
            Warning(
                "ALLOWED_HOSTS contains '*': any Host header is accepted "
                "(host-header poisoning of links and password resets).",
                hint="Set ALLOWED_HOSTS to your domain names, comma-separated.",
                id="businessobjects.W003",
            )
        )
    if not merp_settings.AUDIT_ENABLED:
        messages.append(
            Warning(
                "AUDIT_ENABLED is false: changes are not written to history.",
                hint="Unset AUDIT_ENABLED (or set it to true) unless this is "
                "deliberate, e.g. during a one-off data load.",
                id="businessobjects.W004",
            )
        )
    if not merp_settings.EVENT_PUBLISHING_ENABLED:
        messages.append(
            Warning(
                "EVENT_PUBLISHING_ENABLED is false: changes publish no events.",
                hint="Unset EVENT_PUBLISHING_ENABLED (or set it to true) unless "
                "no one consumes the event streams.",
                id="businessobjects.W005",
            )
        )
    return Outcome(messages, summary="safe for production" if not messages else "")
