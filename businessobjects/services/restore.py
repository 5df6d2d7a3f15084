"""Bring a deleted business object back under its id (undelete), in one
transaction with its custom-field values, a history row and a
``<model>.restored`` event, like every write."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import recorder as audit
from extensions import values as ext

from .. import context
from ..exceptions import ObjectInUse
from ..models import BusinessObject
from ..representation import represent
from .steps import (
    company_or_context,
    diff,
    ext_changes,
    publish,
    reason_scope,
    user_or_context,
)
from .validation import assign, integrity_error, lock_references, validate

BO = TypeVar("BO", bound=BusinessObject)


def restore(
    model: type[BO],
    *,
    pk: int,
    data: Mapping[str, Any],
    extensions: Mapping[str, Any] | None = None,
    version: int,
    created_at: datetime | None = None,
    created_by_id: int | None = None,
    company=None,
    user=None,
    reason: str | None = None,
) -> BO:
    """Insert ``model`` row ``pk`` again from ``data`` and ``extensions`` (the
    values it had), at ``version`` (one past the version it was deleted at).

    Validated like a create; custom fields not in ``extensions`` stay unset
    (no defaults: the object did not have them). The history row is a
    ``created`` entry; the event is ``<model>.restored`` with the object as
    payload. An object with that id that exists is ``ObjectInUse``.
    """
    company = company_or_context(company)
    user = user_or_context(user)
    reason = context.clean_reason(reason)
    with transaction.atomic(), reason_scope(reason):
        if model.objects.filter(pk=pk).exists():
            raise ObjectInUse(
                f"{model._meta.verbose_name} {pk} exists: nothing to restore."
            )
        now = timezone.now()
        instance = model(
            pk=pk,
            company=company,
            created_by_id=created_by_id,
            updated_by=user,
            version=version,
            created_at=created_at or now,
            updated_at=now,
        )
        assign(instance, data)
        incoming = {
            d.name: None for d in ext.definitions_for(company, model) if not d.required
        } | dict(extensions or {})
        staged = validate(instance, incoming, creating=True)
        lock_references([instance])
        changes = diff({}, represent(instance, staged.values)) | ext_changes(staged)
        _insert(instance)
        audit.record([instance], "+", user=user, changes=[changes], reason=reason)
        ext.write(instance, staged, user=user)
        payload = represent(instance, staged.values)
        publish([instance], "restored", user=user, changes=[changes], payload=[payload])
    return instance


def _insert(instance: BusinessObject) -> None:
    # raw: keep created_at and updated_at as given (auto_now_add would stamp
    # now); audit.record writes the history row, simple-history must not.
    instance.skip_history_when_saving = True
    try:
        with transaction.atomic():
            instance.save_base(raw=True, force_insert=True)
    except IntegrityError as exc:
        raise integrity_error(instance, exc) from exc
    finally:
        del instance.skip_history_when_saving
