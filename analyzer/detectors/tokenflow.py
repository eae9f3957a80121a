"""The token-flow rules: from a 401 Bearer challenge to what became of the realm.

How this works: every 401 with a Bearer challenge is grouped by (client,
registry endpoint, realm URL); that group is one *flow*. For each flow we
gather, after the first challenge: the realm's addresses (the literal, or the
DNS answers for its name), the client's connection attempts toward
realm-address:realm-port, the token requests it made there, and the requests
it repeated to the registry with a Bearer token. Then exactly one verdict is
chosen per flow, most specific first:

- a token was issued (and used): ``token-flow-ok`` (info), or the registry
  still refused the token: ``token-rejected``;
- the realm answered the token request with an error: ``token-request-failed``;
- the attempts failed: ``token-service-unreachable-icmp`` (a router said so),
  ``token-service-refused`` (RST), ``token-service-unreachable`` (silence), or
  ``registry-connection-failed`` when the realm is the registry itself;
- a realm name that did not resolve: ``realm-name-unresolved``;
- nothing toward the realm in the capture: ``realm-internal-address`` when the
  realm is private while the registry was reached at a public address, else
  ``realm-not-contacted`` (info).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.addr import endpoint, ip_text, is_internal, is_public
from analyzer.detectors import evidence as ev
from analyzer.detectors.lookup import ObservationIndex, request_path
from analyzer.detectors.remedies import dnat_workaround, hosts_workaround, icmp_meaning, server_fix
from analyzer.dns import DnsTracker, DnsTransaction
from analyzer.exchanges import Exchange
from analyzer.findings import Evidence, Fact, Finding, Remediation, Severity
from analyzer.observations import ConnSummary, Observations
from analyzer.realm import Realm, parse_realm
from analyzer.redact import printable, redact_url

NS = 1_000_000_000
MAX_EVIDENCE = 60
# DNS failures that mean "this name has no address".
_DNS_FAILED = (2, 3)  # SERVFAIL, NXDOMAIN


@dataclass(slots=True)
class Flow:
    """One client's challenges from one registry naming one realm."""

    client: bytes
    registry: bytes
    registry_port: int
    realm_url: str
    challenges: list[Exchange] = field(default_factory=list)

    @property
    def first(self) -> Exchange:
        return self.challenges[0]


@dataclass(slots=True)
class Context:
    obs: Observations
    live: list[ConnSummary]
    dns: DnsTracker
    last_ts: int | None
    show_secrets: bool
    _index: ObservationIndex | None = None

    def index(self) -> ObservationIndex:
        if self._index is None:
            self._index = ObservationIndex.of(self.obs, self.live)
        return self._index


def collect_flows(obs: Observations) -> list[Flow]:
    flows: dict[tuple[bytes, bytes, int, str], Flow] = {}
    for ex in obs.exchanges:
        bearer = ex.bearer
        if ex.status != 401 or bearer is None:
            continue
        realm = bearer.realm or ""  # no realm at all: judged realm-invalid
        key = (ex.client, ex.server, ex.server_port, realm)
        flow = flows.get(key)
        if flow is None:
            flow = flows[key] = Flow(ex.client, ex.server, ex.server_port, realm)
        flow.challenges.append(ex)
    return sorted(flows.values(), key=lambda f: f.first.resp_frame)


def run(ctx: Context) -> list[Finding]:
    return [finding for flow in collect_flows(ctx.obs) if (finding := judge(ctx, flow))]


@dataclass(slots=True)
class _Facts:
    """What we learned about one flow, before choosing a verdict."""

    realm: Realm
    addresses: list[str]
    lookups: list[DnsTransaction]
    attempts: list[ConnSummary]
    established: int
    token_requests: list[Exchange]
    bearer_rejected: list[Exchange]  # Bearer requests to the registry answered 401/403
    bearer_accepted: int  # and those it accepted
    first_accepted: Exchange | None
    realm_is_registry: bool


def _gather(ctx: Context, flow: Flow, realm: Realm) -> _Facts:
    since = flow.first.resp_ts
    registry_ip = ip_text(flow.registry)
    lookups: list[DnsTransaction] = []
    if realm.host_is_ip:
        addresses = [realm.host]
    else:
        # Any client's lookups count: a shared resolver's answer is the same for all.
        lookups = ctx.dns.lookups(realm.host)
        seen: dict[str, None] = {}
        for tx in lookups:
            for a in tx.addresses:
                seen.setdefault(a, None)
        addresses = list(seen)
    targets = {(a, realm.port) for a in addresses}
    realm_is_registry = (registry_ip, flow.registry_port) in targets
    idx = ctx.index()
    attempts = sorted(
        (
            c
            for a in addresses
            for c in idx.failed.get((flow.client, a, realm.port), ())
            if c.first_ts >= since
        ),
        key=lambda c: c.first_frame,
    )
    established = sum(idx.established.get((flow.client, a, realm.port), 0) for a in addresses)
    token_requests = [
        ex
        for ex in idx.requests.get((flow.client, realm.path), ())
        if ex.req_ts is not None and ex.req_ts >= since and _is_token_request(ex, realm, targets)
    ]
    key = (flow.client, flow.registry, flow.registry_port)
    kept = [ex for ex in idx.bearer.get(key, ()) if ex.resp_ts >= since]
    accepted = [ex for ex in kept if ex.status not in (401, 403)]
    tally = idx.accepted.get(key)
    counted, first_counted = tally.since(since) if tally is not None else (0, None)
    firsts = [ex for ex in (*accepted[:1], first_counted) if ex is not None]
    return _Facts(
        realm,
        addresses,
        lookups,
        attempts,
        established,
        token_requests,
        [ex for ex in kept if ex.status in (401, 403)],
        len(accepted) + counted,
        min(firsts, key=lambda ex: ex.resp_frame) if firsts else None,
        realm_is_registry,
    )


def _is_token_request(ex: Exchange, realm: Realm, targets: set[tuple[str, int]]) -> bool:
    assert ex.target is not None
    if request_path(ex.target) != realm.path:
        return False
    if (ip_text(ex.server), ex.server_port) in targets:
        return True
    host = (ex.host or "").lower()
    return host in (realm.host, realm.hostport)


def judge(ctx: Context, flow: Flow) -> Finding | None:
    realm = parse_realm(flow.realm_url)
    shown_realm = printable(flow.realm_url if ctx.show_secrets else redact_url(flow.realm_url))
    base = _Base(ctx, flow, shown_realm)
    if realm is None:
        return base.finding(
            "realm-invalid",
            Severity.ERROR,
            "high",
            f"the registry's realm {shown_realm!r} is not an absolute http(s) URL"
            if flow.realm_url
            else "the registry's Bearer challenge names no realm",
            "A client cannot fetch a token from a realm that is not a URL it can dial, so every "
            "authenticated request fails.",
            symptom="unauthorized: authentication required, or an error parsing the realm"
            if flow.realm_url
            else "`no realm specified for token auth challenge`",
            facts={"realm_valid": False},
        )
    f = _gather(ctx, flow, realm)
    if all(ex.auth_scheme == "bearer" for ex in flow.challenges) and not f.token_requests:
        return _judge_bearer_loop(base, f)
    issued = [ex for ex in f.token_requests if ex.token_issued and 200 <= ex.status < 300]
    if issued:
        return _judge_token_issued(base, f, issued)
    failed_tokens = [ex for ex in f.token_requests if ex.status >= 400]
    if failed_tokens:
        return _judge_token_failed(base, f, failed_tokens)
    if f.established and not f.attempts:
        return base.finding(
            "token-flow-ok",
            Severity.INFO,
            "medium",
            f"the client reached the realm {realm.hostport} (token exchange not visible)",
            "Connections to the token service were established; their content was not readable "
            "HTTP (probably TLS), so whether a token was issued cannot be seen.",
            symptom="none from the network: the token service is reachable",
            facts={"realm_connections": f.established},
        )
    if f.attempts:
        return _judge_attempts(base, f)
    failed_lookups = [tx for tx in f.lookups if tx.rcode in _DNS_FAILED or tx.rcode is None]
    if not realm.host_is_ip and f.lookups and not f.addresses:
        return _judge_unresolved(base, f, failed_lookups)
    return _judge_silent(base, f)


class _Base:
    """Builds findings for one flow with the parts every verdict shares."""

    def __init__(self, ctx: Context, flow: Flow, shown_realm: str) -> None:
        self.ctx = ctx
        self.flow = flow
        self.shown_realm = shown_realm
        self.client = ip_text(flow.client)
        self.registry_ip = ip_text(flow.registry)
        self.registry = endpoint(flow.registry, flow.registry_port)

    def challenge_rows(self) -> list[Evidence]:
        first = self.flow.first
        rows = ev.exchange_rows(first, self.ctx.show_secrets)
        if len(self.flow.challenges) > 1:
            last = self.flow.challenges[-1]
            rows.append(
                Evidence(
                    last.resp_frame,
                    last.resp_ts,
                    self.registry,
                    endpoint(last.client, last.client_port),
                    f"401 again (challenge {len(self.flow.challenges)} of "
                    f"{len(self.flow.challenges)} with this realm)",
                )
            )
        return rows

    def finding(
        self,
        rule: str,
        severity: Severity,
        confidence: str,
        summary: str,
        explanation: str,
        *,
        symptom: str,
        facts: dict[str, Fact] | None = None,
        rows: list[Evidence] | None = None,
        remediation: list[Remediation] | None = None,
    ) -> Finding:
        evidence = sorted(self.challenge_rows() + (rows or []), key=lambda e: (e.frame, e.ts))
        all_facts: dict[str, Fact] = {
            "challenges": len(self.flow.challenges),
            "first_challenge_frame": self.flow.first.resp_frame,
            "api_version": self.flow.first.api_version,
        }
        all_facts.update(facts or {})
        if len(evidence) > MAX_EVIDENCE:
            all_facts["evidence_rows_omitted"] = len(evidence) - MAX_EVIDENCE
            evidence = [*evidence[: MAX_EVIDENCE - 1], evidence[-1]]
        return Finding(
            rule=rule,
            severity=severity,
            confidence=confidence,
            summary=f"{self.client} → {self.registry}: {summary}",
            explanation=explanation,
            symptom=symptom,
            client=self.client,
            registry=self.registry,
            realm=self.shown_realm,
            facts=tuple(all_facts.items()),
            evidence=tuple(evidence),
            remediation=tuple(remediation or ()),
        )

    def fixes(self, f: _Facts) -> list[Remediation]:
        out = [server_fix(f.realm, self.registry_ip, self.flow.registry_port)]
        if f.realm.host_is_ip:
            dnat = dnat_workaround(
                f.realm.host, f.realm.port, self.registry_ip, self.flow.registry_port
            )
            if dnat is not None:
                out.append(dnat)
        else:
            out.append(hosts_workaround(f.realm, self.registry_ip, self.flow.registry_port))
            for addr in f.addresses:
                dnat = dnat_workaround(
                    addr, f.realm.port, self.registry_ip, self.flow.registry_port
                )
                if dnat is not None:
                    out.append(dnat)
                    break
        return out


def _internal_note(base: _Base, f: _Facts) -> tuple[bool, str]:
    internal = [a for a in f.addresses if is_internal(a)]
    if internal and is_public(base.registry_ip) and not f.realm_is_registry:
        return True, (
            f" The realm's address {internal[0]} is private while the client reached the registry "
            f"at the public address {base.registry_ip}: the registry advertises an internal URL "
            "(Harbor's external_url or Distribution's auth.token.realm)."
        )
    return False, ""


def _judge_attempts(base: _Base, f: _Facts) -> Finding:
    attempts = f.attempts
    icmp = [c for c in attempts if c.icmp is not None]
    refused = [c for c in attempts if c.rst is not None and not c.rst[2] and c.icmp is None]
    silent = [c for c in attempts if c.icmp is None and (c.rst is None or c.rst[2])]
    retrans = sum(max(0, c.syn_count - 1) for c in attempts)
    first_syn = attempts[0].syns[0][1] if attempts[0].syns else attempts[0].first_ts
    last = max(c.last_ts for c in attempts)
    span = (last - first_syn) / NS
    icmp_text: str | None = None
    if icmp:
        version = 6 if len(icmp[0].resp) == 16 else 4
        meaning, client_error = icmp_meaning(version, icmp[0].icmp[3] if icmp[0].icmp else 0)
        icmp_text = f"ICMP{'v6' if version == 6 else ''} destination unreachable: {meaning}"
    rows: list[Evidence] = []
    for tx in f.lookups:
        rows.extend(ev.dns_rows(tx))
    for i, conn in enumerate(attempts, 1):
        rows.extend(ev.attempt_rows(conn, i, icmp_text))
    internal, note = _internal_note(base, f)
    target = f"{f.realm.host}:{f.realm.port}" if ":" not in f.realm.host else f.realm.hostport
    dial = (
        f"[{f.addresses[0]}]:{f.realm.port}"
        if ":" in f.addresses[0]
        else f"{f.addresses[0]}:{f.realm.port}"
    )
    facts: dict[str, Fact] = {
        "realm_host": f.realm.host,
        "realm_port": f.realm.port,
        "realm_addresses": ", ".join(f.addresses),
        "realm_internal": internal,
        "attempts": len(attempts),
        "syn_retransmissions": retrans,
        "unanswered_attempts": len(silent),
        "refused_attempts": len(refused),
        "icmp_attempts": len(icmp),
        "first_attempt_frame": attempts[0].first_frame,
        "span_s": round(span, 3),
    }
    if base.ctx.last_ts is not None:
        facts["capture_after_first_attempt_s"] = round((base.ctx.last_ts - first_syn) / NS, 3)
    counts = f"{len(attempts)} attempt{'s' if len(attempts) != 1 else ''}"
    if f.realm_is_registry:
        return base.finding(
            "registry-connection-failed",
            Severity.ERROR,
            "high" if retrans >= 2 or len(attempts) >= 2 else "medium",
            f"new connections to the registry itself failed after the challenge ({counts})",
            "The realm is the registry's own address, so the realm is not misconfigured: the "
            "registry answered the first request, then stopped accepting connections "
            f"({len(silent)} unanswered, {len(refused)} refused, {len(icmp)} with ICMP errors, "
            f"{retrans} SYN retransmissions). Look at the registry host or the path to it: a full "
            "listen backlog, a stateful firewall or rate limiter, connection tracking limits.",
            symptom=f'`docker push` stuck at "Preparing", then `dial tcp {dial}: i/o timeout`',
            facts=facts,
            rows=rows,
        )
    fixes = base.fixes(f)
    if icmp:
        code = icmp[0].icmp[3] if icmp[0].icmp else 0
        reporter = ip_text(icmp[0].icmp[4]) if icmp[0].icmp else "?"
        facts["icmp_code"] = code
        facts["icmp_reporter"] = reporter
        version = 6 if len(icmp[0].resp) == 16 else 4
        meaning, client_error = icmp_meaning(version, code)
        return base.finding(
            "token-service-unreachable-icmp",
            Severity.ERROR,
            "high",
            f"the token service {target} is unreachable: {reporter} answered the client's SYN "
            f"with {icmp_text} ({counts})",
            f"After the 401 challenge the client must fetch a token from {base.shown_realm}. A "
            f"router ({reporter}) answered its connection attempts with {icmp_text} (code {code}): "
            f"there is no route from the client to {f.realm.host}." + note,
            symptom=f"`docker push` fails at once: `dial tcp {dial}: {client_error}`",
            facts=facts,
            rows=rows,
            remediation=fixes,
        )
    if refused:
        ttl = refused[0].rst[3] if refused[0].rst else 0
        facts["rst_ttl"] = ttl
        return base.finding(
            "token-service-refused",
            Severity.ERROR,
            "high",
            f"the token service {target} refused the connection (RST; {counts})",
            f"After the 401 challenge the client must fetch a token from {base.shown_realm}, but "
            f"each SYN to {dial} was answered by a TCP reset: the host (or a firewall in front of "
            "it) is there but nothing accepts connections on that port. Either the token service "
            "is not running, or the realm names the wrong port or address." + note,
            symptom=f"`docker push` fails at once: `dial tcp {dial}: connect: connection refused`",
            facts=facts,
            rows=rows,
            remediation=fixes,
        )
    confidence = "high" if retrans >= 2 or len(attempts) >= 2 else "medium"
    return base.finding(
        "token-service-unreachable",
        Severity.ERROR,
        confidence,
        f"the token service {target} never answered: {counts}, {retrans} SYN retransmissions "
        f"over {span:.1f} s",
        f"After the 401 challenge the client must fetch a token from {base.shown_realm}. Its "
        f"SYNs to {dial} were retransmitted and never answered: no SYN-ACK, no RST, no ICMP. "
        "The address is not reachable from the client (dropped by a firewall or routed nowhere)."
        + note,
        symptom=(
            '`docker push` sits at "Preparing"/"Waiting" for minutes, then fails with '
            f'`Get "{base.shown_realm}?...": net/http: request canceled while waiting for connection '
            "(Client.Timeout exceeded while awaiting headers)` or "
            f"`dial tcp {dial}: i/o timeout`"
        ),
        facts=facts,
        rows=rows,
        remediation=fixes,
    )


def _judge_token_issued(base: _Base, f: _Facts, issued: list[Exchange]) -> Finding:
    show = base.ctx.show_secrets
    rows = ev.exchange_rows(issued[0], show)
    accepted, rejected = f.bearer_accepted, f.bearer_rejected
    facts: dict[str, Fact] = {
        "token_requests": len(f.token_requests),
        "tokens_issued": len(issued),
        "expires_in": issued[0].expires_in,
        "bearer_requests": accepted + len(rejected),
        "bearer_accepted": accepted,
        "bearer_rejected": len(rejected),
    }
    if rejected and not accepted:
        rows.extend(ev.exchange_rows(rejected[0], show))
        error = printable(rejected[0].bearer.error or "") or None if rejected[0].bearer else None
        facts["error"] = error
        return base.finding(
            "token-rejected",
            Severity.ERROR,
            "high",
            f"a token was issued by {f.realm.hostport} but the registry refused it "
            f"({len(rejected)} requests with the token answered {rejected[0].status})",
            "The token service answered, but the registry does not accept its tokens: the "
            "registry's auth.token settings (issuer, service, rootcertbundle) do not match the "
            "token service's signing key and claims, the token lacks the requested scope, or the "
            "clocks disagree (token not yet valid / expired)."
            + (f" The registry said error={error!r}." if error else ""),
            symptom="`unauthorized: authentication required` right after the token was fetched",
            facts=facts,
            rows=rows,
        )
    if f.first_accepted is not None:
        rows.extend(ev.exchange_rows(f.first_accepted, show))
    internal, _ = _internal_note(base, f)
    facts["realm_internal"] = internal
    return base.finding(
        "token-flow-ok",
        Severity.INFO,
        "high" if accepted else "medium",
        f"token flow OK: token fetched from {f.realm.hostport}"
        + (f" and {accepted} requests accepted with it" if accepted else ""),
        "The client was challenged, fetched a token from the realm and "
        + ("used it successfully." if accepted else "no request with it was seen yet."),
        symptom="none: authentication worked",
        facts=facts,
        rows=rows,
    )


def _judge_token_failed(base: _Base, f: _Facts, failed: list[Exchange]) -> Finding:
    first = failed[0]
    reason = printable(first.reason)
    rows: list[Evidence] = []
    for ex in failed[:5]:
        rows.extend(ev.exchange_rows(ex, base.ctx.show_secrets))
    status = first.status
    if status == 401:
        why = "the credentials were refused (wrong user name or password, or a robot account without access)"
        symptom = "`unauthorized: authentication required` or `unauthorized: invalid credentials`"
    elif status == 403:
        why = "the token service forbids it (no push permission on the project, or a method/XSRF check)"
        symptom = "`denied: requested access to the resource is denied`"
    else:
        why = "the token service failed (a server error: check the token service's logs)"
        symptom = f"`received unexpected HTTP status: {status} {reason}`"
    return base.finding(
        "token-request-failed",
        Severity.ERROR if status >= 500 else Severity.WARNING,
        "high",
        f"the token service {f.realm.hostport} answered the token request with {status} {reason}",
        f"The realm is reachable, but {why}."
        + (f" It said: {first.error_message!r}." if first.error_message else ""),
        symptom=symptom,
        facts={"token_requests": len(f.token_requests), "status": status},
        rows=rows,
    )


def _judge_unresolved(base: _Base, f: _Facts, failed: list[DnsTransaction]) -> Finding:
    rows: list[Evidence] = []
    for tx in f.lookups:
        rows.extend(ev.dns_rows(tx))
    answers = sorted({tx.rcode_name for tx in f.lookups})
    resolver = ip_text(f.lookups[0].server)
    return base.finding(
        "realm-name-unresolved",
        Severity.ERROR,
        "high" if failed else "medium",
        f"the realm's host name {f.realm.host} did not resolve ({', '.join(answers)}; "
        f"{len(f.lookups)} lookups) and no connection to it was attempted",
        f"After the 401 challenge the client must fetch a token from {base.shown_realm}, but "
        f"the DNS server {resolver} gave no address for {f.realm.host}. The registry advertises a "
        "name that only resolves inside its own network.",
        symptom=f"`dial tcp: lookup {f.realm.host} on {resolver}:53: no such host`",
        facts={
            "realm_host": f.realm.host,
            "lookups": len(f.lookups),
            "dns_answers": ", ".join(answers),
        },
        rows=rows,
        remediation=base.fixes(f),
    )


def _judge_silent(base: _Base, f: _Facts) -> Finding:
    internal, note = _internal_note(base, f)
    facts: dict[str, Fact] = {
        "realm_host": f.realm.host,
        "realm_port": f.realm.port,
        "realm_addresses": ", ".join(f.addresses),
        "realm_internal": internal,
    }
    if internal:
        return base.finding(
            "realm-internal-address",
            Severity.WARNING,
            "medium",
            f"the realm {f.realm.hostport} is a private address while the registry was reached "
            f"at the public {base.registry}",
            "The registry's 401 challenge sends clients to a token service at a private address. "
            "A client outside that network cannot reach it, so its push will hang or fail at the "
            "token request. The capture shows no attempt toward the realm (perhaps the capture "
            "filter excluded it)." + note,
            symptom='`docker push` stuck at "Preparing", then `i/o timeout` or '
            "`Client.Timeout exceeded while awaiting headers` on the realm URL",
            facts=facts,
            remediation=base.fixes(f),
        )
    return base.finding(
        "realm-not-contacted",
        Severity.INFO,
        "low",
        f"challenged with realm {f.realm.hostport}, but the capture shows no attempt to reach it",
        "The registry sent a Bearer challenge, but the client did not contact the realm within "
        "the capture: it may have stopped, used a cached token, or the capture filter or the "
        "capture's end left the attempt out. Capture with `port 8200 or tcp[tcpflags] & "
        "(tcp-syn|tcp-rst) != 0 or port 53` to see attempts on any port.",
        symptom="unknown from this capture",
        facts=facts,
    )


def _judge_bearer_loop(base: _Base, f: _Facts) -> Finding:
    """Every challenge answered a request that already carried a Bearer token."""
    first = base.flow.first
    error = printable(first.bearer.error or "") or None if first.bearer else None
    if error:
        why = (
            f"The registry refused the client's token (error={error!r}): it expired (check the "
            "clocks of client, registry and token service), was issued for another service or "
            "scope, or is signed by a key the registry does not trust."
        )
    else:
        why = (
            "The registry answered requests that carried a Bearer token with a fresh challenge "
            "without an error code: something in front of the registry (a proxy or load balancer) "
            "probably strips the Authorization header."
        )
    return base.finding(
        "token-rejected",
        Severity.ERROR,
        "medium",
        f"requests carrying a Bearer token were answered 401 ({len(base.flow.challenges)} times)",
        why,
        symptom="`unauthorized: authentication required` although login succeeded",
        facts={"error": error, "bearer_rejected": len(base.flow.challenges)},
    )
