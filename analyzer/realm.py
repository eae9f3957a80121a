"""The realm of a Bearer challenge, taken apart: scheme, host, port, path.

``urllib.parse`` does the splitting; this module is where its ``ValueError``
(a bad IPv6 literal, a port that is not a number) becomes ``None``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from analyzer.redact import from_wire

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Realm:
    url: str
    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    path: str
    host_is_ip: bool
    has_userinfo: bool

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def with_hostport(self, host: str, port: int) -> str:
        """This realm's URL pointed at another host and port (for the fix we suggest)."""
        shown = f"[{host}]" if ":" in host else host
        default = DEFAULT_PORTS.get(self.scheme)
        netloc = shown if port == default else f"{shown}:{port}"
        return f"{self.scheme}://{netloc}{self.path}"


def parse_realm(url: str) -> Realm | None:
    """A realm URL, or ``None`` when it is not an absolute http(s) URL with a host.

    The header's bytes are read back as UTF-8 when they are, so an internationalised
    host name becomes its IDNA form (``xn--…``, what DNS is asked); a URL with
    control characters is no URL.
    """
    url = from_wire(url).strip()
    if not url.isprintable():
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").lower()
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    return Realm(
        url=url,
        scheme=scheme,
        host=host,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        path=parts.path or "/",
        host_is_ip=is_ip,
        has_userinfo="@" in parts.netloc,
    )
