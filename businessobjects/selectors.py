"""Reads of business objects, company-scoped first."""

from collections.abc import Iterator
from typing import TypeVar

from .models import BusinessObject, Company, Membership

BO = TypeVar("BO", bound=BusinessObject)


def list_objects(model: type[BO], *, company):
    """Return the queryset of ``model`` rows of ``company`` (the API's list base)."""
    return model.objects.for_company(company)


def get(model: type[BO], *, company, pk) -> BO:
    """Return one row of ``company``; other companies' ids raise DoesNotExist."""
    return list_objects(model, company=company).get(pk=pk)


def iterate(model: type[BO], *, company, chunk_size: int = 2000) -> Iterator[BO]:
    """Stream every row of ``company`` in ``chunk_size`` batches (large exports).

    On PostgreSQL this uses a server-side cursor, so memory stays flat.
    """
    return list_objects(model, company=company).order_by("pk").iterator(chunk_size)


def companies_for_user(user):
    if user.is_superuser:
        return Company.objects.all()
    return Company.objects.filter(memberships__user=user).distinct()


def membership_for(user, company_id: int) -> Membership | None:
    return (
        Membership.objects.select_related("company")
        .filter(user=user, company_id=company_id)
        .first()
    )


def default_membership(user) -> Membership | None:
    memberships = Membership.objects.select_related("company").filter(user=user)
    return (
        memberships.filter(is_default=True).first()
        or memberships.order_by("id").first()
    )
