"""Writes the audit trail offers: reverting an object to a recorded version (through
the business-object services, so the revert is itself audited and evented) and
pruning old history."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from businessobjects.models import BusinessObject
from businessobjects.registry import get_registration, registrations
from businessobjects.representation import represent
from extensions import values as ext

# Bookkeeping that a revert never restores (the service manages it).
_UNTRACKED = frozenset({"id", "version", "created_at", "updated_at", "extensions"})


@dataclass
class RevertPlan:
    """What reverting to ``record`` would write: ``data`` and ``extensions`` for
    ``businessobjects.services.update``, and the resulting ``changes``."""

    record: object
    data: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)


def revert_plan(instance: BusinessObject, *, history_id: int) -> RevertPlan:
    """Work out how to bring ``instance`` back to the version of ``history_id``.

    Field values come from the history row; custom-field values are rebuilt from
    the ``extensions.<name>`` entries of the change sets up to that row (history
    rows store custom-field changes, not snapshots). Writes made while
    ``AUDIT_ENABLED`` was off, or pruned history, cannot be rebuilt.
    """
    model = type(instance)
    history = model.history.filter(company_id=instance.company_id, id=instance.pk)
    record = history.filter(history_id=history_id).first()
    if record is None:
        raise ValidationError(
            {"history_id": [f"No history entry {history_id} for this object."]}
        )
    if record.history_type == "-":
        raise ValidationError(
            {"history_id": ["That entry records the deletion; pick an earlier one."]}
        )
    data = {
        f.name: getattr(record, f.attname)
        for f in model._meta.concrete_fields
        if f.name not in BusinessObject.SYSTEM_FIELDS
    }
    current_ext = ext.current_values(instance)
    target_ext = _extension_values_at(history, record.history_id)
    extensions = {
        name: value
        for name, value in target_ext.items()
        if current_ext.get(name) != value
    }

    target = record.instance
    # The version's custom fields: the current ones, with the rebuilt names replaced.
    before = represent(instance, current_ext)
    after = represent(
        target, {k: v for k, v in (current_ext | target_ext).items() if v is not None}
    )
    changes = {}
    for key in (before.keys() | after.keys()) - _UNTRACKED:
        if before.get(key) != after.get(key):
            changes[key] = {"old": before.get(key), "new": after.get(key)}
    for name, value in extensions.items():
        changes[f"extensions.{name}"] = {"old": current_ext.get(name), "new": value}
    return RevertPlan(record=record, data=data, extensions=extensions, changes=changes)


def revert(
    instance: BusinessObject,
    *,
    history_id: int,
    user=None,
    reason: str | None = None,
    expected_version: int | None = None,
) -> BusinessObject:
    """Restore ``instance`` to the version recorded in history entry ``history_id``.

    The revert is an ordinary ``businessobjects.services.update``: one transaction,
    version bump, a history entry of its own (reason: ``reason`` or "Revert to
    version N (history #id)") and an ``<model>.updated`` event. If the object
    already has those values, nothing is written.
    """
    from businessobjects import services

    plan = revert_plan(instance, history_id=history_id)
    return services.update(
        instance,
        data=plan.data,
        extensions=plan.extensions or None,
        expected_version=expected_version,
        user=user,
        reason=reason
        or f"Revert to version {plan.record.version} (history #{history_id})",
    )


def prune_history(
    *,
    days: int,
    object_types: list[str] | None = None,
    dry_run: bool = False,
    batch_size: int = 5000,
) -> dict[str, int]:
    """Delete history rows older than ``days`` days; return counts per object type.

    Deletes in batches of ``batch_size`` rows, each its own short transaction, so
    pruning a large table never holds long locks. ``dry_run`` only counts.
    """
    if days < 1:
        raise ValueError("days must be at least 1.")
    cutoff = timezone.now() - timedelta(days=days)
    names = object_types or sorted(r.name for r in registrations())
    counts: dict[str, int] = {}
    for name in names:
        history_model = get_registration(name).model.history.model
        old = history_model.objects.filter(history_date__lt=cutoff).order_by()
        if dry_run:
            counts[name] = old.count()
            continue
        deleted = 0
        while ids := list(old.values_list("history_id", flat=True)[:batch_size]):
            deleted += history_model.objects.filter(history_id__in=ids).delete()[0]
        counts[name] = deleted
    return counts


def _extension_values_at(history, history_id: int) -> dict:
    """Custom-field values as of ``history_id``, for every name the object's
    change sets mention (``None``: not set then). Names they never mention are
    left out: their past value is unknown, so a revert leaves them alone."""
    values: dict = {}
    later: set[str] = set()
    rows = history.order_by("history_id").values_list("history_id", "changes")
    for row_id, changes in rows:
        for key, change in (changes or {}).items():
            if not key.startswith("extensions."):
                continue
            name = key.removeprefix("extensions.")
            if row_id <= history_id:
                values[name] = change.get("new")
            else:
                later.add(name)
    for name in later:
        values.setdefault(name, None)
    return values
