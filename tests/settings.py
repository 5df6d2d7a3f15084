"""Test settings: the project's settings plus a test-only app with its own object."""

from merp.settings import *  # noqa: F403
from merp.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The suite runs without collectstatic: WhiteNoise looks the files up per request
# instead of warning about a missing STATIC_ROOT.
WHITENOISE_AUTOREFRESH = True
