"""``/api/auth/token/``: get the API token (throttled, locked out after failures)
and revoke it."""

import hashlib
import logging
from collections.abc import Mapping

import redis
from axes.handlers.proxy import AxesProxyHandler
from django_redis.exceptions import ConnectionInterrupted
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from businessobjects.auth import lockout_message, lockout_seconds

logger = logging.getLogger("businessobjects.api")


class LoginThrottle(SimpleRateThrottle):
    """Token requests per client address (scope ``login_ip``).

    The rate is read from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` on each
    request. An unreachable cache lets the request through: the lockout, kept in
    the database, still counts failures.
    """

    scope = "login_ip"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.ident(request)}

    def ident(self, request) -> str:
        return self.get_ident(request) or ""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (ConnectionInterrupted, redis.RedisError) as exc:
            logger.warning("Login throttle skipped, cache unavailable: %s", exc)
            return True


class LoginUsernameThrottle(LoginThrottle):
    """Token requests per username and client address (scope ``login``)."""

    scope = "login"

    def ident(self, request) -> str:
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        key = f"{username}\0{self.get_ident(request)}".encode(errors="replace")
        return hashlib.sha256(key).hexdigest()


class TokenView(ObtainAuthToken):
    """POST: the user's API token for a username and password; DELETE: revoke it."""

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return super().get_permissions()

    def get_throttles(self):
        if self.request.method == "POST":
            return [LoginThrottle(), LoginUsernameThrottle()]
        return []

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request when this username and address are
            # (or just became) locked out.
            if getattr(request, "axes_locked_out", False):
                seconds = lockout_seconds(request, request.axes_credentials)
                return Response(
                    {"detail": lockout_message(seconds)},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(seconds)},
                )
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        # A success clears the failures of this username and address, as an admin
        # login does (AXES_RESET_ON_SUCCESS).
        AxesProxyHandler.user_logged_in(type(self), request, user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="The token is revoked.")},
        description=(
            "Revoke the API token of the authenticated user: requests with it are "
            "401 from now on. POST gives a new one."
        ),
    )
    def delete(self, request, *args, **kwargs):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
