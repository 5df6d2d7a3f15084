"""Validation of the services' input: fields, references, custom fields, versions."""

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models

from extensions import values as ext

from ..exceptions import (
    PreconditionFailed,
    VersionConflict,
)
from ..models import BusinessObject


def assign(instance: BusinessObject, data: Mapping[str, Any]) -> None:
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


def clean(
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
        bad = missing_references(type(instance), instance.company_id, [instance])
        if bad:
            raise bad[id(instance)]


def validate(
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
            clean(instance)
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


def check_version(
    locked: BusinessObject,
    expected_version: int | None,
    if_match: Collection[int] | None,
) -> None:
    # HTTP preconditions are evaluated before the request's own content.
    if if_match is not None and locked.version not in if_match:
        raise PreconditionFailed(actual=locked.version)
    if expected_version is not None and expected_version != locked.version:
        raise VersionConflict(expected=expected_version, actual=locked.version)


def reference_fields(model) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if field.is_relation
        and field.related_model is not None
        and issubclass(field.related_model, BusinessObject)
    ]


def missing_references(model, company, instances: list) -> dict[int, ValidationError]:
    """Map ``id(instance)`` to the error of its first reference to another
    business object that is not in ``company``; one query per field."""
    bad: dict[int, ValidationError] = {}
    for field in reference_fields(model):
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


def lock_references(instances: list[BusinessObject]) -> None:
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


def integrity_error(instance: BusinessObject, exc: IntegrityError) -> ValidationError:
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


def error_fields(exc: ValidationError) -> list[str]:
    return list(exc.error_dict) if hasattr(exc, "error_dict") else []


def error_dict(exc: ValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages
