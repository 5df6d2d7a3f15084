"""Token authentication that reads the active company's membership with the token.

Every API request authenticates its token (one query: token and user) and then
looked up the membership of the company it acts for (a second query). Both rows
are read here in one statement, at the same moment as DRF would read them, so
nothing is cached across requests: a revoked token or membership takes effect on
the next request, as before.
"""

from django.db.models import F, FilteredRelation, OuterRef, Q, Subquery
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from businessobjects import params
from businessobjects.models import Company, Membership

from .permissions import COMPANY_HEADER, prefetch_membership

_MEMBERSHIP_FIELDS = ("id", "role", "is_default", "company_id")


class CompanyTokenAuthentication(TokenAuthentication):
    """DRF's ``TokenAuthentication``, with the membership that
    ``permissions.resolve_company`` needs in the same query: the one of the
    ``X-Company-ID`` company, or the user's default one."""

    def authenticate(self, request):
        self._request = request
        try:
            return super().authenticate(request)
        finally:
            del self._request

    def authenticate_credentials(self, key):
        request = getattr(self, "_request", None)
        if request is None:
            return super().authenticate_credentials(key)
        wanted = _requested_company(request)
        condition = (
            Q(user__memberships__is_default=True)
            if wanted is None
            else Q(user__memberships__company_id=wanted)
        )
        company = Company.objects.filter(pk=OuterRef("merp_m__company_id")).order_by()
        queryset = (
            self.get_model()
            .objects.select_related("user")
            .annotate(merp_m=FilteredRelation("user__memberships", condition=condition))
            .annotate(
                **{f"merp_m_{n}": F(f"merp_m__{n}") for n in _MEMBERSHIP_FIELDS},
                merp_c_name=Subquery(company.values("name")),
                merp_c_created_at=Subquery(company.values("created_at")),
            )
        )
        # What DRF's authenticate_credentials does, on this query.
        try:
            token = queryset.get(key=key)
        except self.get_model().DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        membership = _membership(token, user)
        if wanted is not None or membership is not None:
            # Without a default membership, resolve_company looks further itself.
            prefetch_membership(request, wanted, membership)
        return user, token


def _requested_company(request) -> int | None:
    """The ``X-Company-ID`` id when it is a well-formed one, else None (then
    ``resolve_company`` reports the header's problem itself)."""
    raw = request.headers.get(COMPANY_HEADER)
    if raw is None or not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        return None
    value = int(raw)
    return value if 0 <= value <= params.BIGINT_MAX else None


def _membership(token, user) -> Membership | None:
    values = {name: getattr(token, f"merp_m_{name}") for name in _MEMBERSHIP_FIELDS}
    if values["id"] is None:
        return None
    company = Company(
        id=values["company_id"],
        name=token.merp_c_name,
        created_at=token.merp_c_created_at,
    )
    company._state.adding = False
    company._state.db = token._state.db
    del values["company_id"]
    membership = Membership(user=user, company=company, **values)
    membership._state.adding = False
    membership._state.db = token._state.db
    return membership
