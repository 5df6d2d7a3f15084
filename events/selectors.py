"""Reads of the outbox, company-scoped first."""

from .models import OutboxEvent


def company_events(company, *, after: int = 0):
    """Return ``company``'s sequenced events after position ``after``, in order.

    Positions are handed out after commit, in order and without gaps, so a reader
    that resumes after the last position it saw misses nothing.
    """
    if company is None:
        raise ValueError("company_events() needs a company (a Company or its id).")
    company_id = company if isinstance(company, int) else company.pk
    return OutboxEvent.objects.filter(
        company_id=company_id, position__gt=after
    ).order_by("position")
