"""Each token-flow rule, from frames built in memory through the whole pipeline."""

from __future__ import annotations

import pytest

from analyzer.findings import Finding, Report, Severity
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from tests.builders import (
    Tcp,
    Trace,
    challenge_401,
    dns_exchange,
    http_request,
    http_response,
)

CLIENT, REGISTRY, REALM_IP = "192.168.1.100", "180.119.140.230", "172.16.200.100"
REALM = f"http://{REALM_IP}:8200/service/token"
OLD_KERNEL = (1.0, 2.0, 4.0, 8.0)  # gaps between SYN retransmissions: 1, 3, 7, 15 s after the first


def run(trace: Trace, **opts: object) -> Report:
    analyzer = Analyzer(AnalyzerOptions(**opts))  # type: ignore[arg-type]
    for frame in trace.frames:
        analyzer.feed(frame)
    return analyzer.finish(SourceInfo(name="test", format="pcap"))


def only(report: Report) -> Finding:
    """The one token-flow finding (credentials-in-cleartext is tested in tests/hostile)."""
    findings = [f for f in report.findings if f.rule != "credentials-in-cleartext"]
    assert len(findings) == 1, [f.rule for f in report.findings]
    return findings[0]


def challenged(
    trace: Trace, realm: str = REALM, registry: str = REGISTRY, port: int = 8200
) -> tuple[int, int]:
    reg = Tcp(trace, CLIENT, 52110, registry, port)
    reg.handshake()
    get = reg.send(http_request("GET", "/v2/", f"{registry}:{port}"))
    resp = reg.reply(challenge_401(realm))
    reg.close()
    return get, resp


def test_founding_case_token_service_unreachable() -> None:
    trace = Trace()
    get, resp = challenged(trace)
    first = Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns(OLD_KERNEL)
    second = Tcp(trace, CLIENT, 40002, REALM_IP, 8200).syns(OLD_KERNEL, dt=30.0)
    f = only(run(trace))
    assert f.rule == "token-service-unreachable"
    assert f.severity is Severity.ERROR
    assert f.confidence == "high"
    assert f.client == CLIENT
    assert f.registry == f"{REGISTRY}:8200"
    assert f.realm == REALM
    assert f.fact("attempts") == 2
    assert f.fact("syn_retransmissions") == 8
    assert f.fact("realm_internal") is True
    assert f.fact("unanswered_attempts") == 2
    frames = [e.frame for e in f.evidence]
    assert frames == [get, resp, *first, *second]
    assert "i/o timeout" in f.symptom
    commands = [c for r in f.remediation for c in r.commands]
    assert (
        "iptables -t nat -I OUTPUT -d 172.16.200.100 -p tcp --dport 8200 -j DNAT "
        "--to-destination 180.119.140.230:8200"
    ) in commands
    assert any("dnat to 180.119.140.230:8200" in c for c in commands)
    assert any("external_url" in r.text for r in f.remediation)


def test_single_syn_without_retransmission_is_medium_confidence() -> None:
    trace = Trace()
    challenged(trace)
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns(())
    f = only(run(trace))
    assert f.rule == "token-service-unreachable"
    assert f.confidence == "medium"


def test_refused() -> None:
    trace = Trace()
    challenged(trace)
    rows = [Tcp(trace, CLIENT, 40001 + i, REALM_IP, 8200).refused(dt=2**i) for i in range(3)]
    f = only(run(trace))
    assert f.rule == "token-service-refused"
    assert f.fact("attempts") == 3
    assert f.fact("refused_attempts") == 3
    assert f.fact("rst_ttl") == 63
    assert "connection refused" in f.symptom
    assert {rst for _, rst in rows} <= {e.frame for e in f.evidence}


def test_icmp_unreachable_names_the_code_and_router() -> None:
    trace = Trace()
    challenged(trace)
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).icmp_unreachable("192.168.1.1", code=1)
    Tcp(trace, CLIENT, 40002, REALM_IP, 8200).icmp_unreachable("192.168.1.1", code=1, dt=1.0)
    f = only(run(trace))
    assert f.rule == "token-service-unreachable-icmp"
    assert f.fact("icmp_code") == 1
    assert f.fact("icmp_reporter") == "192.168.1.1"
    assert "no route to host" in f.symptom
    assert "host unreachable" in f.summary


def test_realm_name_unresolved() -> None:
    trace = Trace()
    challenged(trace, realm="http://harbor-core.internal:8200/service/token")
    dns_exchange(trace, CLIENT, "192.168.1.1", "harbor-core.internal", rcode=3, qid=7)
    dns_exchange(trace, CLIENT, "192.168.1.1", "harbor-core.internal", rcode=3, qtype="AAAA", qid=8)
    f = only(run(trace))
    assert f.rule == "realm-name-unresolved"
    assert f.fact("lookups") == 2
    assert f.fact("dns_answers") == "NXDOMAIN"
    assert "no such host" in f.symptom
    assert any("/etc/hosts" in c for r in f.remediation for c in r.commands)


def test_hostname_realm_resolved_then_unreachable() -> None:
    trace = Trace()
    challenged(trace, realm="http://harbor.corp.example:8200/service/token")
    q, a = dns_exchange(trace, CLIENT, "192.168.1.1", "harbor.corp.example", answers=[REALM_IP])
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns((1.0, 1.0, 1.0))
    f = only(run(trace))
    assert f.rule == "token-service-unreachable"
    assert f.fact("realm_addresses") == REALM_IP
    assert {q, a} <= {e.frame for e in f.evidence}


def test_realm_internal_address_without_attempt() -> None:
    trace = Trace()
    challenged(trace)
    f = only(run(trace))
    assert f.rule == "realm-internal-address"
    assert f.severity is Severity.WARNING


def test_realm_not_contacted_is_info() -> None:
    trace = Trace()
    challenged(trace, realm="http://198.51.100.7:8200/service/token")
    f = only(run(trace))
    assert f.rule == "realm-not-contacted"
    assert f.severity is Severity.INFO


def test_realm_is_registry_does_not_blame_the_realm() -> None:
    trace = Trace()
    challenged(trace, realm=f"http://{REGISTRY}:8200/service/token")
    Tcp(trace, CLIENT, 40001, REGISTRY, 8200).syns(OLD_KERNEL)
    f = only(run(trace))
    assert f.rule == "registry-connection-failed"
    assert f.remediation == ()


def test_invalid_realm() -> None:
    trace = Trace()
    challenged(trace, realm="/service/token")
    assert only(run(trace)).rule == "realm-invalid"


def healthy(trace: Trace, token_status: int = 200, registry_status: int = 202) -> None:
    challenged(trace, realm=f"http://{REGISTRY}:8200/service/token")
    tok = Tcp(trace, CLIENT, 52111, REGISTRY, 8200)
    tok.handshake()
    tok.send(
        http_request(
            "GET",
            "/service/token?account=admin&scope=repository%3Alibrary%2Fweb%3Apull%2Cpush&service=harbor-registry",
            f"{REGISTRY}:8200",
            {"Authorization": "Basic YWRtaW46SGFyYm9yMTIzNDU="},
        )
    )
    body = (
        b'{"token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl","expires_in":1800}'
        if token_status == 200
        else b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}'
    )
    tok.reply(
        http_response(token_status, "OK" if token_status == 200 else "Unauthorized", {}, body)
    )
    if token_status == 200:
        tok.send(
            http_request(
                "POST",
                "/v2/library/web/blobs/uploads/",
                f"{REGISTRY}:8200",
                {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"},
            )
        )
        realm = f"http://{REGISTRY}:8200/service/token"
        extra = (
            {
                "Www-Authenticate": f'Bearer realm="{realm}",service="harbor-registry",error="invalid_token"'
            }
            if registry_status == 401
            else {}
        )
        tok.reply(http_response(registry_status, "Accepted", extra))
    tok.close()


def test_healthy_token_flow_is_reported_ok() -> None:
    trace = Trace()
    healthy(trace)
    report = run(trace)
    f = only(report)
    assert f.rule == "token-flow-ok"
    assert f.severity is Severity.INFO
    assert f.fact("bearer_accepted") == 1
    assert f.fact("expires_in") == 1800


def test_token_request_refused_by_token_service() -> None:
    trace = Trace()
    healthy(trace, token_status=401)
    f = only(run(trace))
    assert f.rule == "token-request-failed"
    assert f.fact("status") == 401
    assert "invalid credentials" in f.explanation


def test_token_rejected_by_registry() -> None:
    trace = Trace()
    healthy(trace, registry_status=401)
    f = only(run(trace))
    assert f.rule == "token-rejected"


@pytest.mark.parametrize("show", [False, True])
def test_secrets_redacted_unless_asked(show: bool) -> None:
    trace = Trace()
    healthy(trace)
    report = run(trace, show_secrets=show)
    text = repr(report)
    for secret in ("YWRtaW46SGFyYm9yMTIzNDU=", "c2lnbmF0dXJl", "1735c3ed0bdb2a3d6f9b4dcba7eed257"):
        assert secret not in text  # never kept at all, even with --show-secrets
    assert ("account=admin" in text) is show


def test_no_challenge_no_finding() -> None:
    trace = Trace()
    conn = Tcp(trace, CLIENT, 52110, REGISTRY, 80)
    conn.handshake()
    conn.send(http_request("GET", "/", REGISTRY))
    conn.reply(http_response(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="intranet"'}))
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns(OLD_KERNEL)
    assert run(trace).findings == ()


def test_live_findings_before_finish() -> None:
    """What `sniff` needs: the verdict while the attempt is still open."""
    trace = Trace()
    challenged(trace)
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns((1.0, 2.0))
    analyzer = Analyzer()
    for frame in trace.frames:
        analyzer.feed(frame)
    live = analyzer.findings()
    assert [f.rule for f in live] == ["token-service-unreachable"]
    assert live[0].fact("syn_retransmissions") == 2


def test_bearer_rejected_without_token_fetch_in_capture() -> None:
    """A 401 loop: the client already holds a token (fetched before the capture) and it is refused."""
    trace = Trace()
    reg = Tcp(trace, CLIENT, 52110, REGISTRY, 8200)
    reg.handshake()
    reg.send(
        http_request(
            "HEAD",
            "/v2/library/web/manifests/1.1.0",
            REGISTRY,
            {"Authorization": "Bearer abc.def.ghi"},
        )
    )
    reg.reply(
        http_response(
            401,
            "Unauthorized",
            {
                "Www-Authenticate": f'Bearer realm="{REALM}",service="harbor-registry",error="invalid_token"'
            },
        )
    )
    f = only(run(trace))
    assert f.rule == "token-rejected"
    assert f.fact("error") == "invalid_token"


def test_https_probe_answered_by_plain_http_is_not_a_problem() -> None:
    """skopeo/podman try TLS first on an insecure registry; the HTTP server answers 400 (LAB-NOTES)."""
    trace = Trace()
    probe = Tcp(trace, CLIENT, 52100, REGISTRY, 8200)
    probe.handshake()
    client_hello = (
        bytes.fromhex("160301002a010000260303") + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00"
    )
    probe.send(client_hello)
    probe.reply(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n\r\n400 Bad Request"
    )
    probe.close()
    challenged(trace)
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns(OLD_KERNEL)
    report = run(trace)
    assert [f.rule for f in report.findings] == ["token-service-unreachable"]
    # The ClientHello is not parsed as HTTP, and the plain answer means it did not stay encrypted.
    assert report.summary.weirds == ()
    assert not [n for n in report.summary.notes if "TLS" in n]


def _long_push(trace: Trace, requests: int) -> list[int]:
    """The healthy flow, then ``requests`` more blob requests accepted with the token."""
    healthy(trace)
    push = Tcp(trace, CLIENT, 52112, REGISTRY, 8200)
    push.handshake()
    frames = []
    for i in range(requests):
        frames.append(
            push.send(
                http_request(
                    "HEAD",
                    f"/v2/library/web/blobs/sha256:{i:064x}",
                    f"{REGISTRY}:8200",
                    {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
                )
            )
        )
        push.reply(http_response(200, "OK", {}))
    push.close()
    return frames


def test_accepted_bearer_requests_are_counted_not_kept() -> None:
    trace = Trace()
    heads = _long_push(trace, 60)
    report = run(trace)
    f = next(f for f in report.findings if f.rule == "token-flow-ok")
    assert f.fact("bearer_accepted") == 61  # the upload of healthy() and the 60 HEADs
    cleartext = next(
        f
        for f in report.findings
        if f.rule == "credentials-in-cleartext" and f.fact("bearer_requests")
    )
    assert cleartext.fact("bearer_requests") == 61
    # Evidence: the first and the last Bearer request, though the last was only counted.
    assert max(e.frame for e in cleartext.evidence) == heads[-1]


def test_a_long_push_does_not_crowd_out_a_later_challenge() -> None:
    """The record cap once filled with accepted Bearer requests and dropped later challenges."""
    trace = Trace()
    _long_push(trace, 40)
    challenged(trace, registry="180.119.140.231")  # then a registry whose realm is dead
    Tcp(trace, CLIENT, 40001, REALM_IP, 8200).syns(OLD_KERNEL)
    report = run(trace, max_records=8)
    assert "token-service-unreachable" in {f.rule for f in report.findings}
    assert not [n for n in report.summary.notes if "record limit" in n]
