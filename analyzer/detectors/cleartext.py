"""Credentials sent in clear: Authorization over plain HTTP, passwords in realm URLs.

How this works: every exchange the analyzer parsed travelled as plain HTTP
(TLS is never parsed), so a request that carried ``Authorization: Basic`` or
``Bearer`` showed that credential to anyone on the path. pushcap is about
registries: only endpoints seen in a registry or token flow count (a ``/v2/``
request, a Docker-Distribution-Api-Version header, a Bearer challenge, a token
request's ``scope=``/``service=`` query or a realm's path), so other HTTP in the
capture raises no alarm. Such requests are grouped by the endpoint that
received them: one finding per endpoint, saying how many requests of each
scheme, from which clients, with the first and last as evidence. A registry whose 401 challenge puts a user name and password in
its realm URL (``http://user:pass@host/…``) sends that password in clear in
every challenge, and the client passes it on to the realm: one finding per
(registry endpoint, realm). The values themselves were never kept (only the
scheme of an Authorization header is), so no finding can print them.

Severity: credentials over plain HTTP are ``info`` (reported, but a healthy
push over an insecure registry still exits 0: no false alarm on a push that
works); a password inside the realm URL is a ``warning``, a configuration
mistake that hands the password to every client that asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from analyzer.addr import endpoint, ip_text
from analyzer.detectors import evidence as ev
from analyzer.detectors.tokenflow import Context
from analyzer.exchanges import Exchange
from analyzer.findings import Evidence, Fact, Finding, Remediation, Severity
from analyzer.realm import parse_realm
from analyzer.redact import printable, redact_url

RULE = "credentials-in-cleartext"
SCHEMES = ("basic", "bearer")
MAX_ROWS = 6  # evidence rows per finding: the first request of each scheme, then the last
# A token request's query (RFC-less but universal: docker, podman, containerd, crane).
_TOKEN_QUERY = re.compile(r"[?&](?:scope|service)=")


@dataclass(slots=True)
class _Receiver:
    """Requests with credentials that reached one endpoint."""

    server: bytes
    port: int
    requests: list[Exchange] = field(default_factory=list)  # kept whole
    more_bearer: int = 0  # accepted Bearer requests only counted (see AcceptedBearer)

    def count(self, scheme: str) -> int:
        kept = sum(1 for ex in self.requests if ex.auth_scheme == scheme)
        return kept + (self.more_bearer if scheme == "bearer" else 0)


def _clients(exchanges: list[Exchange]) -> list[str]:
    return sorted({ip_text(ex.client) for ex in exchanges})


def _who(clients: list[str]) -> str:
    return clients[0] if len(clients) == 1 else f"{len(clients)} clients"


def _https_fix(where: str) -> Remediation:
    return Remediation(
        title="Serve the registry and its token service over HTTPS",
        text=(
            f"Anyone on the path to {where} can read these credentials (Basic is only base64) "
            "or replay the tokens. Harbor: configure the `https` section of harbor.yml "
            "(certificate and private_key), make `external_url` an https:// URL, run "
            "`./prepare` and restart. Docker Distribution (registry:2): set http.tls.certificate "
            "and http.tls.key (REGISTRY_HTTP_TLS_CERTIFICATE, REGISTRY_HTTP_TLS_KEY). Then remove "
            "the registry from `insecure-registries` in the clients' /etc/docker/daemon.json."
        ),
    )


def _rotate_fix(host: str) -> Remediation:
    return Remediation(
        title="Change the exposed credentials",
        text=(
            "Treat the passwords (or robot account secrets) used with this registry as known: "
            "change them, then log in again on every client. Tokens expire by themselves."
        ),
        commands=(f"docker logout {host}", f"docker login {host}"),
    )


def _request_rows(requests: list[Exchange], show_secrets: bool) -> list[Evidence]:
    chosen: list[Exchange] = []
    for scheme in SCHEMES:
        first = next((ex for ex in requests if ex.auth_scheme == scheme), None)
        if first is not None:
            chosen.append(first)
    if requests[-1] not in chosen:
        chosen.append(requests[-1])
    rows = [row for ex in chosen[:MAX_ROWS] if (row := ev.request_row(ex, show_secrets))]
    return sorted(rows, key=lambda e: (e.frame, e.ts))


def _authorization_finding(ctx: Context, rec: _Receiver) -> Finding:
    where = endpoint(rec.server, rec.port)
    counts = {scheme: rec.count(scheme) for scheme in SCHEMES}
    said = ", ".join(f"{n} {scheme.capitalize()}" for scheme, n in counts.items() if n)
    clients = _clients(rec.requests)
    total = len(rec.requests) + rec.more_bearer
    facts: dict[str, Fact] = {
        "receiver": where,
        "requests": total,
        "basic_requests": counts["basic"],
        "bearer_requests": counts["bearer"],
        "clients": ", ".join(clients),
        "first_request_frame": rec.requests[0].req_frame,
    }
    return Finding(
        rule=RULE,
        severity=Severity.INFO,  # a push that works over plain HTTP is not a failure
        confidence="high",
        summary=f"{_who(clients)} → {where}: credentials sent in clear over plain HTTP "
        f"({total} request{'s' if total != 1 else ''} with Authorization: {said})",
        explanation=(
            f"{where} received {total} request{'s' if total != 1 else ''} with an Authorization "
            f"header ({said}) over plain HTTP, not TLS: the user name and password "
            "(Basic) or the token (Bearer) crossed the network readable by anyone on the path. "
            "pushcap keeps only the scheme, never the value, so the report cannot show them."
        ),
        symptom="none: the push may well work, but its credentials are exposed",
        client=clients[0] if len(clients) == 1 else None,
        registry=where,
        realm=None,
        facts=tuple(facts.items()),
        evidence=tuple(_request_rows(rec.requests, ctx.show_secrets)),
        remediation=(_https_fix(where), _rotate_fix(where)),
    )


def _realm_findings(ctx: Context) -> list[Finding]:
    seen: dict[tuple[bytes, int, str], list[Exchange]] = {}
    for ex in ctx.obs.exchanges:
        url = ex.bearer.realm if ex.bearer is not None else None
        realm = parse_realm(url) if url else None
        if url and realm is not None and realm.has_userinfo:
            seen.setdefault((ex.server, ex.server_port, url), []).append(ex)
    return [_realm_finding(ctx, url, challenges) for (_, _, url), challenges in seen.items()]


def _realm_finding(ctx: Context, url: str, challenges: list[Exchange]) -> Finding:
    first = challenges[0]
    registry = endpoint(first.server, first.server_port)
    realm = parse_realm(url)
    assert realm is not None
    shown = printable(url if ctx.show_secrets else redact_url(url))
    clients = _clients(challenges)
    rows = {ev.response_row(ex, ctx.show_secrets) for ex in (first, challenges[-1])}
    clean = realm.with_hostport(realm.host, realm.port)
    return Finding(
        rule=RULE,
        severity=Severity.WARNING,
        confidence="high",
        summary=f"{_who(clients)} → {registry}: the registry's realm URL carries credentials, "
        f"sent in clear ({shown})",
        explanation=(
            f"Every 401 challenge from {registry} names the realm {shown}, with a user name and "
            "password in it, over plain HTTP: anyone on the path can read them, and clients "
            f"send them on to {realm.hostport} as Basic credentials ({len(challenges)} "
            f"challenge{'s' if len(challenges) != 1 else ''} seen)."
        ),
        symptom="none: the push may well work, but the realm's password is exposed",
        client=clients[0] if len(clients) == 1 else None,
        registry=registry,
        realm=shown,
        facts=(
            ("receiver", realm.hostport),
            ("challenges", len(challenges)),
            ("clients", ", ".join(clients)),
            ("realm_userinfo", True),
        ),
        evidence=tuple(sorted(rows, key=lambda e: (e.frame, e.ts))),
        remediation=(
            Remediation(
                title="Take the credentials out of the realm URL",
                text=(
                    "A realm is where clients ask for tokens with their own credentials; it "
                    "should carry none. Harbor: `external_url` in harbor.yml; Docker "
                    "Distribution: `auth.token.realm` (REGISTRY_AUTH_TOKEN_REALM)."
                ),
                commands=(f"REGISTRY_AUTH_TOKEN_REALM={clean}",),
            ),
            _https_fix(registry),
            _rotate_fix(realm.hostport),
        ),
    )


def _path(target: str) -> str:
    if target.startswith(("http://", "https://")):  # absolute form, through a proxy
        try:
            return urlsplit(target).path
        except ValueError:
            return ""
    return target.split("?", 1)[0]


def _registry_endpoints(exchanges: list[Exchange]) -> set[tuple[bytes, int]]:
    """Endpoints seen taking part in a registry or token flow (other HTTP is out of scope)."""
    realm_paths = set()
    for ex in exchanges:
        url = ex.bearer.realm if ex.bearer is not None else None
        realm = parse_realm(url) if url else None
        if realm is not None:
            realm_paths.add(realm.path)
    endpoints = set()
    for ex in exchanges:
        target = ex.target or ""
        path = _path(target)
        if (
            ex.api_version
            or ex.bearer is not None
            or path == "/v2"
            or path.startswith("/v2/")
            or path in realm_paths
            or _TOKEN_QUERY.search(target)
        ):
            endpoints.add((ex.server, ex.server_port))
    return endpoints


def run(ctx: Context) -> list[Finding]:
    tallies = list(ctx.obs.accepted.values())
    # The accepted Bearer requests: those kept whole, and the last of those only counted.
    requests = ctx.obs.exchanges + [
        ex
        for t in tallies
        for ex in (t.kept if not t.more or t.last is None else [*t.kept, t.last])
    ]
    requests.sort(key=lambda ex: ex.resp_frame)
    in_scope = _registry_endpoints(requests)
    receivers: dict[tuple[bytes, int], _Receiver] = {}
    for ex in requests:
        if ex.auth_scheme not in SCHEMES or (ex.server, ex.server_port) not in in_scope:
            continue
        key = (ex.server, ex.server_port)
        rec = receivers.get(key)
        if rec is None:
            rec = receivers[key] = _Receiver(ex.server, ex.server_port)
        rec.requests.append(ex)
    for t in tallies:
        rec = receivers.get((t.kept[0].server, t.kept[0].server_port))
        if rec is not None and t.more:
            rec.more_bearer += t.more - 1  # the last is among the requests
    findings = [_authorization_finding(ctx, rec) for rec in receivers.values()]
    return findings + _realm_findings(ctx)
