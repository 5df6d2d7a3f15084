"""Helpers shared by test modules."""

from django.conf import settings
from django.test import override_settings


def override_merp(**values):
    """``override_settings`` for M-ERP settings: ``values`` on top of ``MERP``.

    Usable as a decorator or a context manager, like ``override_settings``.
    """
    return override_settings(MERP={**settings.MERP, **values})
