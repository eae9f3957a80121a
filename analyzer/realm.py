"""The realm of a Bearer challenge, taken apart: scheme, host, port, path.

``urllib.parse`` does the splitting; this module is where its ``ValueError``
(a bad IPv6 literal, a port that is not a number) becomes ``None``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

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
    """A realm URL, or ``None`` when it is not an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
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
