"""The steps every write takes: context, lock, diff, save, publish."""

from contextlib import nullcontext
from typing import TypeVar

from django.db import IntegrityError, transaction

from events import outbox
from extensions import values as ext

from .. import context
from ..conf import merp_settings
from ..context import change_reason
from ..exceptions import (
    ObjectNotFound,
)
from ..models import BusinessObject
from ..registry import get_registration
from .validation import integrity_error

BO = TypeVar("BO", bound=BusinessObject)


# Fields that are bookkeeping, not business changes.
UNTRACKED = frozenset({"id", "version", "created_at", "updated_at", "extensions"})


def reason_scope(reason: str | None):
    # The custom-field values' own history rows read the reason from the context.
    return change_reason(reason) if reason else nullcontext()


def company_or_context(company):
    company = company if company is not None else context.get_company()
    if company is None:
        raise ValueError(
            "No company: pass company= or run inside businessobjects.context."
            "use_context(company=...)."
        )
    return company


def user_or_context(user):
    return user if user is not None else context.get_user()


def lock(instance: BO) -> BO:
    """The stored row of ``instance``, locked for this transaction.

    The caller read ``instance`` earlier; a concurrent delete may have removed the
    row since (the lock waits for that transaction and then finds nothing): that
    is ``ObjectNotFound`` (404), not an error.
    """
    model = type(instance)
    try:
        return (
            model.objects.select_for_update()
            .for_company(instance.company_id)
            .get(pk=instance.pk)
        )
    except model.DoesNotExist:
        raise ObjectNotFound(
            f"This {model._meta.verbose_name} no longer exists (deleted meanwhile)."
        ) from None


def diff(before: dict, after: dict) -> dict:
    changes = {}
    for key in before.keys() | after.keys():
        if key in UNTRACKED:
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = {"old": old, "new": new}
    return changes


def ext_changes(staged: "ext.ExtensionWrite") -> dict:
    return {f"extensions.{name}": change for name, change in staged.changes.items()}


def save(instance: BusinessObject) -> None:
    """Save the row; the caller writes its history with ``audit.record``."""
    instance.skip_history_when_saving = True  # simple-history's signal stays silent
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise integrity_error(instance, exc) from exc
    finally:
        del instance.skip_history_when_saving


def publish(
    instances: list[BusinessObject],
    action: str,
    *,
    user,
    changes: list[dict],
    payload: list[dict],
) -> None:
    if not merp_settings.EVENT_PUBLISHING_ENABLED:
        return
    registration = get_registration(instances[0])
    correlation_id = context.get_correlation_id()
    user_id = getattr(user, "pk", None)
    if len(instances) > 1:
        outbox.enqueue_many(
            aggregate_type=registration.name,
            action=action,
            user_id=user_id,
            correlation_id=correlation_id,
            events=(
                (instance.pk, instance.company_id, instance.version, body, change_set)
                for instance, body, change_set in zip(
                    instances, payload, changes, strict=True
                )
            ),
        )
        return
    (instance,) = instances
    event = outbox.build_event(
        aggregate_type=registration.name,
        action=action,
        aggregate_id=instance.pk,
        company_id=instance.company_id,
        user_id=user_id,
        correlation_id=correlation_id,
        version=instance.version,
        payload=payload[0],
        changes=changes[0],
    )
    outbox.enqueue(event)


def copy_fields(source: BO, target: BO) -> None:
    """Give the caller's ``target`` the stored values of ``source`` (its locked
    copy): callers that pass an instance see it updated."""
    if source is target:
        return
    for field in source._meta.concrete_fields:
        value = getattr(source, field.attname)
        stale = field.is_relation and getattr(target, field.attname) != value
        if stale and field.is_cached(target):
            field.delete_cached_value(target)
        setattr(target, field.attname, value)
