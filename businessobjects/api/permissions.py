from rest_framework import exceptions, permissions

from businessobjects import context, params, selectors

COMPANY_HEADER = "X-Company-ID"
# Not read from the request: the membership the token authentication read.
_NOT_READ = object()


def prefetch_membership(request, company_id: int | None, membership) -> None:
    """Hand ``resolve_company`` the user's membership of ``company_id`` (None: the
    default membership), read with the token (``authentication``)."""
    request._merp_membership = (company_id, membership)


def _prefetched(request, company_id: int | None):
    found = getattr(request, "_merp_membership", None)
    if found is None or found[0] != company_id:
        return _NOT_READ
    return found[1]


def resolve_company(request):
    """Set ``request.company`` and ``request.membership`` from the header or default.

    A company the user is not a member of is a 403; no company at all is a 400.
    """
    if getattr(request, "company", None) is not None:
        return request.company
    user = request.user
    raw = request.headers.get(COMPANY_HEADER)
    membership = None
    # A header sent empty is an error, not "use the default company": a script
    # whose company variable is unset must not write into the default one.
    if raw is not None:
        digits = raw.removeprefix("-")
        well_formed = digits.isascii() and digits.isdigit() and len(digits) <= 4300
        if well_formed and not 0 <= int(raw) <= params.BIGINT_MAX:
            # A well-formed id beyond bigint names no company of the user.
            raise exceptions.PermissionDenied("You are not a member of this company.")
        company_id = params.integer_param(
            {COMPANY_HEADER: raw}, COMPANY_HEADER, what="a company id (an integer)"
        )
        if company_id is None:
            raise exceptions.ValidationError(
                {COMPANY_HEADER: ["Must be a company id (an integer), not empty."]}
            )
        membership = _prefetched(request, company_id)
        if membership is _NOT_READ:
            membership = selectors.membership_for(user, company_id)
        if membership is None and not user.is_superuser:
            raise exceptions.PermissionDenied("You are not a member of this company.")
        company = (
            membership.company
            if membership
            else selectors.companies_for_user(user).filter(pk=company_id).first()
        )
        if company is None:
            raise exceptions.PermissionDenied("You are not a member of this company.")
    else:
        membership = _prefetched(request, None)
        if membership is _NOT_READ:
            membership = selectors.default_membership(user)
        if membership is None:
            raise exceptions.ValidationError(
                {COMPANY_HEADER: ["No company: send X-Company-ID or get a membership."]}
            )
        company = membership.company
    request.company = company
    request.membership = membership
    context.set_company(company)
    context.set_user(user)
    return company


def is_company_admin(request) -> bool:
    membership = getattr(request, "membership", None)
    return request.user.is_superuser or bool(membership and membership.is_admin)


class IsCompanyMember(permissions.BasePermission):
    """Authenticated, and a member of the active company (resolved here)."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        resolve_company(request)
        return True


class IsCompanyAdminOrReadOnly(IsCompanyMember):
    message = "Only company admins may change this."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in permissions.SAFE_METHODS or is_company_admin(request)
