"""Bulk import of business objects from CSV, through ``services.bulk_create``.

Rows go in batches through the single write path, so imported objects get their
custom-field values, history and events like any other write. The whole file is
one transaction: it commits only when every row is good (or when the caller
allows a partial import), and a dry run always rolls back; either way every bad
row is reported with its line number and the reason.
"""

import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from . import services
from .context import use_context
from .models import BusinessObject

# Column headers that name a custom field: ``ext:<name>`` or ``extensions.<name>``.
EXTENSION_PREFIXES = ("ext:", "extensions.")


# Spreadsheet spellings of booleans (Django's own parser knows only t/f/1/0/True).
_BOOLEANS = {
    **dict.fromkeys(("true", "t", "yes", "y", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0"), False),
}


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, bad header)."""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False
    correlation_id: str = ""


@dataclass(frozen=True)
class _Row:
    line: int
    data: dict[str, Any]


def count_rows(stream: IO[str], *, delimiter: str = ",") -> int:
    """Return the number of data records (not lines) in a CSV file."""
    return max(sum(1 for _ in csv.reader(stream, delimiter=delimiter)) - 1, 0)


def import_rows(
    model: type[BusinessObject],
    stream: IO[str],
    *,
    company,
    user=None,
    batch_size: int = 500,
    dry_run: bool = False,
    allow_partial: bool = False,
    delimiter: str = ",",
    on_batch: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import the CSV ``stream`` as ``model`` rows of ``company``.

    Headers are field names (a foreign key takes the id, e.g. ``partner``) and
    ``ext:<name>`` / ``extensions.<name>`` for custom fields. An empty cell leaves
    the field at its default. ``on_batch(n)`` is called as each batch is written,
    with the number of rows read since the last call (progress bars).
    """
    reader = csv.DictReader(stream, delimiter=delimiter)
    columns = _columns(model, reader.fieldnames)
    correlation_id = f"import-{uuid.uuid4()}"
    result = ImportResult(correlation_id=correlation_id)
    with use_context(user=user, company=company, correlation_id=correlation_id):
        with transaction.atomic():
            rows = _rows(model, reader, columns, result)
            reported = 0  # rows read so far, malformed ones included
            for batch in _batches(rows, batch_size):
                result.created += _write(model, batch, company, user, result.errors)
                if on_batch:
                    on_batch(result.rows - reported)
                    reported = result.rows
            if on_batch and result.rows > reported:
                on_batch(result.rows - reported)
            result.errors.sort(key=lambda e: e.line)
            result.committed = not dry_run and (allow_partial or not result.errors)
            if not result.committed:
                transaction.set_rollback(True)
    return result


def _columns(model, headers) -> dict[str, tuple[str, str]]:
    """Map each header to ("field", name) or ("ext", name); refuse unknown ones."""
    if not headers:
        raise ImportFileError("The file is empty: the first line must be a header.")
    writable = {
        f.name: f
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in BusinessObject.SYSTEM_FIELDS
    }
    columns: dict[str, tuple[str, str]] = {}
    problems, duplicates, seen = [], [], set()
    for header in headers:
        name = (header or "").strip()
        prefix = next((p for p in EXTENSION_PREFIXES if name.startswith(p)), None)
        if prefix and name[len(prefix) :]:
            target = ("ext", name[len(prefix) :])
        elif name in writable:
            target = ("field", name)
        else:
            problems.append(name or "(empty)")
            continue
        if target in seen:
            duplicates.append(name)
        seen.add(target)
        columns[header] = target
    if problems or duplicates:
        parts = []
        if problems:
            parts.append(
                f"unknown column(s) {', '.join(map(repr, problems))}; "
                f"{model._meta.model_name} columns are {', '.join(sorted(writable))} "
                f"and custom fields as ext:<name>"
            )
        if duplicates:
            parts.append(f"duplicate column(s) {', '.join(duplicates)}")
        raise ImportFileError(f"line 1: {'; '.join(parts)}.")
    return columns


def _rows(model, reader: csv.DictReader, columns, result) -> Iterator[_Row]:
    fields = {
        name: model._meta.get_field(name)
        for kind, name in columns.values()
        if kind == "field"
    }
    line = reader.line_num + 1
    for record in reader:
        result.rows += 1
        extra = record.pop(None, None)
        if extra or None in record.values():
            got = sum(v is not None for v in record.values()) + len(extra or ())
            result.errors.append(
                RowError(line, f"{got} values for {len(columns)} columns.")
            )
        else:
            yield _Row(line, _row_data(record, columns, fields))
        line = reader.line_num + 1


def _row_data(record: dict, columns, fields) -> dict[str, Any]:
    data: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    for header, raw in record.items():
        kind, name = columns[header]
        value = raw.strip()
        if kind == "ext":
            # An empty cell sets nothing (required custom fields still apply).
            if value:
                extensions[name] = value
            continue
        field = fields[name]
        # An empty cell means "the default", or NULL where the field allows it;
        # a required field left empty is reported by validation.
        if value == "" and (field.has_default() or field.null):
            continue
        if field.get_internal_type() == "BooleanField":
            value = _BOOLEANS.get(value.lower(), value)
        data[name] = value
    if extensions:
        data["extensions"] = extensions
    return data


def _batches(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(model, batch: list[_Row], company, user, errors: list[RowError]) -> int:
    """Create ``batch`` through the service; report bad rows and write the rest.

    Validation errors name their rows; a uniqueness violation only names the
    batch, so the batch is split in halves until the offending rows are alone.
    """
    if not batch:
        return 0
    try:
        services.bulk_create(
            model,
            rows=[row.data for row in batch],
            company=company,
            user=user,
            batch_size=len(batch),
        )
    except ValidationError as exc:
        problems = exc.error_dict.get("rows", []) if hasattr(exc, "error_dict") else []
        invalid = [p for p in problems if p.code == "invalid_row"]
        if invalid:
            bad = set()
            for problem in invalid:
                index = problem.params["row"]
                bad.add(index)
                errors.append(RowError(batch[index].line, _reason(problem)))
            good = [row for i, row in enumerate(batch) if i not in bad]
            return _write(model, good, company, user, errors)
        if any(p.code == "integrity" for p in problems):
            if len(batch) == 1:
                cause = problems[0].params["error"]
                message = str(cause).strip().splitlines()[0]
                errors.append(
                    RowError(batch[0].line, f"Violates a uniqueness rule: {message}")
                )
                return 0
            middle = len(batch) // 2
            return _write(model, batch[:middle], company, user, errors) + _write(
                model, batch[middle:], company, user, errors
            )
        # Not about particular rows (e.g. no company): every row has the problem.
        raise
    return len(batch)


def _reason(problem: ValidationError) -> str:
    detail = problem.params["errors"]
    if isinstance(detail, dict):
        return "; ".join(
            f"{name}: {' '.join(map(str, messages))}"
            for name, messages in detail.items()
        )
    return " ".join(map(str, detail))
