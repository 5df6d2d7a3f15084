"""Refusal of private targets (SSRF): resolve a URL's host and check every address.

Checked when an endpoint is saved and again right before each delivery, whose
connection then goes to the very address checked here (no second DNS lookup that
a rebinding attacker could answer differently).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from businessobjects.conf import merp_settings


class AddressRefused(Exception):
    """The URL's host is not allowed (or does not resolve); the message says why."""


@dataclass(frozen=True)
class Target:
    """Where to connect: ``ip`` (checked) on ``port``, for ``host``."""

    scheme: str
    host: str
    port: int
    ip: str


def kind_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` is refused ("loopback", "private", ...), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in (
        "unspecified",
        "loopback",
        "link_local",
        "multicast",
        "private",
        "reserved",
    ):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "non-global"  # shared (100.64/10), documentation ranges, ...
    return None


def resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """Resolve ``url``'s host and return the first allowed address to connect to.

    Raises ``AddressRefused`` when the host does not resolve or, unless private
    targets are allowed, when any of its addresses is not public (a host with one
    public and one private address is refused: the client could pick either).
    """
    if allow_private is None:
        allow_private = merp_settings.WEBHOOK_ALLOW_PRIVATE
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL", ...
        raise AddressRefused(f"Not a valid URL ({exc}).") from None
    if parts.scheme not in ("http", "https") or not host:
        raise AddressRefused("Enter an http:// or https:// URL with a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise AddressRefused("The port is not a number from 0 to 65535.") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # ValueError: NUL in it
        raise AddressRefused(
            f"The host {host[:100]!r} does not resolve ({exc})."
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        for address in addresses:
            kind = kind_of(ipaddress.ip_address(address.split("%", 1)[0]))
            if kind:
                raise AddressRefused(
                    f"The host {host!r} resolves to {address}, a {kind} address; "
                    "webhooks go to public addresses only (MERP_WEBHOOK_ALLOW_PRIVATE"
                    "=true lifts this for development)."
                )
    return Target(scheme=parts.scheme, host=host, port=port, ip=addresses[0])
