"""Properties of the whole pipeline: any bytes give a report or our error; segmentation never matters."""

from __future__ import annotations

import io
import struct
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.packet import Raw

from analyzer.errors import AnalyzerError
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.sources.open import open_capture
from tests.builders import NS, Tcp, Trace, challenge_401, http_request

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
REALM = "http://172.16.200.100:8200/service/token"


def pcap_bytes(trace: Trace) -> bytes:
    out = [PCAP_HEADER]
    for _, ts, _, data, wire in trace.frames:
        out.append(struct.pack("<IIII", ts // NS, (ts % NS) // 1000, len(data), wire) + data)
    return b"".join(out)


def analyze_bytes(data: bytes) -> object:
    """Run the file path of the CLI on bytes: a Report, or our AnalyzerError."""
    try:
        reader = open_capture("-", stdin=io.BytesIO(data))
        analyzer = Analyzer(AnalyzerOptions())
        with reader:
            for frame in reader:
                analyzer.feed(frame)
        return analyzer.finish(SourceInfo("-", reader.format, reader.compression))
    except AnalyzerError as err:
        return err


def founding_trace() -> Trace:
    trace = Trace()
    reg = Tcp(trace, "192.168.1.100", 52110, "180.119.140.230", 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", "180.119.140.230:8200"))
    reg.reply(challenge_401(REALM))
    reg.close()
    Tcp(trace, "192.168.1.100", 40001, "172.16.200.100", 8200).syns((1.0, 2.0, 4.0))
    return trace


FOUNDING = pcap_bytes(founding_trace())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_any_bytes_give_a_report_or_our_error(data: bytes) -> None:
    analyze_bytes(data)
    analyze_bytes(PCAP_HEADER + data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_founding_capture_never_crashes(data: st.DataObject) -> None:
    raw = bytearray(FOUNDING)
    for _ in range(data.draw(st.integers(0, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    analyze_bytes(bytes(raw[:cut]))


def resegmented(cuts: list[int]) -> bytes:
    """The founding case with the 401 response cut into segments at ``cuts`` (in order)."""
    trace = Trace()
    client, server = "192.168.1.100", "180.119.140.230"
    reg = Tcp(trace, client, 52110, server, 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", f"{server}:8200"))
    body = challenge_401(REALM)
    bounds = sorted({0, len(body), *(c % len(body) for c in cuts)})
    for a, b in pairwise(bounds):
        pkt = (
            IP(src=server, dst=client)
            / TCP(sport=8200, dport=52110, flags="PA", seq=reg.sseq + a, ack=reg.cseq)
            / Raw(body[a:b])
        )
        trace.add(pkt)
    reg.sseq += len(body)
    reg.close()
    Tcp(trace, client, 40001, "172.16.200.100", 8200).syns((1.0, 2.0, 4.0))
    return pcap_bytes(trace)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10_000), max_size=12))
def test_segmentation_does_not_change_the_diagnosis(cuts: list[int]) -> None:
    report = analyze_bytes(resegmented(cuts))
    assert not isinstance(report, AnalyzerError)
    (finding,) = report.findings  # type: ignore[attr-defined]
    assert finding.rule == "token-service-unreachable"
    assert finding.fact("syn_retransmissions") == 3
    assert finding.realm == REALM
