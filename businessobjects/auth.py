"""Logins: the lockout backend (django-axes); API tokens revoked with the password.

A lockout counts failed logins per username and client address (admin login and
``POST /api/auth/token/`` alike); see ``AXES_*`` in the settings.
"""

from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from rest_framework.throttling import BaseThrottle


class LockoutBackend(AxesStandaloneBackend):
    """Refuse a locked-out username and address before any password is checked.

    ``authenticate()`` without a request (``Client.login()``, scripts) has no
    client address to lock: it is left to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """Return the client address as the API throttles see it (``NUM_PROXIES``)."""
    return BaseThrottle().get_ident(request)


def lockout_seconds(request: HttpRequest, credentials: dict | None = None) -> int:
    """Return how long the lockout of this request's username and address lasts."""
    cool_off = get_cool_off(request) or timedelta(0)
    username = get_client_username(request, credentials)
    last = AccessAttempt.objects.filter(
        username=username, ip_address=client_ip(request)
    ).aggregate(last=Max("attempt_time"))["last"]
    left = (last + cool_off - timezone.now()) if last else cool_off
    return max(1, int(left.total_seconds() + 0.999))


def lockout_message(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        "Too many failed logins for this username from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: a 429 page (admin) or JSON (API) with Retry-After."""
    seconds = lockout_seconds(request, credentials)
    message = lockout_message(seconds)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = TemplateResponse(
            request, "businessobjects/lockout.html", {"message": message}, status=429
        )
        response.render()
    response["Retry-After"] = str(seconds)
    return response


# -- tokens revoked by a password change ---------------------------------------


def note_password_change(sender, instance, raw=False, update_fields=None, **kwargs):
    """``pre_save`` of the user model: remember whether the password hash changes."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and "password" not in update_fields:
        return
    # check_password() re-hashes with a newer hasher as set_password() and then
    # clears _password: the same password, so the tokens stay.
    if getattr(instance, "_password", None) is None and update_fields == frozenset(
        {"password"}
    ):
        return
    stored = (
        sender._default_manager.filter(pk=instance.pk)
        .values_list("password", flat=True)
        .first()
    )
    if stored is not None and stored != instance.password:
        instance._merp_password_changed = True


def revoke_tokens_on_password_change(sender, instance, created=False, **kwargs):
    """``post_save`` of the user model: a new password revokes the API token."""
    if instance.__dict__.pop("_merp_password_changed", False):
        from rest_framework.authtoken.models import Token

        Token.objects.filter(user=instance).delete()
