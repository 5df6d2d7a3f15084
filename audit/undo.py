"""Undo everything one correlation id (a request, a job, an import) did.

``undo_plan`` reads the company's history rows of that correlation id across
every business object and works out, per object: a create is undone by a
delete, updates by restoring the old values of the fields they changed (custom
fields included), a delete by restoring the object under its id with the values
and custom fields it had before. ``undo`` runs the plan through the services in
one transaction (newest change first, so children go before parents on a delete
and after them on a restore), under the reason ``undo <correlation id>`` and the
caller's own correlation id; every step is audited and evented like any write.

A later change (another correlation id) that touched a field the undo would set,
or an object the undo would delete or restore, is a conflict: ``UndoConflict``
lists them and nothing is written.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction

from businessobjects import context
from businessobjects.exceptions import ObjectNotFound, VersionConflict
from businessobjects.models import BusinessObject
from businessobjects.registry import registrations
from businessobjects.representation import represent
from extensions.stored import current_values

# Change-set keys that are bookkeeping, not fields an undo sets.
_SYSTEM = frozenset(BusinessObject.SYSTEM_FIELDS)
_EXT = "extensions."


@dataclass
class Conflict:
    object_type: str
    object_id: int
    field: str
    correlation_id: str

    def as_dict(self) -> dict:
        return {
            "object_type": self.object_type,
            "object_id": self.object_id,
            "field": self.field,
            "correlation_id": self.correlation_id,
        }


@dataclass
class Step:
    """One object's undo: ``delete``, ``update`` or ``restore``."""

    object_type: str
    model: type
    object_id: int
    action: str
    # The API values shown: {field: {old: now, new: after the undo}}.
    changes: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)
    # restore only: version, created_at, created_by_id.
    restore: dict = field(default_factory=dict)
    # Newest history row of the undone correlation id: steps run newest first.
    order: tuple = ()
    # update/delete: the object's version when planned; the write is refused
    # (and the undo planned again) if a concurrent change moved it since.
    expected_version: int | None = None

    def as_dict(self) -> dict:
        return {
            "object_type": self.object_type,
            "object_id": self.object_id,
            "action": self.action,
            "changes": self.changes,
        }


@dataclass
class UndoPlan:
    correlation_id: str
    # The undo's own correlation id, once carried out.
    undo_correlation_id: str | None = None
    steps: list[Step] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return f"undo {self.correlation_id}"

    def as_dict(self) -> dict:
        return {
            "correlation_id": self.correlation_id,
            "reason": self.reason,
            "steps": [step.as_dict() for step in self.steps],
        }


class NothingToUndo(Exception):
    """No history row of the company carries that correlation id."""


class UndoConflict(Exception):
    """Later changes touched what the undo would change; nothing was written."""

    def __init__(self, conflicts: list[Conflict]):
        self.conflicts = conflicts
        super().__init__(
            f"{len(conflicts)} later change(s) touched what this undo would "
            "change; nothing was undone."
        )


def undo_plan(*, company, correlation_id: str) -> UndoPlan:
    """Work out the undo of ``correlation_id`` in ``company`` (no writes).

    ``NothingToUndo`` when the company has no change with that correlation id
    (another company's changes included: they are not this company's to see).
    """
    company_id = company if isinstance(company, int) else company.pk
    plan = UndoPlan(correlation_id=correlation_id)
    found = False
    for registration in registrations():
        history = registration.model.history.model.objects.filter(company_id=company_id)
        rows = history.filter(correlation_id=correlation_id).order_by("history_id")
        by_object: dict[int, list] = defaultdict(list)
        for row in rows:
            by_object[row.id].append(row)
        found = found or bool(by_object)
        later = _later_rows(history, by_object, correlation_id)
        versions = _versions_now(registration.model, company_id, by_object)
        for object_id, own in by_object.items():
            _plan_object(plan, registration, history, object_id, own, later[object_id])
            if plan.steps and plan.steps[-1].object_id == object_id:
                plan.steps[-1].expected_version = versions.get(object_id)
    if not found:
        raise NothingToUndo(correlation_id)
    plan.steps.sort(key=lambda step: step.order, reverse=True)
    return plan


def _versions_now(model, company_id: int, by_object: dict) -> dict[int, int]:
    """The live versions of the objects to undo: one query per object type."""
    if not by_object:
        return {}
    live = model.objects.for_company(company_id).filter(pk__in=list(by_object))
    return dict(live.values_list("pk", "version"))


def _later_rows(history, by_object: dict, correlation_id: str) -> dict:
    """Each object's history rows of other correlation ids after its first row
    of ``correlation_id``: one query for all objects (an import's thousands)."""
    later: dict[int, list] = defaultdict(list)
    if not by_object:
        return later
    first = {object_id: own[0].history_id for object_id, own in by_object.items()}
    rows = (
        history.filter(id__in=list(first), history_id__gt=min(first.values()))
        .exclude(correlation_id=correlation_id)
        .order_by("history_id")
    )
    for row in rows:
        if row.history_id > first[row.id]:
            later[row.id].append(row)
    return later


@dataclass
class _Touched:
    """One object's rows of the undone correlation id, and the later ones."""

    name: str
    model: type
    object_id: int
    own: list
    later: list

    @property
    def fields(self) -> set[str]:
        return {key for row in self.own for key in (row.changes or {})} - _SYSTEM

    @property
    def order(self) -> tuple:
        last = self.own[-1]
        return (last.history_date, last.history_id)

    def conflict(self, key: str, row) -> Conflict:
        return Conflict(self.name, self.object_id, key, row.correlation_id)


def _plan_object(
    plan, registration, history, object_id: int, own: list, later: list
) -> None:
    touched = _Touched(registration.name, registration.model, object_id, own, later)
    first, last = own[0], own[-1]
    if first.history_type == "+":
        if last.history_type == "-" and not later:
            return  # created and deleted by it: nothing left to undo
        plan.conflicts += _value_conflicts(touched)
        plan.steps.append(_delete_step(touched))
        return
    before = (
        history.filter(id=object_id, history_id__lt=first.history_id)
        .order_by("-history_id")
        .first()
    ) or first
    if last.history_type == "-":
        plan.conflicts += _any_conflicts(touched)
        plan.steps.append(_restore_step(touched, before))
        return
    plan.conflicts += _value_conflicts(touched, touched.fields)
    plan.steps.append(_update_step(touched, before))


def _any_conflicts(touched: _Touched) -> list[Conflict]:
    # Restoring the object overrides every later change of it.
    conflicts = []
    for row in touched.later:
        keys = set(row.changes or {}) - _SYSTEM if row.history_type == "~" else ()
        conflicts += [touched.conflict(key, row) for key in sorted(keys) or ["*"]]
    return conflicts


def _value_conflicts(touched: _Touched, fields=None) -> list[Conflict]:
    """Later changes of ``fields`` (default: any) that left another value than
    the undone correlation id did (a later change undone since does not
    conflict); ``*`` when the object is gone."""
    if not touched.later:
        return []
    current = _shown_now(touched.model, touched.own[0].company_id, touched.object_id)
    if current is None:
        gone = [row for row in touched.later if row.history_type == "-"][-1:]
        return [touched.conflict("*", row) for row in gone or touched.later[-1:]]
    left = {key: change.get("new") for key, change in _newest(touched.own).items()}
    conflicts, seen = [], set()
    for row in touched.later:
        keys = set(row.changes or {}) - _SYSTEM
        for key in sorted(keys if fields is None else keys & fields):
            if current.get(key) != left.get(key) and (key, row.correlation_id) not in (
                seen
            ):
                seen.add((key, row.correlation_id))
                conflicts.append(touched.conflict(key, row))
    return conflicts


def _delete_step(touched: _Touched) -> Step:
    shown = {key: change.get("new") for key, change in _newest(touched.own).items()}
    return Step(
        touched.name,
        touched.model,
        touched.object_id,
        "delete",
        changes={
            key: {"old": value, "new": None}
            for key, value in shown.items()
            if key not in _SYSTEM and value is not None
        },
        order=touched.order,
    )


def _restore_step(touched: _Touched, before) -> Step:
    # ``before``: the snapshot before the first change (the deletion's own
    # snapshot when the object was deleted first thing).
    olds = _oldest(touched.own)
    return Step(
        touched.name,
        touched.model,
        touched.object_id,
        "restore",
        changes={
            key: {"old": None, "new": change.get("old")}
            for key, change in olds.items()
            if key not in _SYSTEM and change.get("old") is not None
        },
        data=_fields(touched.model, before),
        extensions={
            key[len(_EXT) :]: change.get("old")
            for key, change in olds.items()
            if key.startswith(_EXT) and change.get("old") is not None
        },
        restore={
            "version": touched.own[-1].version + 1,
            "created_at": before.created_at,
            "created_by_id": before.created_by_id,
        },
        order=touched.order,
    )


def _update_step(touched: _Touched, before) -> Step:
    olds, newest = _oldest(touched.own), _newest(touched.own)
    fields = touched.fields
    concrete = {f.name: f for f in touched.model._meta.concrete_fields}
    pruned = before is touched.own[0]
    data = {
        # The snapshot before the first change; without one (pruned), the
        # change set's old value.
        key: concrete[key].to_python(olds[key].get("old"))
        if pruned
        else getattr(before, concrete[key].attname)
        for key in fields
        if key in concrete
    }
    return Step(
        touched.name,
        touched.model,
        touched.object_id,
        "update",
        changes={
            key: {"old": newest[key].get("new"), "new": olds[key].get("old")}
            for key in sorted(fields)
        },
        data=data,
        extensions={
            key[len(_EXT) :]: olds[key].get("old")
            for key in fields
            if key.startswith(_EXT)
        },
        order=touched.order,
    )


def _shown_now(model, company_id: int, object_id: int) -> dict | None:
    """The object's fields and custom fields (``extensions.<name>``) as the API
    shows them now, None when it does not exist."""
    instance = model.objects.for_company(company_id).filter(pk=object_id).first()
    if instance is None:
        return None
    shown = represent(instance, {})
    shown.pop("extensions", None)
    for name, value in current_values(instance).items():
        shown[f"{_EXT}{name}"] = value
    return shown


def _oldest(rows) -> dict:
    """Each change-set key's change in the earliest row that has it."""
    found: dict = {}
    for row in rows:
        for key, change in (row.changes or {}).items():
            found.setdefault(key, change)
    return found


def _newest(rows) -> dict:
    return _oldest(reversed(rows))


def _fields(model, record) -> dict:
    return {
        f.name: getattr(record, f.attname)
        for f in model._meta.concrete_fields
        if f.name not in _SYSTEM
    }


def undo(*, company, correlation_id: str, user=None, dry_run: bool = False) -> UndoPlan:
    """Undo ``correlation_id`` in ``company`` (see the module docstring) and
    return the plan carried out; ``dry_run`` only plans.

    Raises ``NothingToUndo`` or ``UndoConflict`` (nothing written then).
    """
    moved = None
    for _attempt in range(2):
        try:
            return _undo_once(
                company=company,
                correlation_id=correlation_id,
                user=user,
                dry_run=dry_run,
            )
        except _Moved as exc:
            # A concurrent write changed or deleted an object between the plan
            # and the write (nothing was written): plan again, which sees it as
            # a later change (a 409 naming it) or finds nothing in the way.
            moved = exc
    raise UndoConflict([moved.conflict])


class _Moved(Exception):
    def __init__(self, step: Step):
        super().__init__(step.object_id)
        self.conflict = Conflict(step.object_type, step.object_id, "*", "")


def _undo_once(*, company, correlation_id: str, user, dry_run: bool) -> UndoPlan:
    from businessobjects import services

    with transaction.atomic():
        if not dry_run:
            _serialize(company, correlation_id)
        plan = undo_plan(company=company, correlation_id=correlation_id)
        if plan.conflicts:
            raise UndoConflict(plan.conflicts)
        if dry_run:
            return plan
        # The undo is a change of its own: the caller's correlation id (the
        # request's), a fresh one outside requests, never the one it undoes.
        own = context.peek_correlation_id()
        if own in (None, correlation_id):
            own = str(uuid.uuid4())
        with context.use_context(
            user=context.get_user(),
            company=context.get_company(),
            correlation_id=own,
        ):
            for step in plan.steps:
                _apply(services, step, company=company, user=user, reason=plan.reason)
        plan.undo_correlation_id = own
    return plan


def _serialize(company, correlation_id: str) -> None:
    """Wait for a concurrent undo of the same request (a double click, a retried
    call) to commit, so that this one plans after it: its changes are then later
    changes (a 409), not a 500 on an object it deleted meanwhile. SQLite's
    transactions (BEGIN IMMEDIATE) are serialized already."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"merp-undo:{company.pk}:{correlation_id}"],
        )


def _apply(services, step: Step, *, company, user, reason: str) -> None:
    model = step.model
    if step.action == "restore":
        services.restore(
            model,
            pk=step.object_id,
            data=step.data,
            extensions=step.extensions,
            company=company,
            user=user,
            reason=reason,
            **step.restore,
        )
        return
    instance = model.objects.for_company(company).filter(pk=step.object_id).first()
    if instance is None:
        raise _Moved(step)
    # Checked under the row lock the write takes: a change committed since the
    # plan is never overwritten.
    try:
        if step.action == "delete":
            services.delete(
                instance,
                expected_version=step.expected_version,
                user=user,
                reason=reason,
            )
        else:
            services.update(
                instance,
                data=step.data,
                extensions=step.extensions or None,
                expected_version=step.expected_version,
                user=user,
                reason=reason,
            )
    except (VersionConflict, ObjectNotFound):
        raise _Moved(step) from None
