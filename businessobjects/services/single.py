"""Create, update and delete one business object, each in one transaction."""

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from django.db import models

from audit import recorder as audit
from extensions import values as ext

from .. import context
from ..exceptions import (
    ObjectInUse,
)
from ..models import BusinessObject
from ..representation import represent
from .steps import (
    company_or_context,
    copy_fields,
    diff,
    ext_changes,
    lock,
    publish,
    reason_scope,
    save,
    user_or_context,
    write_transaction,
    written_extensions,
)
from .validation import assign, check_version, lock_references, validate

BO = TypeVar("BO", bound=BusinessObject)


def create(
    model: type[BO],
    *,
    data: Mapping[str, Any],
    extensions: Mapping[str, Any] | None = None,
    company=None,
    user=None,
    reason: str | None = None,
) -> BO:
    """Create a ``model`` row for ``company`` from ``data`` (field name -> value).

    ``reason`` is the change reason stored on the history row (every write takes
    one; without it the context's, e.g. the ``X-Change-Reason`` header, applies).
    """
    company = company_or_context(company)
    user = user_or_context(user)
    reason = context.clean_reason(reason)
    with write_transaction() as last, reason_scope(reason):
        instance = model(company=company, created_by=user, updated_by=user)
        assign(instance, data)
        staged = validate(instance, extensions, creating=True)
        lock_references([instance])
        payload = represent(instance, staged.values)
        changes = diff({}, payload) | ext_changes(staged)
        save(instance)
        audit.record([instance], "+", user=user, changes=[changes], reason=reason)
        ext.write(instance, staged, user=user)
        payload = represent(instance, staged.values)  # with its id and dates
        publish(
            [instance],
            "created",
            user=user,
            changes=[changes],
            payload=[payload],
            sequence=last,
        )
    written_extensions(instance, staged.values)
    return instance


def update(
    instance: BO,
    *,
    data: Mapping[str, Any] | None = None,
    extensions: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    if_match: Collection[int] | None = None,
    user=None,
    reason: str | None = None,
    locked: bool = False,
) -> BO:
    """Apply ``data`` and ``extensions`` (merged) to ``instance`` under a row lock.

    ``locked=True``: the caller read ``instance`` with ``select_for_update`` in the
    current transaction (``single_write``) and changed nothing on it since, so it
    is not read again.

    ``expected_version`` enables the optimistic lock: if it differs from the stored
    version, ``VersionConflict`` is raised and nothing changes. ``if_match`` (the
    versions of an HTTP ``If-Match``) likewise raises ``PreconditionFailed`` when
    the stored version is not among them. Both are checked under the row lock.
    An update that changes nothing writes nothing (no version bump, history or
    event). Field and custom-field errors are raised together.
    """
    user = user_or_context(user)
    reason = context.clean_reason(reason)
    with write_transaction() as last, reason_scope(reason):
        locked = instance if locked else lock(instance)
        check_version(locked, expected_version, if_match)
        # Change sets skip "extensions": custom-field changes come from the staging.
        before = represent(locked, {})
        assign(locked, data or {})
        staged = validate(locked, extensions, creating=False)
        lock_references([locked])
        changes = diff(before, represent(locked, {})) | ext_changes(staged)
        if changes:
            locked.version += 1
            locked.updated_by = user
            save(locked)
            audit.record([locked], "~", user=user, changes=[changes], reason=reason)
            ext.write(locked, staged, user=user)
            payload = represent(locked, staged.values)
            publish(
                [locked],
                "updated",
                user=user,
                changes=[changes],
                payload=[payload],
                sequence=last,
            )
    copy_fields(locked, instance)
    written_extensions(instance, staged.values)
    return instance


def delete(
    instance: BO,
    *,
    expected_version: int | None = None,
    if_match: Collection[int] | None = None,
    user=None,
    reason: str | None = None,
) -> None:
    """Delete ``instance``; its history and custom-field values stay auditable.

    ``expected_version`` and ``if_match`` are checked as in ``update``.
    """
    user = user_or_context(user)
    reason = context.clean_reason(reason)
    with write_transaction() as last, reason_scope(reason):
        locked = lock(instance)
        check_version(locked, expected_version, if_match)
        values = ext.current_values(locked)
        before = represent(locked, values)
        changes = diff(before, {}) | {
            f"extensions.{name}": {"old": value, "new": None}
            for name, value in values.items()
            if value is not None
        }
        pk = locked.pk
        ext.remove(locked, user=user)
        # audit.record writes the history row; simple-history's signal must not.
        locked.skip_history_when_saving = True
        try:
            # Collecting refuses before any row is deleted: no savepoint needed.
            locked.delete()
        except models.ProtectedError as exc:
            names = sorted(
                # str(): a default verbose_name_plural is a lazy proxy.
                {str(type(o)._meta.verbose_name_plural) for o in exc.protected_objects}
            )
            raise ObjectInUse(
                f"This {type(locked)._meta.verbose_name} is still referenced by "
                f"{', '.join(names)}; delete or reassign those first."
            ) from exc
        locked.pk = pk
        del locked.skip_history_when_saving
        audit.record([locked], "-", user=user, changes=[changes], reason=reason)
        publish(
            [locked],
            "deleted",
            user=user,
            changes=[changes],
            payload=[before],
            sequence=last,
        )
