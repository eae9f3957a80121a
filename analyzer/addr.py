"""Addresses as people read them: packed bytes in, text out (cached, since few are distinct)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=65536)
def ip_text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def endpoint(packed: bytes | str, port: int) -> str:
    """``192.0.2.1:80`` or ``[2001:db8::1]:80``."""
    host = packed if isinstance(packed, str) else ip_text(packed)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# Documentation ranges stand for public addresses in examples and labs (RFC 5737, RFC 3849).
_DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def _is_documentation(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == net.version and ip in net for net in _DOCUMENTATION)


def is_internal(address: str) -> bool:
    """Private, loopback, link-local or unique-local: not reachable from the internet."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if _is_documentation(ip):
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local


def is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return _is_documentation(ip) or ip.is_global
