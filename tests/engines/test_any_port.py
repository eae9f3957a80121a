"""Through tshark: HTTP on any port, and token bodies that go on over several segments.

Each trace is written as a pcap and read by both engines, which must agree.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from analyzer.engines.tshark import analyze_with_tshark
from analyzer.pipeline import AnalyzerOptions
from analyzer.render.jsonout import report_dict
from analyzer.runner import analyze_file
from tests.builders import Tcp, Trace, challenge_401, http_request, http_response

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        shutil.which("tshark") is None,
        reason="tshark is not installed (make system-deps installs it)",
    ),
]

CLIENT, REGISTRY, REALM = "192.168.1.100", "180.119.140.230", "172.16.200.100"


def write(path: Path, trace: Trace) -> str:
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for _n, ts, _lt, data, wire in trace.frames:
        records.append(struct.pack("<IIII", ts // 10**9, ts % 10**9 // 1000, len(data), wire))
        records.append(data)
    path.write_bytes(b"".join(records))
    return str(path)


def both(path: str) -> list[dict[str, object]]:
    ours = report_dict(analyze_file(path, AnalyzerOptions()))["findings"]
    theirs = report_dict(analyze_with_tshark(path, AnalyzerOptions()))["findings"]
    assert theirs == ours
    findings: list[dict[str, object]] = ours
    return findings


@pytest.mark.parametrize("port", [80, 443, 3128, 5000, 8443, 9000, 31999])
def test_http_is_recognised_on_any_port(port: int, tmp_path: Path) -> None:
    trace = Trace()
    reg = Tcp(trace, CLIENT, 52110, REGISTRY, port)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", f"{REGISTRY}:{port}"))
    reg.reply(challenge_401(f"http://{REALM}:{port + 1}/service/token"))
    Tcp(trace, CLIENT, 47028, REALM, port + 1).syns((1.0, 3.0, 7.0))
    [finding] = both(write(tmp_path / f"port-{port}.pcap", trace))
    assert finding["rule"] == "token-service-unreachable"
    assert finding["registry"] == f"{REGISTRY}:{port}"


def test_token_body_over_three_segments_with_a_retransmission(tmp_path: Path) -> None:
    trace = Trace()
    reg = Tcp(trace, CLIENT, 52110, REGISTRY, 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", f"{REGISTRY}:8200"))
    reg.reply(challenge_401(f"http://{REGISTRY}:8200/service/token"))
    body = json.dumps({"token": "t" * 1800, "access_token": "t" * 1800, "expires_in": 1800})
    response = http_response(200, "OK", {"Content-Type": "application/json"}, body.encode())
    reg.send(
        http_request("GET", "/service/token?scope=repository%3Aweb%3Apush", f"{REGISTRY}:8200")
    )
    first, second, third = response[:1400], response[1400:2800], response[2800:]
    reg.reply(first)
    start = reg.sseq
    reg.reply(second)
    reg.sseq = start  # the same segment again: a retransmission
    reg.reply(second)
    reg.reply(third)
    reg.send(
        http_request(
            "HEAD", "/v2/web/blobs/sha256:00", f"{REGISTRY}:8200", {"Authorization": "Bearer t"}
        )
    )
    reg.reply(http_response(200, "OK"))
    # tshark 4.0 swallows the answer to the HEAD into its reassembly of the token body:
    # the engine reads it back (httpmsgs.recover_head), so the token is seen accepted.
    [finding] = [
        f for f in both(write(tmp_path / "token.pcap", trace)) if f["rule"] == "token-flow-ok"
    ]
    facts = finding["facts"]
    assert isinstance(facts, dict)
    assert facts["expires_in"] == 1800
    assert facts["bearer_accepted"] == 1
