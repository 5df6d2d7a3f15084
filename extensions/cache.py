"""Definitions cache: a list request resolves custom fields without a query.

Entries live in Django's default cache (django-redis when ``REDIS_URL`` is set,
local memory otherwise), tagged with a per-(company, object) generation. A change
bumps the generation, at once and again after commit: a reader that loaded the old
definitions while the change was committing tagged them with the old generation,
so nobody uses them any more. Local memory is per process, so without Redis other
processes see a change after ``EXTENSIONS_CACHE_TIMEOUT`` seconds at most.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction

from businessobjects.conf import merp_settings

_PREFIX = "ext:defs"

logger = logging.getLogger(__name__)

# Definitions already looked up inside a ``pinned()`` block, by (company, type).
_pinned: ContextVar[dict | None] = ContextVar("merp_ext_pinned", default=None)


@contextmanager
def pinned() -> Iterator[None]:
    """Look each company's definitions up once inside the block.

    Bulk writes validate thousands of rows against the same definitions; without
    this every row costs a cache round trip (two, with validation). A definition
    change inside the block forgets what was pinned. Nested blocks share the
    outer one.
    """
    if _pinned.get() is not None:
        yield
        return
    token = _pinned.set({})
    try:
        yield
    finally:
        _pinned.reset(token)


def _gen_key(company_id: int, content_type_id: int) -> str:
    return f"{_PREFIX}:gen:{company_id}:{content_type_id}"


def _generation(company_id: int, content_type_id: int) -> str:
    key = _gen_key(company_id, content_type_id)
    generation = cache.get(key)
    if generation is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        generation = cache.get(key)
    return generation


def definitions(company_id: int, content_type_id: int) -> list:
    """Return every FieldDefinition (active or not) of a company's object, ordered.

    One cache round trip on a hit: the entry is stored with the generation it
    was loaded under and used only while that generation is current. The cache
    only saves queries: when it fails (Redis down), the database answers.
    Inside ``pinned()`` the first answer is reused.
    """
    memo = _pinned.get()
    if memo is None:
        return _cached(company_id, content_type_id)
    key = (company_id, content_type_id)
    if key not in memo:
        memo[key] = _cached(company_id, content_type_id)
    return memo[key]


def _cached(company_id: int, content_type_id: int) -> list:
    gen_key = _gen_key(company_id, content_type_id)
    data_key = f"{_PREFIX}:{company_id}:{content_type_id}"
    try:
        found = cache.get_many([gen_key, data_key])
        generation = found.get(gen_key) or _generation(company_id, content_type_id)
    except Exception:
        logger.warning("Custom-field definitions cache unavailable", exc_info=True)
        return _load(company_id, content_type_id)
    entry = found.get(data_key)
    if entry is not None and entry[0] == generation:
        return entry[1]
    loaded = _load(company_id, content_type_id)
    try:
        cache.set(
            data_key,
            (generation, loaded),
            timeout=merp_settings.EXTENSIONS_CACHE_TIMEOUT,
        )
    except Exception:
        logger.warning("Custom-field definitions cache unavailable", exc_info=True)
    return loaded


def _load(company_id: int, content_type_id: int) -> list:
    from .models import FieldDefinition

    return list(
        FieldDefinition.objects.filter(
            company_id=company_id, content_type_id=content_type_id
        )
        .select_related("content_type")
        .order_by("order", "name")
    )


def definitions_for_model(company_id: int, model) -> list:
    memo = _pinned.get()
    if memo is not None and (company_id, model) in memo:
        return memo[company_id, model]
    content_type = ContentType.objects.get_for_model(model)
    found = definitions(company_id, content_type.pk)
    if memo is not None:
        memo[company_id, model] = found
    return found


def invalidate(company_id: int, content_type_id: int) -> None:
    """Forget the definitions of a company's object, now and after commit."""
    memo = _pinned.get()
    if memo is not None:
        memo.clear()

    def bump() -> None:
        try:
            cache.set(_gen_key(company_id, content_type_id), uuid.uuid4().hex, None)
        except Exception:
            # The change itself must not fail for the cache; entries cached before
            # the outage may be served until EXTENSIONS_CACHE_TIMEOUT.
            logger.error(
                "Could not invalidate cached custom-field definitions of company "
                "%s (content type %s)",
                company_id,
                content_type_id,
                exc_info=True,
            )

    bump()
    transaction.on_commit(bump)


def clear() -> None:
    """Drop every cached definition (tests; after restoring a database)."""
    delete_pattern = getattr(cache, "delete_pattern", None)
    if delete_pattern is not None:
        delete_pattern(f"{_PREFIX}:*")
    else:
        cache.clear()
