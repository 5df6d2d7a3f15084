"""Whether the values stored for a custom field fit a changed definition.

Both admin and API reach this through ``FieldDefinition.clean``; the definition
services (``extensions.definitions``) use it to convert values on a type change.
Values are read through the definition's ``values`` relation, so this module
does not import the models that call it.
"""

import copy

from django.core.exceptions import ValidationError

from . import types

# Rules that stored values (or objects without one) may break.
RULE_ATTRIBUTES = ("required", "choices", "min_value", "max_value", "max_length")
RULE_ATTRIBUTES += ("regex",)
# Offending objects named in a refusal; the rest are counted.
SHOWN_OFFENDERS = 10


def retyped(original, changed) -> bool:
    return (original.field_type, original.decimal_places) != (
        changed.field_type,
        changed.decimal_places,
    )


def check_stored_values(original, changed) -> None:
    """Raise ValidationError unless stored values fit ``changed``.

    Every value must convert to a new type and meet the new rules, and a field
    made required needs a value on every object. Both admin and API come here
    (``FieldDefinition.clean``), with the write path's own validation
    (``changed.type.clean``).
    """
    if retyped(original, changed):
        check_conversion(original, changed)  # also applies the new rules
    else:
        _check_rules(original, changed)
    if changed.required and not original.required:
        _check_required(original)


def _check_rules(original, changed) -> None:
    rules = [
        attr
        for attr in RULE_ATTRIBUTES
        if attr != "required" and getattr(original, attr) != getattr(changed, attr)
    ]
    if not rules:
        return
    offenders: dict[str, list[int]] = {}
    for row in original.values.all().order_by("object_id").iterator(chunk_size=2000):
        old = original.represent(getattr(row, original.column))
        if old is None or _fits(old, changed):
            continue
        # Name the rule that refuses it (the first, if only several together do).
        for attr in rules:
            alone = copy.copy(original)
            setattr(alone, attr, getattr(changed, attr))
            if not _fits(old, alone):
                break
        else:
            attr = rules[0]
        offenders.setdefault(attr, []).append(row.object_id)
    if offenders:
        raise ValidationError(
            {
                attr: [_refusal(ids, f"holds a value that breaks the new {attr}")]
                for attr, ids in offenders.items()
            }
        )


def _fits(value, definition) -> bool:
    try:
        definition.type.clean(value, definition)
    except ValidationError:
        return False
    return True


def _check_required(original) -> None:
    model = original.content_type.model_class()
    filled = original.values.all()
    if original.type.has_text_rules or original.field_type == "choice":
        filled = filled.exclude(value_text="")
    lacking = (
        model.objects.for_company(original.company_id)
        .exclude(pk__in=filled.values("object_id"))
        .order_by("pk")
    )
    count = lacking.count()
    if count:
        ids = list(lacking.values_list("pk", flat=True)[:SHOWN_OFFENDERS])
        raise ValidationError(
            {"required": [_refusal(ids, "has no value", count=count)]}
        )


def _refusal(ids: list[int], what: str, *, count: int | None = None) -> str:
    count = len(ids) if count is None else count
    shown = ", ".join(str(pk) for pk in ids[:SHOWN_OFFENDERS])
    more = count - min(len(ids), SHOWN_OFFENDERS)
    noun = "object" if count == 1 else "objects"
    verb = (
        what if count == 1 else what.replace("holds", "hold").replace("has ", "have ")
    )
    return (
        f"{count} {noun} {verb}: {shown}{f' and {more} more' if more else ''}. "
        "Change those values first."
    )


def value_conversions(original, changed):
    """Yield ``(row, new value, error message or None)`` for a type change."""
    rows = original.values.all().order_by("pk").iterator(chunk_size=2000)
    for row in rows:
        old = original.represent(getattr(row, original.column))
        if old is None:
            continue
        try:
            value = changed.type.clean(
                types.conversion_input(old, changed.type), changed
            )
        except ValidationError as exc:
            yield row, old, exc.messages[0]
        else:
            yield row, value, None


def check_conversion(original, changed) -> None:
    """Raise ValidationError unless every stored value converts to ``changed``."""
    if (original.field_type, original.decimal_places) == (
        changed.field_type,
        changed.decimal_places,
    ):
        return
    total, failures = 0, []
    for row, value, error in value_conversions(original, changed):
        total += 1
        if error is not None:
            failures.append(f"object {row.object_id}: {value!r} ({error})")
    if failures:
        attr = (
            "field_type"
            if original.field_type != changed.field_type
            else "decimal_places"
        )
        raise ValidationError(
            {
                attr: [
                    f"Cannot change '{original.name}' from {original.field_type} to "
                    f"{changed.field_type}"
                    + (
                        f" with {changed.decimal_places} decimal places"
                        if changed.field_type == "decimal"
                        and changed.decimal_places is not None
                        else ""
                    )
                    + f": {len(failures)} of {total} values do not convert "
                    f"({'; '.join(failures[:3])}). Change or clear those values "
                    "first."
                ]
            }
        )
