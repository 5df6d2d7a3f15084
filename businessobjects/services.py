"""The single write path for business objects.

Every create, update and delete runs in ONE transaction that writes, together:
the row, its custom-field values (``extensions.services``), its history row
(``audit``, via django-simple-history with the change set attached) and its outbox
event (``events.outbox``). Views, admin, tasks and commands call these functions;
nothing else saves a business object.
"""

from collections.abc import Collection, Iterable, Mapping
from contextlib import nullcontext
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit import recorder as audit
from events import outbox
from extensions import values as ext

from . import context, db
from .conf import merp_settings
from .context import change_reason
from .exceptions import (
    ObjectInUse,
    ObjectNotFound,
    PreconditionFailed,
    VersionConflict,
)
from .models import BusinessObject
from .registry import get_registration
from .representation import represent

BO = TypeVar("BO", bound=BusinessObject)

# Fields that are bookkeeping, not business changes.
_UNTRACKED = frozenset({"id", "version", "created_at", "updated_at", "extensions"})


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
    company = _company(company)
    user = _user(user)
    reason = context.clean_reason(reason)
    with transaction.atomic(), _reason_scope(reason):
        instance = model(company=company, created_by=user, updated_by=user)
        _assign(instance, data)
        staged = _validate(instance, extensions, creating=True)
        _lock_references([instance])
        payload = represent(instance, staged.values)
        changes = _diff({}, payload) | _ext_changes(staged)
        _save(instance)
        audit.record([instance], "+", user=user, changes=[changes], reason=reason)
        ext.write(instance, staged, user=user)
        payload = represent(instance, staged.values)  # with its id and dates
        _publish([instance], "created", user=user, changes=[changes], payload=[payload])
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
) -> BO:
    """Apply ``data`` and ``extensions`` (merged) to ``instance`` under a row lock.

    ``expected_version`` enables the optimistic lock: if it differs from the stored
    version, ``VersionConflict`` is raised and nothing changes. ``if_match`` (the
    versions of an HTTP ``If-Match``) likewise raises ``PreconditionFailed`` when
    the stored version is not among them. Both are checked under the row lock.
    An update that changes nothing writes nothing (no version bump, history or
    event). Field and custom-field errors are raised together.
    """
    user = _user(user)
    reason = context.clean_reason(reason)
    with transaction.atomic(), _reason_scope(reason):
        locked = _lock(instance)
        _check_version(locked, expected_version, if_match)
        # Change sets skip "extensions": custom-field changes come from the staging.
        before = represent(locked, {})
        _assign(locked, data or {})
        staged = _validate(locked, extensions, creating=False)
        _lock_references([locked])
        changes = _diff(before, represent(locked, {})) | _ext_changes(staged)
        if changes:
            locked.version += 1
            locked.updated_by = user
            _save(locked)
            audit.record([locked], "~", user=user, changes=[changes], reason=reason)
            ext.write(locked, staged, user=user)
            payload = represent(locked, staged.values)
            _publish(
                [locked], "updated", user=user, changes=[changes], payload=[payload]
            )
    _copy_state(locked, instance)
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
    user = _user(user)
    reason = context.clean_reason(reason)
    with transaction.atomic(), _reason_scope(reason):
        locked = _lock(instance)
        _check_version(locked, expected_version, if_match)
        values = ext.current_values(locked)
        before = represent(locked, values)
        changes = _diff(before, {}) | {
            f"extensions.{name}": {"old": value, "new": None}
            for name, value in values.items()
            if value is not None
        }
        pk = locked.pk
        ext.remove(locked, user=user)
        # audit.record writes the history row; simple-history's signal must not.
        locked.skip_history_when_saving = True
        try:
            with transaction.atomic():
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
        _publish([locked], "deleted", user=user, changes=[changes], payload=[before])


# One definitions lookup per call, not one per row.
@ext.pinned_definitions()
def bulk_create(
    model: type[BO],
    *,
    rows: Iterable[Mapping[str, Any]],
    company=None,
    user=None,
    batch_size: int | None = None,
    reason: str | None = None,
) -> list[BO]:
    """Create many rows in one transaction, batched: rows, values, history, outbox.

    Each row is a mapping of field values, optionally with an ``extensions`` key.
    Every row is validated before anything is written; errors are reported as
    ``{"rows": {index: errors}}`` and nothing is written.
    """
    company = _company(company)
    user = _user(user)
    reason = context.clean_reason(reason)
    batch_size = batch_size or merp_settings.BULK_BATCH_SIZE
    errors: dict[int, Any] = {}
    cleaned: list[tuple[int, BO, Any]] = []
    for index, row in enumerate(rows):
        row = dict(row)
        extensions = row.pop("extensions", None)
        instance = model(company=company, created_by=user, updated_by=user)
        try:
            _assign(instance, row)
        except ValidationError as exc:
            errors[index] = _error_dict(exc)
            continue
        try:
            _clean(instance, validate_unique=False, references=False)
            problem = None
        except ValidationError as exc:
            problem = exc
        cleaned.append((index, instance, extensions, problem))
    # References to other objects are checked in one query per field, not one
    # per row; a row reports the first bad one, as _clean() would. (A reference
    # that failed cleaning is not a value to look up: its error is reported.)
    reference_names = {f.name for f in _reference_fields(model)}
    bad_references = _missing_references(
        model,
        company,
        [
            instance
            for _, instance, _, problem in cleaned
            if problem is None or not reference_names & set(_error_fields(problem))
        ],
    )
    pending: list[tuple[BO, ext.ExtensionWrite]] = []
    for index, instance, extensions, problem in cleaned:
        # Every problem of a row at once: fields, references and custom fields.
        known = [problem, bad_references.get(id(instance))]
        try:
            staged = _validate(
                instance,
                extensions,
                creating=True,
                known_errors=[error for error in known if error is not None],
            )
        except ValidationError as exc:
            errors[index] = _error_dict(exc)
            continue
        pending.append((instance, staged))
    if errors:
        # params carry the row index and its errors for callers that report per
        # row (merp_import); the message reads as before.
        raise ValidationError(
            {
                "rows": [
                    ValidationError(
                        "row %(row)s: %(errors)s",
                        code="invalid_row",
                        params={"row": i, "errors": e},
                    )
                    for i, e in sorted(errors.items())
                ]
            }
        )

    created: list[BO] = []
    with transaction.atomic(), _reason_scope(reason):
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            instances = [instance for instance, _ in chunk]
            _lock_references(instances)
            try:
                with transaction.atomic():
                    # COPY with ids from the sequence on PostgreSQL.
                    db.create_objects(model, instances)
            except IntegrityError as exc:
                end = start + len(chunk) - 1
                error = ValidationError(
                    "rows %(start)s-%(end)s: %(error)s",
                    code="integrity",
                    params={"start": start, "end": end, "error": exc},
                )
                raise ValidationError({"rows": [error]}) from exc
            payloads = [
                represent(instance, staged.values) for instance, staged in chunk
            ]
            changes = [
                _diff({}, payload) | _ext_changes(staged)
                for payload, (_, staged) in zip(payloads, chunk, strict=True)
            ]
            audit.record(instances, "+", user=user, changes=changes, reason=reason)
            ext.bulk_write(chunk, user=user)
            _publish(instances, "created", user=user, changes=changes, payload=payloads)
            created.extend(instances)
    return created


# One definitions lookup per call, not one per row.
@ext.pinned_definitions()
def bulk_update(
    model: type[BO],
    *,
    rows: Iterable[Mapping[str, Any]],
    company=None,
    user=None,
    batch_size: int | None = None,
    reason: str | None = None,
) -> list[BO]:
    """Update many rows of ``company`` in one transaction, batched.

    Each row is a mapping with the ``id`` to update, optionally ``version`` (the
    optimistic lock, as in ``update``) and ``extensions`` (merged), and the field
    values to set. Rows are locked, validated and diffed as in ``update``; rows
    that change nothing write nothing. Every changed row gets its version bumped,
    its own change set on its history row and its own outbox event.

    Errors (unknown ids, stale versions, invalid values) are reported as
    ``{"rows": ["row <index>: ..."]}`` and nothing is written. Returns the rows
    that changed.
    """
    company = _company(company)
    user = _user(user)
    reason = context.clean_reason(reason)
    batch_size = batch_size or merp_settings.BULK_BATCH_SIZE
    requests: list[tuple[int, Any, int | None, dict, Any]] = []
    errors: list[str] = []
    seen: set = set()
    for index, row in enumerate(rows):
        row = dict(row)
        pk, expected_version = row.pop("id", None), row.pop("version", None)
        extensions = row.pop("extensions", None)
        if not isinstance(pk, int) or isinstance(pk, bool) or pk in seen:
            problem = "appears more than once" if pk in seen else "must be an integer"
            errors.append(f"row {index}: {{'id': ['The id {problem}.']}}")
            continue
        seen.add(pk)
        requests.append((index, pk, expected_version, row, extensions))
    if errors:
        raise ValidationError({"rows": errors})

    changed: list[BO] = []
    with transaction.atomic(), _reason_scope(reason):
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            # Lock in pk order so that concurrent bulk updates cannot deadlock.
            locked = {
                obj.pk: obj
                for obj in model.objects.select_for_update()
                .for_company(company)
                .filter(pk__in=[pk for _, pk, *_ in chunk])
                .order_by("pk")
            }
            ext.prefetch(list(locked.values()))
            now = timezone.now()
            batch: list[tuple[BO, ext.ExtensionWrite, dict]] = []
            fields = {"version", "updated_by", "updated_at"}
            for index, pk, expected_version, data, extensions in chunk:
                instance = locked.get(pk)
                if instance is None:
                    errors.append(f"row {index}: {{'id': ['Not found: {pk}.']}}")
                    continue
                if expected_version is not None and expected_version != (
                    instance.version
                ):
                    conflict = VersionConflict(
                        expected=expected_version, actual=instance.version
                    )
                    errors.append(f"row {index}: {{'version': [{str(conflict)!r}]}}")
                    continue
                try:
                    before = represent(instance, {})  # as in update()
                    _assign(instance, data)
                    _clean(instance, validate_unique=False)
                    staged = ext.prepare(model, company, extensions, instance=instance)
                except ValidationError as exc:
                    errors.append(f"row {index}: {_error_dict(exc)}")
                    continue
                changes = _diff(before, represent(instance, {})) | _ext_changes(staged)
                if not changes:
                    continue
                instance.version += 1
                instance.updated_by = user
                instance.updated_at = now  # bulk_update() skips auto_now
                fields.update(instance._meta.get_field(name).name for name in data)
                batch.append((instance, staged, changes))
            if errors or not batch:
                # Keep validating the remaining batches so every error is reported;
                # the raise below rolls back whatever was written.
                continue
            instances = [instance for instance, *_ in batch]
            try:
                with transaction.atomic():
                    # Only changed rows reach bulk_update (simple-history #1363).
                    model.objects.bulk_update(instances, sorted(fields))
            except IntegrityError as exc:
                raise ValidationError(
                    {"rows": [f"rows {start}-{start + len(chunk) - 1}: {exc}"]}
                ) from exc
            changes = [change_set for _, _, change_set in batch]
            audit.record(instances, "~", user=user, changes=changes, reason=reason)
            for instance, staged, _ in batch:
                if staged.changes:  # rows that changed only fields: no values to write
                    ext.write(instance, staged, user=user)
            payloads = [represent(i, staged.values) for i, staged, _ in batch]
            _publish(instances, "updated", user=user, changes=changes, payload=payloads)
            changed.extend(instances)
        if errors:
            raise ValidationError({"rows": errors})
    return changed


# -- internals ---------------------------------------------------------------


def _reason_scope(reason: str | None):
    # The custom-field values' own history rows read the reason from the context.
    return change_reason(reason) if reason else nullcontext()


def _company(company):
    company = company if company is not None else context.get_company()
    if company is None:
        raise ValueError(
            "No company: pass company= or run inside businessobjects.context."
            "use_context(company=...)."
        )
    return company


def _user(user):
    return user if user is not None else context.get_user()


def _assign(instance: BusinessObject, data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        if name in BusinessObject.SYSTEM_FIELDS or name == "extensions":
            raise ValidationError({name: ["This field is managed by the framework."]})
        try:
            field = instance._meta.get_field(name)
        except Exception:
            raise ValidationError({name: ["Unknown field."]}) from None
        if (
            field.is_relation
            and value is not None
            and not isinstance(value, models.Model)
        ):
            setattr(instance, field.attname, value)
        else:
            setattr(instance, name, value)


def _clean(
    instance: BusinessObject,
    *,
    validate_unique: bool = True,
    references: bool = True,
) -> None:
    instance.full_clean(
        exclude=["company", "created_by", "updated_by"],
        validate_unique=validate_unique,
        validate_constraints=validate_unique,
    )
    if references:
        bad = _missing_references(type(instance), instance.company_id, [instance])
        if bad:
            raise bad[id(instance)]


def _validate(
    instance: BusinessObject,
    extensions: Mapping[str, Any] | None,
    *,
    creating: bool,
    known_errors: list[ValidationError] | None = None,
) -> "ext.ExtensionWrite":
    """Clean ``instance`` and stage its custom fields; raise every error at once.

    A request with a bad field and a bad custom-field value is told both in one
    answer, not the second only after fixing the first. Bulk writes clean and
    check references per batch and pass a row's problems as ``known_errors``.
    """
    errors: list[ValidationError] = []
    if known_errors is None:
        try:
            _clean(instance)
        except ValidationError as exc:
            errors.append(exc)
    else:
        errors.extend(known_errors)
    staged = None
    try:
        staged = ext.prepare(
            type(instance),
            instance.company_id,
            extensions,
            instance=None if creating else instance,
        )
    except ValidationError as exc:
        errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else merge_errors(errors)
    return staged


def merge_errors(errors: Iterable[ValidationError]) -> ValidationError:
    """Return one ValidationError holding every error of ``errors``, by field.

    Custom-field errors keep their API shape (``api_detail``: ``{"extensions":
    {name: [messages]}}``).
    """
    by_field: dict[str, list] = {}
    api_detail: dict[str, Any] = {}
    for error in errors:
        detail = getattr(error, "api_detail", None)
        if hasattr(error, "error_dict"):
            for name, items in error.error_dict.items():
                by_field.setdefault(name, []).extend(items)
                if detail is None or name not in detail:
                    messages = ValidationError(items).messages
                    api_detail.setdefault(name, []).extend(messages)
        else:
            by_field.setdefault("__all__", []).extend(error.error_list)
            api_detail.setdefault("__all__", []).extend(error.messages)
        if detail is not None:
            api_detail.update(detail)
    merged = ValidationError(by_field)
    merged.api_detail = api_detail
    return merged


def _check_version(
    locked: BusinessObject,
    expected_version: int | None,
    if_match: Collection[int] | None,
) -> None:
    # HTTP preconditions are evaluated before the request's own content.
    if if_match is not None and locked.version not in if_match:
        raise PreconditionFailed(actual=locked.version)
    if expected_version is not None and expected_version != locked.version:
        raise VersionConflict(expected=expected_version, actual=locked.version)


def _reference_fields(model) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if field.is_relation
        and field.related_model is not None
        and issubclass(field.related_model, BusinessObject)
    ]


def _missing_references(model, company, instances: list) -> dict[int, ValidationError]:
    """Map ``id(instance)`` to the error of its first reference to another
    business object that is not in ``company``; one query per field."""
    bad: dict[int, ValidationError] = {}
    for field in _reference_fields(model):
        pks = {getattr(i, field.attname) for i in instances} - {None}
        if not pks:
            continue
        # A reference to another business object must stay inside the company.
        found = set(
            field.related_model.objects.for_company(company)
            .filter(pk__in=pks)
            .values_list("pk", flat=True)
        )
        for instance in instances:
            pk = getattr(instance, field.attname)
            if pk is not None and pk not in found and id(instance) not in bad:
                message = f'Invalid pk "{pk}" - object does not exist.'
                bad[id(instance)] = ValidationError({field.name: [message]})
    return bad


def _lock_references(instances: list[BusinessObject]) -> None:
    """Lock the business objects ``instances`` refer to until commit.

    A concurrent delete of a referenced row then waits for this transaction and
    finds the new reference (409), or, having committed first, leaves nothing to
    lock here (400). Unlocked, the foreign key failed at COMMIT: a 500.
    """
    model = type(instances[0])
    for field in model._meta.concrete_fields:
        related = field.related_model
        if not (field.is_relation and related and issubclass(related, BusinessObject)):
            continue
        wanted = {getattr(i, field.attname) for i in instances} - {None}
        if not wanted:
            continue
        found = set(
            related.objects.for_company(instances[0].company_id)
            .select_for_update(no_key=True)
            .filter(pk__in=wanted)
            .values_list("pk", flat=True)
        )
        missing = sorted(wanted - found, key=str)
        if missing:
            message = f'Invalid pk "{missing[0]}" - object does not exist.'
            raise ValidationError({field.name: [message]})


def _lock(instance: BO) -> BO:
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


def _diff(before: dict, after: dict) -> dict:
    changes = {}
    for key in before.keys() | after.keys():
        if key in _UNTRACKED:
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = {"old": old, "new": new}
    return changes


def _ext_changes(staged: "ext.ExtensionWrite") -> dict:
    return {f"extensions.{name}": change for name, change in staged.changes.items()}


def _save(instance: BusinessObject) -> None:
    """Save the row; the caller writes its history with ``audit.record``."""
    instance.skip_history_when_saving = True  # simple-history's signal stays silent
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise _integrity_error(instance, exc) from exc
    finally:
        del instance.skip_history_when_saving


def _integrity_error(instance: BusinessObject, exc: IntegrityError) -> ValidationError:
    """Name the fields of the rule the database refused (it names the constraint).

    full_clean() skips constraints that include ``company``, and a concurrent insert
    can pass any check, so unique rules are enforced here, by the database.
    """
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    for constraint in instance._meta.total_unique_constraints:
        if constraint.name == name:
            fields = [f for f in constraint.fields if f != "company"] or ["company"]
            message = (
                f"A {instance._meta.verbose_name} with this "
                f"{' and '.join(fields)} already exists in this company."
            )
            return ValidationError({field: [message] for field in fields})
    try:
        instance.validate_unique()  # unique=True fields carry Django's messages
    except ValidationError as error:
        return error
    return ValidationError(
        {"non_field_errors": [f"Violates the database rule {name or 'unknown'!r}."]}
    )


def _publish(
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
                (
                    instance.pk,
                    instance.company_id,
                    instance.version,
                    payload[i],
                    changes[i],
                )
                for i, instance in enumerate(instances)
            ),
        )
        return
    events = [
        outbox.build_event(
            aggregate_type=registration.name,
            action=action,
            aggregate_id=instance.pk,
            company_id=instance.company_id,
            user_id=user_id,
            correlation_id=correlation_id,
            version=instance.version,
            payload=payload[i],
            changes=changes[i],
        )
        for i, instance in enumerate(instances)
    ]
    outbox.enqueue(events)


def _error_fields(exc: ValidationError) -> list[str]:
    return list(exc.error_dict) if hasattr(exc, "error_dict") else []


def _error_dict(exc: ValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


def _copy_state(source: BO, target: BO) -> None:
    if source is not target:
        target.__dict__.update(
            {k: v for k, v in source.__dict__.items() if not k.startswith("_state")}
        )
