"""Company scoping of every admin, written once (layer 0: Django and the kernel).

A company admin (an active staff user with an admin membership) sees and changes
only rows of their companies; a superuser sees all. The admins of the business
objects, of the outbox, of custom-field definitions and the history views all
mix in ``CompanyScopedAdminMixin`` or call ``admin_company_ids``.
"""

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList

from .models import Company, Membership
from .params import unsafe_text


def admin_company_ids(request) -> list[int]:
    """Return the ids of the companies ``request.user`` administers.

    Looked up once per request: the admin asks for every model on every page
    (sidebar, app index, permissions), so the answer is kept on the request.
    """
    cached = getattr(request, "merp_admin_company_ids", None)
    if cached is None:
        cached = list(
            Membership.objects.filter(
                user=request.user, role=Membership.Role.ADMIN
            ).values_list("company_id", flat=True)
        )
        request.merp_admin_company_ids = cached
    return cached


def scoped_company_ids(request) -> list[int] | None:
    """Return the companies whose rows ``request.user`` may see (``None``: all)."""
    if request.user.is_superuser:
        return None
    return admin_company_ids(request)


def is_admin_user(request) -> bool:
    """Return True if ``request.user`` may use the M-ERP admins at all."""
    user = request.user
    return user.is_active and (
        user.is_superuser or (user.is_staff and bool(admin_company_ids(request)))
    )


class SafeChangeList(ChangeList):
    """A change list that refuses filter values PostgreSQL cannot compare (a NUL
    reached the database as a 500): Django shows its "invalid filter" page."""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for key, values in lookup_params.items():
            values = values if isinstance(values, list) else [values]
            if any(unsafe_text(str(v)) for v in [key, *values]):
                raise IncorrectLookupParameters(f"Invalid value for filter {key!r}.")
        return lookup_params


class SafeChangeListMixin:
    """ModelAdmin mixin: change-list filters with a NUL are an invalid filter."""

    def get_changelist(self, request, **kwargs):
        return SafeChangeList


class CompanyScopedAdminMixin(SafeChangeListMixin):
    """ModelAdmin mixin for models with a ``company`` foreign key.

    Company admins see, add, change and delete only their companies' rows (other
    ids are a 404 through ``get_queryset``); the company choice offers only them.
    Read-only admins override ``has_add/change/delete_permission``.
    """

    def has_module_permission(self, request):
        return is_admin_user(request)

    def has_view_permission(self, request, obj=None):
        if not self.has_module_permission(request):
            return False
        company_ids = scoped_company_ids(request)
        return obj is None or company_ids is None or obj.company_id in company_ids

    has_add_permission = has_module_permission

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        company_ids = scoped_company_ids(request)
        if company_ids is None:
            return queryset
        return queryset.filter(company_id__in=company_ids)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        company_ids = scoped_company_ids(request)
        if company_ids is not None and db_field.related_model is Company:
            kwargs["queryset"] = Company.objects.filter(pk__in=company_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
