"""The tshark engine's core without tshark: packets' fields in (as ``-T ek`` prints them), observations out."""

from __future__ import annotations

import json

import pytest

from analyzer.engines.dnsmsgs import message_from_fields
from analyzer.engines.fields import epoch_ns, hex_bytes, parse_line, to_int
from analyzer.engines.httpfields import dechunk, recover_head
from analyzer.engines.observer import TsharkObserver
from analyzer.pipeline import SourceInfo

CLIENT, REGISTRY, REALM, ROUTER = (
    "192.168.1.100",
    "180.119.140.230",
    "172.16.200.100",
    "192.168.1.1",
)
T0 = 1_655_957_563
TOKEN_BODY = json.dumps({"token": "x" * 1500, "expires_in": 1800}).encode()


def pkt(frame: int, t: float, **fields: object) -> dict[str, list[str]]:
    layers = {"frame_number": [str(frame)], "frame_time_epoch": [f"{T0 + t:.9f}"]}
    for key, value in fields.items():
        layers[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return layers


def tcp(
    frame: int, t: float, src: str, sport: int, dst: str, dport: int, flags: int, stream: int,
    *, seq: int = 0, raw: int = 1000, payload: bytes = b"", **more: object,
) -> dict[str, list[str]]:  # fmt: skip
    fields: dict[str, object] = {
        "ip_src": src, "ip_dst": dst, "ip_ttl": 64, "tcp_stream": stream, "tcp_srcport": sport,
        "tcp_dstport": dport, "tcp_flags": f"0x{flags:04x}", "tcp_seq": seq, "tcp_seq_raw": raw,
        "tcp_len": len(payload),
    }  # fmt: skip
    if payload:
        fields["tcp_payload"] = payload.hex()
    return pkt(frame, t, **fields, **more)


SYN, SYNACK, ACK, RST, PSH = 0x002, 0x012, 0x010, 0x004, 0x018


def report(*packets: dict[str, list[str]]) -> TsharkObserver:
    observer = TsharkObserver()
    for p in packets:
        observer.packet(p)
    observer.finish(SourceInfo("test", "pcap"))
    return observer


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1655957563.472529000", 1_655_957_563_472_529_000),
        ("12.5", 12_500_000_000),
        ("7", 7 * 10**9),
    ],
)
def test_epoch_ns(text: str, ns: int) -> None:
    assert epoch_ns(text) == ns


def test_lines_and_values() -> None:
    assert parse_line(b'{"index":{"_index":"packets-2022-06-23","_type":"doc"}}') is None
    assert parse_line(b'{"timestamp":"1","layers":{"frame_number":["3"]}}') == {
        "frame_number": ["3"]
    }
    assert parse_line(b'{"timestamp": broken') is None
    assert hex_bytes("47:45:54") == hex_bytes("474554") == b"GET"
    assert to_int("0x0012") == 18
    assert to_int("oops", -1) == -1


@pytest.mark.parametrize(
    ("raw", "body", "done"),
    [
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello", True),
        (b"5\r\nhel", b"hel", False),
        (b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n", b"abcde", True),
        (b'{"token":"t"}', b'{"token":"t"}', False),  # already de-chunked
    ],
)
def test_dechunk(raw: bytes, body: bytes, done: bool) -> None:
    assert dechunk(raw) == (body, done)


def test_dns_answer_follows_cnames_and_keeps_class_in_addresses_only() -> None:
    layers = pkt(
        23, 1.0, dns_id="0x1234", dns_flags_response=1, dns_flags_rcode=0,
        dns_qry_name="Harbor.Corp.Example", dns_qry_type=1, dns_count_answers=3,
        dns_resp_name=["harbor.corp.example", "core.harbor.corp.example", "core.harbor.corp.example", "ns.example"],
        dns_resp_type=[5, 1, 1, 1], dns_resp_class=["0x0001", "0x0001", "0x0003", "0x0001"],
        dns_cname="core.harbor.corp.example", dns_a=["172.16.200.100", "10.9.9.9", "192.0.2.53"],
    )  # fmt: skip
    msg = message_from_fields(layers)
    assert msg is not None
    assert (msg.id, msg.is_response, msg.qname, msg.qtype) == (
        0x1234,
        True,
        "harbor.corp.example",
        "A",
    )
    assert msg.cnames == (("harbor.corp.example", "core.harbor.corp.example"),)
    assert msg.addresses == (("core.harbor.corp.example", "172.16.200.100"),)  # CH record left out


def test_unanswered_syns_and_icmp_are_tied_to_their_connection() -> None:
    obs = report(
        tcp(1, 0.0, CLIENT, 47028, REALM, 8200, SYN, 0),
        tcp(2, 1.0, CLIENT, 47028, REALM, 8200, SYN, 0),
        tcp(3, 3.0, CLIENT, 47028, REALM, 8200, SYN, 0),
        tcp(4, 10.0, CLIENT, 47040, REALM, 8200, SYN, 1),
        pkt(5, 10.1, ip_src=[ROUTER, CLIENT], ip_dst=[CLIENT, REALM], ip_ttl=[64, 63],
            icmp_type=3, icmp_code=1, tcp_srcport=47040, tcp_dstport=8200),
    ).obs  # fmt: skip
    first, second = obs.failed
    assert [f for f, _ in first.syns] == [1, 2, 3]
    assert first.state == "S0"
    assert second.icmp is not None
    assert second.icmp[0] == 5 and second.icmp[2:4] == (3, 1)
    assert "I" in second.history


def test_a_new_isn_on_the_same_stream_is_a_new_connection_and_late_frames_are_ignored() -> None:
    observer = TsharkObserver()
    for p in (
        tcp(1, 0.0, CLIENT, 40000, REALM, 8200, SYN, 0, raw=1),
        tcp(2, 0.1, REALM, 8200, CLIENT, 40000, RST | ACK, 0),
        tcp(3, 1.0, CLIENT, 40000, REALM, 8200, SYN, 0, raw=2),
        tcp(4, 1.1, REALM, 8200, CLIENT, 40000, RST | ACK, 0),
        tcp(5, 900.0, CLIENT, 40001, REALM, 8201, SYN, 1),  # the sweep retires stream 0
        tcp(6, 901.0, CLIENT, 40000, REALM, 8200, ACK, 0),  # late: ignored, not a new connection
    ):
        observer.packet(p)
    observer.finish(SourceInfo("test", "pcap"))
    assert observer.conns.total == 3
    assert [c.state for c in observer.obs.failed] == ["REJ", "REJ", "S0"]


def test_http1_token_body_across_segments() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(
        TOKEN_BODY
    )
    split = 1000
    obs = report(
        tcp(1, 0.0, CLIENT, 40000, REGISTRY, 8200, SYN, 0),
        tcp(2, 0.01, REGISTRY, 8200, CLIENT, 40000, SYNACK, 0),
        tcp(3, 0.02, CLIENT, 40000, REGISTRY, 8200, PSH, 0, seq=1, payload=b"GET /service/token",
            http_request_method="GET", http_request_uri="/service/token?scope=x",
            http_host="180.119.140.230:8200", http_authorization="Basic YWRtaW46eA=="),
        tcp(4, 0.03, REGISTRY, 8200, CLIENT, 40000, PSH, 0, seq=1, payload=head + TOKEN_BODY[:split],
            http_response_code=200, http_response_phrase="OK", http_request_in=3,
            http_content_length_header=len(TOKEN_BODY), http_file_data=TOKEN_BODY[:split].decode()),
        tcp(5, 0.04, REGISTRY, 8200, CLIENT, 40000, PSH, 0, seq=1 + len(head) + split,
            payload=TOKEN_BODY[split:]),
    ).obs  # fmt: skip
    [ex] = obs.exchanges
    assert (ex.method, ex.req_frame, ex.status, ex.resp_frame) == ("GET", 3, 200, 4)
    assert ex.auth_scheme == "basic"
    assert ex.token_issued and ex.expires_in == 1800
    assert ex.client_port == 40000 and ex.server_port == 8200


def test_http2_challenge_and_token_response() -> None:
    challenge = 'Bearer realm="http://172.16.200.100:8200/service/token",service="harbor-registry"'
    obs = report(
        tcp(1, 0.0, CLIENT, 40000, REGISTRY, 8200, SYN, 0),
        tcp(2, 0.01, REGISTRY, 8200, CLIENT, 40000, SYNACK, 0),
        tcp(3, 0.02, CLIENT, 40000, REGISTRY, 8200, PSH, 0, seq=1, payload=b"x",
            tls_record_content_type=23, http2_type=[4, 1], http2_streamid=[0, 1],
            http2_length=[18, 40], http2_flags_end_stream=1, http2_header_count=3,
            http2_header_name=[":method", ":path", ":authority"],
            http2_header_value=["GET", "/v2/", "180.119.140.230:8200"]),
        tcp(4, 0.03, REGISTRY, 8200, CLIENT, 40000, PSH, 0, seq=1, payload=b"y",
            tls_record_content_type=23, http2_type=[1, 0], http2_streamid=[1, 1],
            http2_length=[60, 20], http2_flags_end_stream=[0, 1], http2_header_count=3,
            http2_header_name=[":status", "docker-distribution-api-version", "www-authenticate"],
            http2_header_value=["401", "registry/2.0", challenge],
            http2_data_data=b'{"errors":[{"message":"authentication required"}]}'.hex()),
    ).obs  # fmt: skip
    [ex] = obs.exchanges
    assert (ex.method, ex.target, ex.host, ex.req_frame) == (
        "GET",
        "/v2/",
        "180.119.140.230:8200",
        3,
    )
    assert (ex.status, ex.reason, ex.resp_frame) == (401, "Unauthorized", 4)
    assert ex.api_version == "registry/2.0"
    assert ex.bearer is not None and ex.bearer.realm == "http://172.16.200.100:8200/service/token"
    assert ex.error_message == "authentication required"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'..."expires_in": 1800}HTTP/1.1 401 Unauthorized\r\nServer: x\r\n'
            b'Www-Authenticate: Bearer realm="http://r/t",error="invalid_token"\r\n'
            b"Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}",
            {
                "http_response_code": ["401"],
                "http_response_phrase": ["Unauthorized"],
                "http_server": ["x"],
                "http_www_authenticate": ['Bearer realm="http://r/t",error="invalid_token"'],
                "http_content_length_header": ["2"],
                "http_file_data": ["{}"],
            },
        ),
        (
            b"\x00\x01binary tail PUT /v2/web/blobs/uploads/1?digest=sha256:0 HTTP/1.1\r\n"
            b"Host: r:8200\r\nAuthorization: Bearer abc\r\n\r\n",
            {
                "http_request_method": ["PUT"],
                "http_request_uri": ["/v2/web/blobs/uploads/1?digest=sha256:0"],
                "http_host": ["r:8200"],
                "http_authorization": ["Bearer abc"],
            },
        ),
        (b"just a body with no message in it\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", None),  # the head is not complete
    ],
)
def test_recover_head(data: bytes, expected: dict[str, list[str]] | None) -> None:
    head = recover_head(data)
    if expected is None:
        assert head is None
        return
    assert head is not None
    assert {k: v for k, v in head.items() if not k.endswith("_line")} == expected
