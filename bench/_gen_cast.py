"""Who is on the generated network: clients, registries and their realms, noise peers.

The capture point sees the clients (192.168.1.100–107 and 10.20.3.10–17, each
with its own MAC, TTL 64) and everything remote through the gateway's MAC,
with the TTL it arrives with. Three registries are healthy: Harbor on
180.119.140.231:8200 and on harbor.example.org:80 (realm on the registry
itself), and Distribution as registry.example.com:5000 with its token service
auth.example.com:5001. Two are not: the founding case, 180.119.140.230:8200,
whose realm 172.16.200.100:8200 never answers, and 198.51.100.40:8200, whose
realm 10.200.0.10:8200 refuses with RST.
"""

from __future__ import annotations

from _gen_jobs import Registry
from _gen_packets import GATEWAY_MAC, Host, ipv4


def local(ip: str) -> Host:
    return Host(ipv4(ip), bytes.fromhex("525400") + ipv4(ip)[1:], 64)


def remote(ip: str, ttl: int) -> Host:
    return Host(ipv4(ip), GATEWAY_MAC, ttl)


CLIENTS = tuple(
    [local(f"192.168.1.{100 + i}") for i in range(8)]
    + [local(f"10.20.3.{10 + i}") for i in range(8)]
)
RESOLVER = remote("192.168.1.1", 64)
SSH_PEER = local("192.168.1.50")
_HARBOR = remote("180.119.140.231", 52)
_HARBOR80 = remote("198.51.100.70", 57)
_DIST = remote("203.0.113.20", 55)
_FOUNDING = remote("180.119.140.230", 52)
_REFUSING = remote("198.51.100.40", 57)
HEALTHY = (
    Registry(
        _HARBOR,
        8200,
        "180.119.140.231:8200",
        None,
        "http://180.119.140.231:8200/service/token",
        "harbor-registry",
        _HARBOR,
        8200,
        "/service/token",
        None,
        "ok",
        29_650,
    ),
    Registry(
        _HARBOR80,
        80,
        "harbor.example.org",
        "harbor.example.org",
        "http://harbor.example.org/service/token",
        "harbor-registry",
        _HARBOR80,
        80,
        "/service/token",
        "harbor.example.org",
        "ok",
        8_000,
    ),
    Registry(
        _DIST,
        5000,
        "registry.example.com:5000",
        "registry.example.com",
        "http://auth.example.com:5001/auth",
        "registry.example.com:5000",
        remote("203.0.113.21", 55),
        5001,
        "/auth",
        "auth.example.com",
        "ok",
        12_000,
    ),
)
UNREACHABLE = Registry(
    _FOUNDING,
    8200,
    "180.119.140.230:8200",
    None,
    "http://172.16.200.100:8200/service/token",
    "harbor-registry",
    remote("172.16.200.100", 63),
    8200,
    "/service/token",
    None,
    "unreachable",
    29_650,
)
REFUSED = Registry(
    _REFUSING,
    8200,
    "198.51.100.40:8200",
    None,
    "http://10.200.0.10:8200/service/token",
    "harbor-registry",
    remote("10.200.0.10", 63),
    8200,
    "/service/token",
    None,
    "refused",
    8_000,
)
REPOS = ("library/web", "team/api", "ml/trainer", "ci/runner", "infra/proxy", "data/etl")
TLS_SERVERS = (
    ("203.0.113.10", "api.snapcraft.io"),
    ("151.101.2.132", "deb.debian.org"),
    ("140.82.121.4", "github.com"),
    ("203.0.113.77", "motd.ubuntu.com"),
)
NOISE_NAMES = (
    "api.snapcraft.io,deb.debian.org,github.com,motd.ubuntu.com,ntp.ubuntu.com,"
    "wpad.lan,connectivity-check.ubuntu.com,printer.lan"
)
