"""Token authentication that reads the active company's membership with the token.

Every API request authenticates its token (one query: token and user) and then
looked up the membership of the company it acts for (a second query). Both rows
are read here in one statement, at the same moment as DRF would read them, so
nothing is cached across requests: a revoked token or membership takes effect on
the next request, as before.

The statement's text is built once per process (compiling the equivalent ORM
query, a join with a filtered relation, cost a fifth of a list page's CPU).
"""

import functools

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from businessobjects import params
from businessobjects.models import Company, Membership

from .permissions import COMPANY_HEADER, prefetch_membership

# The membership's and company's columns read beside the token and user.
_MEMBERSHIP = ("id", "role", "is_default", "company_id")
_COMPANY = ("name", "created_at")


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
        model = self.get_model()
        if request is None or model is not _token_model():
            return super().authenticate_credentials(key)
        wanted = _requested_company(request)
        alias = router.db_for_read(model)
        sql, token_fields, user_fields = _statement(wanted is None)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [key] if wanted is None else [wanted, key])
            row = cursor.fetchone()
        # What DRF's authenticate_credentials checks, with its messages.
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user_model = get_user_model()
        n_token, n_user = len(token_fields), len(user_fields)
        token = model.from_db(alias, token_fields, row[:n_token])
        user = user_model.from_db(alias, user_fields, row[n_token : n_token + n_user])
        token.user = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        membership = _membership(alias, user, row[n_token + n_user :])
        if wanted is not None or membership is not None:
            # Without a default membership, resolve_company looks further itself.
            prefetch_membership(request, wanted, membership)
        return user, token


def _token_model():
    from rest_framework.authtoken.models import Token

    return Token


@functools.cache
def _statement(default: bool) -> tuple[str, list[str], list[str]]:
    """The statement reading token, user, membership and company by token key
    (and company id unless ``default``), with the attnames of token and user."""
    token_model, user_model = _token_model(), get_user_model()
    quote = connections[router.db_for_read(token_model)].ops.quote_name
    token_fields = [f.attname for f in token_model._meta.concrete_fields]
    user_fields = [f.attname for f in user_model._meta.concrete_fields]
    columns = [
        *(f"t.{quote(f.column)}" for f in token_model._meta.concrete_fields),
        *(f"u.{quote(f.column)}" for f in user_model._meta.concrete_fields),
        *(f"m.{quote(Membership._meta.get_field(n).column)}" for n in _MEMBERSHIP),
        *(f"c.{quote(Company._meta.get_field(n).column)}" for n in _COMPANY),
    ]
    token_user = token_model._meta.get_field("user").column
    member = Membership._meta
    which = (
        f"m.{quote(member.get_field('is_default').column)}"
        if default
        else f"m.{quote(member.get_field('company').column)} = %s"
    )
    sql = (
        f"SELECT {', '.join(columns)} "
        f"FROM {quote(token_model._meta.db_table)} t "
        f"INNER JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(token_user)} "
        f"LEFT OUTER JOIN {quote(member.db_table)} m "
        f"ON m.{quote(member.get_field('user').column)} = u."
        f"{quote(user_model._meta.pk.column)} AND {which} "
        f"LEFT OUTER JOIN {quote(Company._meta.db_table)} c "
        f"ON c.{quote(Company._meta.pk.column)} = "
        f"m.{quote(member.get_field('company').column)} "
        f"WHERE t.{quote(token_model._meta.get_field('key').column)} = %s"
    )
    return sql, token_fields, user_fields


def _requested_company(request) -> int | None:
    """The ``X-Company-ID`` id when it is a well-formed one, else None (then
    ``resolve_company`` reports the header's problem itself)."""
    raw = request.headers.get(COMPANY_HEADER)
    if raw is None or not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        return None
    value = int(raw)
    return value if 0 <= value <= params.BIGINT_MAX else None


def _membership(alias: str, user, values) -> Membership | None:
    membership = dict(zip(_MEMBERSHIP, values, strict=False))
    if membership["id"] is None:
        return None
    company = Company.from_db(
        alias,
        ["id", *_COMPANY],
        [membership["company_id"], *values[len(_MEMBERSHIP) :]],
    )
    membership["user_id"] = user.pk
    # from_db takes the values in the order of the model's fields.
    fields = [f.attname for f in Membership._meta.concrete_fields]
    membership = Membership.from_db(
        alias, fields, [membership[name] for name in fields]
    )
    membership.user, membership.company = user, company
    return membership
