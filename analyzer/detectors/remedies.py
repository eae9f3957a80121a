"""Fixes and symptoms, written with the capture's own addresses and ports."""

from __future__ import annotations

from analyzer.findings import Remediation
from analyzer.realm import Realm
from analyzer.redact import redact_url

# What Linux reports for an ICMP destination-unreachable code, as Go prints it.
ICMP4_ERRORS = {
    0: ("network unreachable", "connect: network is unreachable"),
    1: ("host unreachable", "connect: no route to host"),
    2: ("protocol unreachable", "connect: protocol not available"),
    3: ("port unreachable", "connect: connection refused"),
    9: ("network administratively prohibited", "connect: no route to host"),
    10: ("host administratively prohibited", "connect: no route to host"),
    13: ("communication administratively prohibited", "connect: no route to host"),
}
ICMP6_ERRORS = {
    0: ("no route to destination", "connect: network is unreachable"),
    1: ("communication administratively prohibited", "connect: permission denied"),
    3: ("address unreachable", "connect: no route to host"),
    4: ("port unreachable", "connect: connection refused"),
    5: ("source address failed ingress/egress policy", "connect: permission denied"),
    6: ("reject route to destination", "connect: permission denied"),
}


def icmp_meaning(version: int, code: int) -> tuple[str, str]:
    """(what the code means, the client's error text) for an ICMP(v6) unreachable code."""
    table = ICMP4_ERRORS if version == 4 else ICMP6_ERRORS
    return table.get(code, (f"code {code}", "connect: no route to host"))


def _host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def server_fix(realm: Realm, registry_host: str, registry_port: int) -> Remediation:
    """Point the realm at the address clients use: the real, lasting fix."""
    good = realm.with_hostport(registry_host, registry_port)
    return Remediation(
        title="Fix the registry's realm (server side)",
        text=(
            f"The registry tells clients to fetch tokens from {redact_url(realm.url)}, an address "
            "this client "
            f"cannot use. Make the realm the address clients reach, e.g. {good}. "
            "Harbor: set `external_url` in harbor.yml to the URL clients use "
            f"(e.g. {realm.scheme}://{_host(registry_host)}:{registry_port}), then run "
            "`./prepare` and restart Harbor (`docker compose down && docker compose up -d`); "
            "the realm is `<external_url>/service/token`. "
            "Docker Distribution (registry:2): set `auth.token.realm` in config.yml, or "
            "REGISTRY_AUTH_TOKEN_REALM, and restart. Behind a TLS-terminating proxy, make sure "
            "X-Forwarded-Proto and Host reach the registry."
        ),
        commands=(
            f"# harbor.yml\nexternal_url: {realm.scheme}://{_host(registry_host)}:{registry_port}",
            f"REGISTRY_AUTH_TOKEN_REALM={good}",
        ),
    )


def dnat_workaround(
    realm_addr: str, realm_port: int, registry_host: str, registry_port: int
) -> Remediation | None:
    """Client-side: send connections for the realm to the registry's reachable address."""
    v6_realm, v6_reg = ":" in realm_addr, ":" in registry_host
    if v6_realm != v6_reg:
        return None  # NAT cannot translate between address families
    if v6_realm:
        ipt = (
            f"ip6tables -t nat -I OUTPUT -d {realm_addr} -p tcp --dport {realm_port} "
            f"-j DNAT --to-destination [{registry_host}]:{registry_port}"
        )
        fam, match, target = "ip6", f"ip6 daddr {realm_addr}", f"[{registry_host}]:{registry_port}"
    else:
        ipt = (
            f"iptables -t nat -I OUTPUT -d {realm_addr} -p tcp --dport {realm_port} "
            f"-j DNAT --to-destination {registry_host}:{registry_port}"
        )
        fam, match, target = "ip", f"ip daddr {realm_addr}", f"{registry_host}:{registry_port}"
    return Remediation(
        title="Work around it on the client (until the server is fixed)",
        text=(
            f"Rewrite the client's connections to {_host(realm_addr)}:{realm_port} so they reach "
            f"the registry at {_host(registry_host)}:{registry_port}, which serves the token "
            "endpoint too (Harbor does). Run as root on the machine that runs docker; remove the "
            "rule (`-D` instead of `-I`) once the realm is fixed."
        ),
        commands=(
            ipt,
            f"nft add table {fam} pushcap_nat",
            f"nft 'add chain {fam} pushcap_nat output {{ type nat hook output priority -100; }}'",
            f"nft add rule {fam} pushcap_nat output {match} tcp dport {realm_port} dnat to {target}",
        ),
    )


def hosts_workaround(realm: Realm, registry_host: str, registry_port: int) -> Remediation:
    """Client-side for a hostname realm: resolve it to the registry's address."""
    text = (
        f"Make {realm.host} resolve, on the client, to the registry's address {registry_host}. "
        "Docker's daemon reads /etc/hosts of the machine it runs on."
    )
    if realm.port != registry_port:
        text += (
            f" The realm uses port {realm.port} while the registry answered on {registry_port}: "
            "something must listen there too, or add a DNAT rule for the port."
        )
    return Remediation(
        title="Work around it on the client (until the server is fixed)",
        text=text,
        commands=(f"echo '{registry_host} {realm.host}' >> /etc/hosts",),
    )
