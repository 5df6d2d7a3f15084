"""The result of a probe, and helpers the probes share."""

from dataclasses import dataclass, field

from django.core.checks import CheckMessage, Error

from ..conf import merp_settings

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass(frozen=True)
class Outcome:
    """Check messages (ids and hints, for the system checks) and a doctor line."""

    messages: list[CheckMessage] = field(default_factory=list)
    summary: str = ""

    @property
    def status(self) -> str:
        if any(m.is_serious() for m in self.messages):
            return FAIL
        return WARN if self.messages else PASS


# -- helpers of the probes ---------------------------------------------------


def redis_error(url: str) -> str | None:
    import redis as redis_py

    timeout = merp_settings.HEALTH_TIMEOUT
    client = redis_py.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    except Exception as exc:
        return first_line(exc)
    finally:
        client.close()
    return None


def unreachable(what: str, exc: Exception, check_id: str) -> Error:
    return Error(
        f"Cannot check {what}: {first_line(exc)}",
        hint="Fix the checks above first: the database must be reachable "
        "(businessobjects.E010) and migrated (businessobjects.E011).",
        id=check_id,
    )


def first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def where(connection) -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return str(s["NAME"])
    return f"{s.get('HOST') or 'localhost'}:{s.get('PORT') or 'default'}/{s['NAME']}"


def redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
