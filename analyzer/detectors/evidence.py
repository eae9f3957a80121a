"""Evidence rows: what a person would write down from Wireshark, one frame at a time."""

from __future__ import annotations

from analyzer.addr import endpoint, ip_text
from analyzer.dns import DnsTransaction
from analyzer.exchanges import Exchange
from analyzer.findings import Evidence
from analyzer.http.auth import Challenge
from analyzer.observations import ConnSummary
from analyzer.redact import printable, redact_url

NS = 1_000_000_000


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def show_challenge(ch: Challenge, show_secrets: bool) -> str:
    """A challenge as the header would read, with any secret in the realm redacted."""
    parts = []
    for name, value in ch.params:
        shown = value if show_secrets or name != "realm" else redact_url(value)
        parts.append(f"{name}={_quote(printable(shown))}")
    scheme = ch.scheme.capitalize()
    return f"{scheme} {','.join(parts)}" if parts else scheme


def show_target(target: str, show_secrets: bool) -> str:
    return printable(target if show_secrets else redact_url(target))


def request_row(ex: Exchange, show_secrets: bool) -> Evidence | None:
    if ex.req_frame is None or ex.req_ts is None or ex.method is None or ex.target is None:
        return None
    what = f"{ex.method} {show_target(ex.target, show_secrets)}"
    if ex.auth_scheme:
        what += f" (Authorization: {ex.auth_scheme.capitalize()} …)"
    return Evidence(
        ex.req_frame,
        ex.req_ts,
        endpoint(ex.client, ex.client_port),
        endpoint(ex.server, ex.server_port),
        what,
    )


def response_row(ex: Exchange, show_secrets: bool) -> Evidence:
    what = f"{ex.status} {printable(ex.reason)}".strip()
    bearer = ex.bearer
    if bearer is not None:
        what += f"; WWW-Authenticate: {show_challenge(bearer, show_secrets)}"
    elif ex.token_issued:
        what += "; token issued" + (f" (expires_in {ex.expires_in} s)" if ex.expires_in else "")
    elif ex.error_message:
        what += f"; {printable(ex.error_message)}"
    return Evidence(
        ex.resp_frame,
        ex.resp_ts,
        endpoint(ex.server, ex.server_port),
        endpoint(ex.client, ex.client_port),
        what,
    )


def exchange_rows(ex: Exchange, show_secrets: bool) -> list[Evidence]:
    req = request_row(ex, show_secrets)
    return ([req] if req else []) + [response_row(ex, show_secrets)]


def attempt_rows(
    conn: ConnSummary, attempt_no: int, icmp_text: str | None = None
) -> list[Evidence]:
    """The SYNs of one connection attempt and whatever answered them."""
    src = endpoint(conn.orig, conn.orig_port)
    dst = endpoint(conn.resp, conn.resp_port)
    rows: list[Evidence] = []
    first_ts = conn.syns[0][1] if conn.syns else conn.first_ts
    for i, (frame, ts) in enumerate(conn.syns):
        if i == 0:
            what = f"SYN (attempt {attempt_no})"
        else:
            what = f"SYN retransmission {i} (+{(ts - first_ts) / NS:.1f} s)"
        rows.append(Evidence(frame, ts, src, dst, what))
    if conn.syn_count > len(conn.syns):
        rows.append(
            Evidence(
                conn.syns[-1][0],
                conn.syns[-1][1],
                src,
                dst,
                f"… {conn.syn_count - len(conn.syns)} more SYN retransmissions not listed",
            )
        )
    if conn.rst is not None and not conn.rst[2]:
        frame, ts, _, ttl = conn.rst
        rows.append(Evidence(frame, ts, dst, src, f"RST: connection refused (TTL {ttl})"))
    if conn.icmp is not None:
        frame, ts, _type, _code, reporter = conn.icmp
        text = icmp_text or "ICMP destination unreachable"
        rows.append(Evidence(frame, ts, ip_text(reporter), src, f"{text} (quoting the SYN)"))
    return rows


def dns_rows(tx: DnsTransaction) -> list[Evidence]:
    client, server = ip_text(tx.client), ip_text(tx.server)
    rows = [
        Evidence(tx.query_frame, tx.query_ts, client, server, f"DNS query {tx.qtype} {tx.name}")
    ]
    if tx.response_frame is not None and tx.response_ts is not None:
        if tx.addresses:
            via = f" via CNAME {' → '.join(tx.cname_chain)}" if tx.cname_chain else ""
            answer = f"{', '.join(tx.addresses)}{via}"
        else:
            answer = tx.rcode_name if tx.rcode else "no records"
        rows.append(
            Evidence(
                tx.response_frame,
                tx.response_ts,
                server,
                client,
                f"DNS answer {tx.qtype} {tx.name}: {answer}",
            )
        )
    return rows
