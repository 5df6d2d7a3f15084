"""Definitions cache: a list request resolves custom fields without a query.

Entries live in Django's default cache (django-redis when ``REDIS_URL`` is set,
local memory otherwise) under a per-(company, object) generation. A change bumps
the generation, at once and again after commit: a reader that loaded the old
definitions while the change was committing wrote them under the old generation,
which nobody reads any more. Local memory is per process, so without Redis other
processes see a change after ``EXTENSIONS_CACHE_TIMEOUT`` seconds at most.
"""

import uuid

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction

from businessobjects.conf import merp_settings

_PREFIX = "ext:defs"


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
    """Return every FieldDefinition (active or not) of a company's object, ordered."""
    from .models import FieldDefinition

    generation = _generation(company_id, content_type_id)
    key = f"{_PREFIX}:{company_id}:{content_type_id}:{generation}"
    found = cache.get(key)
    if found is None:
        found = list(
            FieldDefinition.objects.filter(
                company_id=company_id, content_type_id=content_type_id
            )
            .select_related("content_type")
            .order_by("order", "name")
        )
        cache.set(key, found, timeout=merp_settings.EXTENSIONS_CACHE_TIMEOUT)
    return found


def definitions_for_model(company_id: int, model) -> list:
    content_type = ContentType.objects.get_for_model(model)
    return definitions(company_id, content_type.pk)


def invalidate(company_id: int, content_type_id: int) -> None:
    """Forget the definitions of a company's object, now and after commit."""

    def bump() -> None:
        cache.set(_gen_key(company_id, content_type_id), uuid.uuid4().hex, None)

    bump()
    transaction.on_commit(bump)


def clear() -> None:
    """Drop every cached definition (tests; after restoring a database)."""
    delete_pattern = getattr(cache, "delete_pattern", None)
    if delete_pattern is not None:
        delete_pattern(f"{_PREFIX}:*")
    else:
        cache.clear()
