"""Reads of history, company-scoped first.

The company-wide log reads the history table of every registered business object.
A page is one ``UNION ALL`` whose branches each take their table's newest
``offset + page size`` rows of the company, in the order of the
``(company, -history_date, -history_id)`` index, and PostgreSQL merges them
(Merge Append of index scans). So a page costs about ``offset + page size`` index
entries per table however large the tables are, and no second, company-wide log
table has to be written on every change. (A union whose branches only filter is
not enough: PostgreSQL then cannot use the company-first index for the merge and
sorts the company's whole history.)
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connections
from django.db.models import CharField, Q, QuerySet, Value

from businessobjects.registry import get_registration, registrations

# History rows as the log shows them; every union branch selects these columns.
LOG_COLUMNS = (
    "history_id",
    "object_type",
    "id",
    "history_date",
    "history_type",
    "history_user_id",
    "correlation_id",
    "history_change_reason",
    "version",
    "changes",
)
ACTIONS = {"created": "+", "updated": "~", "deleted": "-"}
_NEWEST_FIRST = ("-history_date", "-history_id")


def object_history(model, *, company, pk) -> QuerySet:
    """Return the history rows of ``model`` ``pk`` in ``company``, newest first.

    Rows outlive the object, so this also answers for deleted objects; another
    company's id simply has no rows here.
    """
    return (
        model.history.filter(company_id=_company_id(company), id=pk)
        .select_related("history_user")
        .order_by(*_NEWEST_FIRST)
    )


class CompanyLog(Sequence):
    """The history rows of one company across object types, newest first.

    Lazy: ``count()`` and slicing each run one query, so Django's ``Paginator``
    (and DRF's page-number pagination) can page it. Rows are dicts with
    ``LOG_COLUMNS``; ``object_type`` is the registered name (``partner``).
    """

    def __init__(self, branches: list[QuerySet] = (), names: list[str] = ()):
        self._branches = list(branches)
        self._names = list(names)

    def count(self) -> int:
        if not self._branches:
            return 0
        ids = [b.order_by().values("history_id") for b in self._branches]
        if len(ids) == 1:
            return ids[0].count()
        return ids[0].union(*ids[1:], all=True).count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("CompanyLog supports slices only, e.g. log[0:50].")
        start, stop = key.start or 0, key.stop
        if stop is None or start < 0 or stop < start:
            raise ValueError("CompanyLog needs a bounded slice [start:stop].")
        if stop == start or not self._branches:
            return []
        if len(self._branches) == 1:
            return list(self._branches[0].order_by(*_NEWEST_FIRST)[start:stop])
        newest = [_top(b, _NEWEST_FIRST, stop) for b in self._branches]
        union = newest[0].union(*newest[1:], all=True)
        # object_type last: history ids repeat across tables.
        return list(union.order_by(*_NEWEST_FIRST, "-object_type")[start:stop])

    def seek(self, position: tuple | None, limit: int, *, backwards=False) -> list:
        """Return up to ``limit`` rows after ``position`` in log order (newest
        first), or before it with ``backwards``; for keyset (cursor) pages.

        ``position`` is ``(history_date, history_id, object_type)`` of a row. No
        OFFSET and no count: each table contributes at most ``limit`` rows read
        from its company-first index.
        """
        if not self._branches or limit < 1:
            return []
        order = _NEWEST_FIRST if not backwards else ("history_date", "history_id")
        branches = [
            branch.filter(_beyond(position, name, backwards)) if position else branch
            for name, branch in zip(self._names, self._branches, strict=True)
        ]
        if len(branches) == 1:
            rows = list(branches[0].order_by(*order)[:limit])
        else:
            newest = [_top(b, order, limit) for b in branches]
            union = newest[0].union(*newest[1:], all=True)
            tie = "-object_type" if not backwards else "object_type"
            rows = list(union.order_by(*order, tie)[:limit])
        return rows[::-1] if backwards else rows


def _top(branch: QuerySet, order: tuple[str, ...], limit: int) -> QuerySet:
    """The branch's first ``limit`` rows in ``order``, where the database allows
    ORDER BY/LIMIT inside a UNION (PostgreSQL); elsewhere (SQLite, for
    development) the whole branch, ordered and cut by the union."""
    if connections[branch.db].features.supports_slicing_ordering_in_compound:
        return branch.order_by(*order)[:limit]
    return branch.order_by()


def _beyond(position: tuple, name: str, backwards: bool) -> Q:
    # Log order is (history_date, history_id, object_type), all descending. In
    # the table of object type ``name`` (constant per table), rows past
    # ``position`` compare on (history_date, history_id); a tie on both counts
    # as past only on the side ``name`` sorts to against the position's type.
    date, history_id, object_type = position
    if not backwards:
        inclusive = name < object_type
        same = {"history_id__lte" if inclusive else "history_id__lt": history_id}
        return Q(history_date__lte=date) & (Q(history_date__lt=date) | Q(**same))
    inclusive = name > object_type
    same = {"history_id__gte" if inclusive else "history_id__gt": history_id}
    return Q(history_date__gte=date) & (Q(history_date__gt=date) | Q(**same))


def company_log(
    *,
    company,
    object_types: list[str] | None = None,
    object_id: int | None = None,
    user_id: int | None = None,
    correlation_id: str | None = None,
    changed_after: datetime | None = None,
    changed_before: datetime | None = None,
    actions: list[str] | None = None,
) -> CompanyLog:
    """Return ``company``'s history across business objects, newest first.

    ``object_types`` are registered names (default: all); ``changed_after`` is
    inclusive, ``changed_before`` exclusive; ``actions`` are ``created``,
    ``updated``, ``deleted``.
    """
    names = object_types or sorted(r.name for r in registrations())
    lookups = {"company_id": _company_id(company)}
    if object_id is not None:
        lookups["id"] = object_id
    if user_id is not None:
        lookups["history_user_id"] = user_id
    if correlation_id is not None:
        lookups["correlation_id"] = correlation_id
    if changed_after is not None:
        lookups["history_date__gte"] = changed_after
    if changed_before is not None:
        lookups["history_date__lt"] = changed_before
    if actions:
        lookups["history_type__in"] = [ACTIONS[action] for action in actions]
    return CompanyLog(
        [
            get_registration(name)
            .model.history.filter(**lookups)
            .annotate(object_type=Value(name, output_field=CharField()))
            .values(*LOG_COLUMNS)
            for name in names
        ],
        names,
    )


def _company_id(company) -> int:
    if company is None:
        raise ValueError("History reads need a company; pass a Company or its id.")
    return company if isinstance(company, int) else company.pk
