"""What the lab records: one row per capture, with the diagnosis pushcap must give for it.

A scenario is data only: which client pushes, which realm the registry
challenges with, what the router does to traffic toward it, and how the token
service behaves. lab/record.py turns a row into a capture.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.netns import PORT, REALM_IP, REGISTRY_IP

SERVICE = "harbor-registry"
ISSUER = "harbor-token-issuer"
ACCOUNT, PASSWORD = "admin", "Harbor12345"
REALM = f"http://{REALM_IP}:{PORT}/service/token"
REALM_HOSTNAME = "harbor-core.internal"
TO_REALM = f"ip daddr {REALM_IP} tcp dport {PORT}"
# pushcap's token-flow verdicts (analyzer/detectors/tokenflow.py, README): exactly one per
# challenged flow, whatever other detectors add beside it.
TOKEN_FLOW_RULES = frozenset({
    "token-service-unreachable", "token-service-refused", "token-service-unreachable-icmp",
    "realm-name-unresolved", "realm-internal-address", "registry-connection-failed",
    "token-request-failed", "token-rejected", "realm-invalid", "realm-not-contacted",
    "token-flow-ok",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    expected_rule: str
    summary: str  # one line for the note and --list
    setup: str  # what the lab does differently, for the note
    client: str = "skopeo"  # or "podman"
    realm: str = REALM
    fault: str | None = None  # an nftables rule for the router's forward chain
    token_fail: int | None = None  # the token service answers every request with this status
    key_id: str = "x5c"
    password: str = PASSWORD  # what the client sends; the token service expects PASSWORD
    layers: int = 3
    timeout_s: float = (
        110.0  # the whole client run is killed after this (skopeo also has --command-timeout)
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "founding-case",
        "token-service-unreachable",
        "realm on the internal address; the router silently drops the SYNs toward it",
        f"router: `{TO_REALM} drop`",
        fault=f"{TO_REALM} drop",
    ),
    Scenario(
        "realm-refused",
        "token-service-refused",
        "realm on the internal address; the router rejects the SYNs with a TCP reset",
        f"router: `{TO_REALM} reject with tcp reset` (the router forges the RST: TTL 64)",
        fault=f"{TO_REALM} reject with tcp reset",
    ),
    Scenario(
        "realm-icmp-unreachable",
        "token-service-unreachable-icmp",
        "realm on the internal address; the router answers the SYNs with ICMP host unreachable",
        f"router: `{TO_REALM} reject with icmp type host-unreachable`",
        fault=f"{TO_REALM} reject with icmp type host-unreachable",
    ),
    Scenario(
        "realm-hostname-nxdomain",
        "realm-name-unresolved",
        f"realm `http://{REALM_HOSTNAME}:{PORT}/service/token`: a name the client's DNS does not know",
        "the router's DNS server answers NXDOMAIN to every query",
        realm=f"http://{REALM_HOSTNAME}:{PORT}/service/token",
    ),
    Scenario(
        "healthy-push",
        "token-flow-ok",
        "realm on the internal address, reachable: the push succeeds",
        "nothing is in the way; the token service issues a token the registry accepts",
    ),
    Scenario(
        "healthy-push-kid",
        "token-flow-ok",
        "the healthy push, the token's key named by a libtrust `kid` as Harbor does",
        "token header `kid` (libtrust form) instead of `x5c`: the token response is ~1.5 KB, "
        "not ~4.4 KB",
        key_id="libtrust",
    ),
    Scenario(
        "token-bad-password",
        "token-request-failed",
        "the token service refuses the client's credentials (401)",
        "skopeo sends the password `wrong-password`",
        password="wrong-password",
    ),
    Scenario(
        "token-forbidden",
        "token-request-failed",
        "the token service answers 403 to every token request",
        "token service started with `--fail 403`",
        token_fail=403,
    ),
    Scenario(
        "token-server-error",
        "token-request-failed",
        "the token service answers 500 to every token request",
        "token service started with `--fail 500`",
        token_fail=500,
    ),
    Scenario(
        "realm-missing-port",
        "token-service-refused",
        f"realm `http://{REGISTRY_IP}/service/token`: Harbor's external_url without its port",
        f"nothing listens on {REGISTRY_IP}:80, so the registry host itself answers RST (TTL 63)",
        realm=f"http://{REGISTRY_IP}/service/token",
    ),
    Scenario(
        "token-untrusted-key",
        "token-rejected",
        "the token is issued (200) but the registry does not trust its signing key",
        "the token's header names the key by an RFC 7638 `kid` (Distribution v3 style), "
        "which Distribution 2.8 rejects: `token signed by untrusted key`",
        key_id="rfc7638",
    ),
    Scenario(
        "podman-founding-case",
        "token-service-unreachable",
        "the founding case pushed with podman instead of skopeo",
        f"router: `{TO_REALM} drop`; client: podman",
        client="podman",
        fault=f"{TO_REALM} drop",
        # One layer: with three, podman's 12 parallel attempts make more evidence rows than
        # pushcap shows (60), which tests/test_tshark_crosscheck.py does not allow for yet.
        layers=1,
        timeout_s=150.0,
    ),
    Scenario(
        "podman-healthy-push",
        "token-flow-ok",
        "the healthy push with podman instead of skopeo",
        "nothing is in the way; client: podman",
        client="podman",
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}
