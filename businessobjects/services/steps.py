"""The steps every write takes: context, lock, diff, save, publish."""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
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


# The atomic block ``single_write`` opened, while it is open.
_single_write: ContextVar = ContextVar("merp_single_write", default=None)


class _Refused(Exception):
    """An IntegrityError of a row save, carried out of the write's transaction:
    naming the fields may need a query, which PostgreSQL refuses in the aborted
    transaction (this replaced a savepoint pair around every save)."""

    def __init__(self, instance, error: IntegrityError):
        self.instance, self.error = instance, error


@contextmanager
def single_write() -> Iterator[None]:
    """Open the transaction of ONE service write for a caller that reads first.

    A view reads the object (``select_for_update``), validates the input, then
    calls the service: inside this block the service runs in this transaction as
    in its own (no savepoint, its event sequenced by its last statement, see
    ``write_transaction``). Inside a caller's transaction it is a plain block.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        yield
        return
    try:
        with transaction.atomic():
            token = _single_write.set(connection.atomic_blocks[-1])
            try:
                yield
            finally:
                _single_write.reset(token)
    except _Refused as refused:
        raise integrity_error(refused.instance, refused.error) from refused.error


@contextmanager
def write_transaction() -> Iterator[bool]:
    """The transaction of one service write; yields whether it ends with the write.

    Its own transaction when the caller has none (or in ``single_write``): the
    write is then the last thing before COMMIT, so the outbox sequences its event
    in its insert (``events.outbox.enqueue(sequence=True)``). In a caller's
    transaction, a savepoint: the caller may go on after an error, and the event
    is sequenced after the caller's commit.

    A row save refused by the database (``save``) becomes a ``ValidationError``
    naming the fields once the transaction or savepoint is rolled back.
    """
    connection = transaction.get_connection()
    owner = _single_write.get()
    if owner is not None and connection.atomic_blocks[-1] is owner:
        # single_write reports a refused save once its transaction is rolled back.
        with transaction.atomic(savepoint=False):
            yield True
        return
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic():
            yield outermost
    except _Refused as refused:
        raise integrity_error(refused.instance, refused.error) from refused.error


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
    """Save the row; the caller writes its history with ``audit.record``.

    Call inside ``write_transaction``: no savepoint of its own (two statements
    per write); a refused save rolls the whole write back and is reported there.
    """
    instance.skip_history_when_saving = True  # simple-history's signal stays silent
    try:
        instance.save()
    except IntegrityError as exc:
        raise _Refused(instance, exc) from exc
    finally:
        del instance.skip_history_when_saving


def publish(
    instances: list[BusinessObject],
    action: str,
    *,
    user,
    changes: list[dict],
    payload: list[dict],
    sequence: bool = False,
) -> None:
    """Write the outbox event of each instance; ``sequence``: the write's
    transaction commits right after this (``write_transaction`` said so)."""
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
    outbox.enqueue(event, sequence=sequence)


def written_extensions(instance: BusinessObject, values: dict | None = None):
    """Keep the custom-field values a write left on ``instance`` (``values``), or
    take them back (once): the API renders its answer without reading them again.
    """
    if values is not None:
        instance.__dict__["_merp_written_extensions"] = dict(values)
        return None
    return instance.__dict__.pop("_merp_written_extensions", None)


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
