"""Frame bytes in -> sink calls out, in the style of h11's test_io.py, plus Hypothesis properties."""

from __future__ import annotations

import ipaddress
import logging
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6DestUnreach,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.packet import Packet, Raw  # noqa: E402

from analyzer.decode import SUPPORTED_LINKTYPES, Decoder  # noqa: E402

Event = tuple[Any, ...]

FRAME = 7
TS = 1_700_000_000_123_456_789

C, S, R = "10.0.0.1", "10.0.0.2", "192.0.2.254"
C6, S6, R6 = "2001:db8::1", "2001:db8::2", "2001:db8::fe"


def a(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


class Recorder:
    """A PacketSink that records every call as a tuple (payloads copied to bytes)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_tcp(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: memoryview,
        ttl: int,
    ) -> None:
        assert isinstance(src, bytes)
        assert isinstance(dst, bytes)
        self.events.append(
            ("tcp", frame, ts, src, dst, sport, dport, seq, ack, flags, bytes(payload), ttl)
        )

    def on_udp(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        payload: memoryview,
    ) -> None:
        self.events.append(("udp", frame, ts, src, dst, sport, dport, bytes(payload)))

    def on_unreachable(
        self,
        frame: int,
        ts: int,
        reporter: bytes,
        icmp_type: int,
        code: int,
        version: int,
        orig_src: bytes,
        orig_dst: bytes,
        orig_proto: int,
        orig_sport: int,
        orig_dport: int,
    ) -> None:
        self.events.append(
            (
                "unreachable",
                frame,
                ts,
                reporter,
                icmp_type,
                code,
                version,
                orig_src,
                orig_dst,
                orig_proto,
                orig_sport,
                orig_dport,
            )
        )

    def on_weird(self, frame: int, name: str) -> None:
        self.events.append(("weird", frame, name))


def decode(frames: list[tuple[int, bytes]]) -> tuple[Decoder, list[Event]]:
    sink = Recorder()
    d = Decoder(sink)
    for linktype, data in frames:
        d.decode(FRAME, TS, linktype, data)
    return d, sink.events


# -- frame builders ------------------------------------------------------------


def eth(inner: Packet | bytes, ethertype: int | None = None) -> bytes:
    hdr = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    if ethertype is not None:
        hdr.type = ethertype
    return bytes(hdr / inner) if isinstance(inner, Packet) else bytes(hdr) + inner


def syn4(sport: int = 40000, dport: int = 5000, seq: int = 1000, ttl: int = 64) -> Packet:
    return IP(src=C, dst=S, ttl=ttl) / TCP(sport=sport, dport=dport, seq=seq, flags="S")


def syn6(sport: int = 40000, dport: int = 5000, seq: int = 1000) -> Packet:
    return IPv6(src=C6, dst=S6, hlim=60) / TCP(sport=sport, dport=dport, seq=seq, flags="S")


def tcp(
    src: str = C,
    dst: str = S,
    sport: int = 40000,
    dport: int = 5000,
    seq: int = 1000,
    ack: int = 0,
    flags: int = 0x02,
    payload: bytes = b"",
    ttl: int = 64,
) -> Event:
    """The on_tcp call we expect."""
    return ("tcp", FRAME, TS, a(src), a(dst), sport, dport, seq, ack, flags, payload, ttl)


def weird(name: str) -> Event:
    return ("weird", FRAME, name)


GET = b"GET /v2/ HTTP/1.1\r\nHost: reg:5000\r\n\r\n"
PSH_ACK = IP(src=C, dst=S, ttl=63) / TCP(
    sport=40000, dport=5000, seq=123456789, ack=987654321, flags="PA"
)
SYN = syn4()
SYN_EV = tcp()
SYN6_EV = tcp(C6, S6, ttl=60)
IP_SYN = bytes(SYN)


def sll1(proto: int, ip: bytes) -> bytes:
    # packet type, ARPHRD_ETHER, address length, address (8 bytes), protocol
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01", proto) + ip


def sll2(proto: int, ip: bytes) -> bytes:
    # protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address
    return struct.pack("!HHIHBB8s", proto, 0, 3, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01") + ip


def mutate(pkt: Packet, offset: int, value: bytes) -> bytes:
    b = bytearray(bytes(pkt))
    b[offset : offset + len(value)] = value
    return bytes(b)


def ip_frags_reversed() -> list[tuple[int, bytes]]:
    frags = fragment(syn4(), fragsize=16)
    assert len(frags) == 2
    return [(1, eth(f)) for f in reversed(frags)]


def ip6_frags() -> list[tuple[int, bytes]]:
    body = bytes(syn6() / Raw(GET))[40:]  # the TCP segment, checksum computed over IPv6
    first, rest = body[:24], body[24:]
    f1 = IPv6(src=C6, dst=S6, hlim=60) / IPv6ExtHdrFragment(nh=6, offset=0, m=1, id=77) / first
    f2 = IPv6(src=C6, dst=S6, hlim=60) / IPv6ExtHdrFragment(nh=6, offset=3, m=0, id=77) / rest
    return [(1, eth(f2)), (1, eth(f1))]


def ext_chain(n: int) -> Packet:
    pkt = IPv6(src=C6, dst=S6, hlim=60)
    for _ in range(n):
        pkt = pkt / IPv6ExtHdrDestOpt()
    return pkt / TCP(sport=40000, dport=5000, seq=1000, flags="S")


# (name, [(linktype, frame bytes)], expected calls)
CASES: list[tuple[str, list[tuple[int, bytes]], list[Event]]] = [
    (
        "ethernet_ipv4_tcp_payload",
        [(1, eth(PSH_ACK / Raw(GET)))],
        [tcp(seq=123456789, ack=987654321, flags=0x18, payload=GET, ttl=63)],
    ),
    ("ethernet_padding_trimmed", [(1, eth(SYN) + b"\x00" * 6)], [SYN_EV]),
    (
        "ethernet_padding_trimmed_payload",
        [(1, eth(PSH_ACK / Raw(b"ab")) + b"\xee" * 4)],
        [tcp(seq=123456789, ack=987654321, flags=0x18, payload=b"ab", ttl=63)],
    ),
    ("vlan_8021q", [(1, eth(Dot1Q(vlan=5) / SYN))], [SYN_EV]),
    ("qinq_88a8_8100", [(1, eth(Dot1AD(vlan=1) / Dot1Q(vlan=2) / SYN, 0x88A8))], [SYN_EV]),
    ("truncated_vlan_tag", [(1, eth(b"\x00\x05", 0x8100))], [weird("truncated_vlan_tag")]),
    ("linux_sll_v1", [(113, sll1(0x0800, IP_SYN))], [SYN_EV]),
    ("linux_sll_v1_ipv6", [(113, sll1(0x86DD, bytes(syn6())))], [SYN6_EV]),
    ("linux_sll_v2", [(276, sll2(0x0800, IP_SYN))], [SYN_EV]),
    ("linux_sll_v2_ipv6", [(276, sll2(0x86DD, bytes(syn6())))], [SYN6_EV]),
    ("truncated_sll_v1", [(113, b"\x00" * 15)], [weird("truncated_sll_header")]),
    ("truncated_sll_v2", [(276, b"\x08\x00" + b"\x00" * 17)], [weird("truncated_sll2_header")]),
    ("raw_101", [(101, IP_SYN)], [SYN_EV]),
    ("raw_101_ipv6", [(101, bytes(syn6()))], [SYN6_EV]),
    ("raw_228_ipv4", [(228, IP_SYN)], [SYN_EV]),
    ("raw_229_ipv6", [(229, bytes(syn6()))], [SYN6_EV]),
    ("raw_12_bsd", [(12, IP_SYN)], [SYN_EV]),
    ("raw_14_openbsd", [(14, IP_SYN)], [SYN_EV]),
    ("raw_empty", [(101, b"")], [weird("empty_frame")]),
    ("null_af_little_endian", [(0, struct.pack("<I", 2) + IP_SYN)], [SYN_EV]),
    ("null_af_big_endian", [(0, struct.pack(">I", 2) + IP_SYN)], [SYN_EV]),
    ("null_af_inet6_darwin", [(0, struct.pack("<I", 30) + bytes(syn6()))], [SYN6_EV]),
    ("loop_108", [(108, struct.pack(">I", 2) + IP_SYN)], [SYN_EV]),
    ("loop_108_inet6_freebsd", [(108, struct.pack(">I", 28) + bytes(syn6()))], [SYN6_EV]),
    ("truncated_loopback", [(0, b"\x02\x00")], [weird("truncated_loopback_header")]),
    ("non_ip_ethertype_arp", [(1, eth(b"\x00" * 28, 0x0806))], []),
    (
        "ipv6_hop_by_hop_and_dest_options",
        [
            (
                1,
                eth(
                    IPv6(src=C6, dst=S6, hlim=60)
                    / IPv6ExtHdrHopByHop()
                    / IPv6ExtHdrDestOpt()
                    / syn6()[TCP]
                ),
            )
        ],
        [SYN6_EV],
    ),
    (
        "ipv6_atomic_fragment_header",
        [(1, eth(IPv6(src=C6, dst=S6, hlim=60) / IPv6ExtHdrFragment(id=9) / syn6()[TCP]))],
        [SYN6_EV],
    ),
    ("ipv6_fragments_reassembled", ip6_frags(), [tcp(C6, S6, payload=GET, ttl=60)]),
    ("ipv4_fragments_reversed", ip_frags_reversed(), [SYN_EV]),
    (
        "ipv4_fragments_reversed_then_duplicate_first",
        [*ip_frags_reversed(), ip_frags_reversed()[1]],
        [SYN_EV],
    ),
    ("ipv4_lone_fragment_waits", ip_frags_reversed()[:1], []),
    (
        "udp",
        [(1, eth(IP(src=C, dst=S) / UDP(sport=5353, dport=53) / Raw(b"abc")))],
        [("udp", FRAME, TS, a(C), a(S), 5353, 53, b"abc")],
    ),
    (
        "udp_ipv6",
        [(1, eth(IPv6(src=C6, dst=S6) / UDP(sport=5353, dport=53) / Raw(b"abc")))],
        [("udp", FRAME, TS, a(C6), a(S6), 5353, 53, b"abc")],
    ),
    (
        "icmp_unreachable_host_quoting_syn",
        [(1, eth(IP(src=R, dst=C) / ICMP(type=3, code=1) / Raw(IP_SYN[:28])))],
        [("unreachable", FRAME, TS, a(R), 3, 1, 4, a(C), a(S), 6, 40000, 5000)],
    ),
    (
        "icmpv6_unreachable_address_quoting_syn",
        [(1, eth(IPv6(src=R6, dst=C6) / ICMPv6DestUnreach(code=3) / Raw(bytes(syn6()))))],
        [("unreachable", FRAME, TS, a(R6), 1, 3, 6, a(C6), a(S6), 6, 40000, 5000)],
    ),
    ("icmp_echo_ignored", [(1, eth(IP(src=C, dst=S) / ICMP(type=8)))], []),
    (
        "icmp_unreachable_quote_too_short",
        [(1, eth(IP(src=R, dst=C) / ICMP(type=3, code=1) / Raw(IP_SYN[:24])))],
        [weird("icmp_unreachable_bad_quote")],
    ),
    (
        "icmp_unreachable_quote_ihl_too_small",
        [(1, eth(IP(src=R, dst=C) / ICMP(type=3, code=1) / Raw(b"\x41" + IP_SYN[1:28])))],
        [weird("icmp_unreachable_bad_quote")],
    ),
    # -- malformed -------------------------------------------------------------
    ("truncated_ethernet", [(1, eth(SYN)[:13])], [weird("truncated_ethernet_header")]),
    ("truncated_ipv4_header", [(1, eth(SYN)[: 14 + 19])], [weird("truncated_ipv4_header")]),
    ("ipv4_ihl_below_5", [(101, mutate(SYN, 0, b"\x44"))], [weird("ipv4_bad_header_length")]),
    ("ipv4_bad_version", [(1, eth(mutate(SYN, 0, b"\x55"), 0x0800))], [weird("ipv4_bad_version")]),
    (
        "ipv4_total_length_below_ihl",
        [(101, mutate(SYN, 2, b"\x00\x10"))],
        [weird("ipv4_total_length_too_small")],
    ),
    ("ipv4_total_length_zero_tso", [(101, mutate(SYN, 2, b"\x00\x00"))], [SYN_EV]),
    (
        "ipv4_options_past_snaplen",
        [(101, mutate(SYN, 0, b"\x4f\x00\x00\x3c")[:40])],
        [weird("truncated_ipv4_header")],
    ),
    (
        "tcp_data_offset_past_segment",
        [(1, eth(IP(src=C, dst=S) / TCP(dataofs=15, flags="S")))],
        [weird("tcp_bad_data_offset")],
    ),
    (
        "tcp_data_offset_below_5",
        [(1, eth(IP(src=C, dst=S) / TCP(dataofs=4, flags="S")))],
        [weird("tcp_bad_data_offset")],
    ),
    ("truncated_tcp", [(101, IP_SYN[:30])], [weird("truncated_tcp_header")]),
    (
        "truncated_udp",
        [(1, eth(IP(src=C, dst=S, proto=17) / Raw(b"abc")))],
        [weird("truncated_udp_header")],
    ),
    ("truncated_ipv6_header", [(229, bytes(syn6())[:39])], [weird("truncated_ipv6_header")]),
    (
        "ipv6_bad_version",
        [(1, eth(mutate(syn6(), 0, b"\x40"), 0x86DD))],
        [weird("ipv6_bad_version")],
    ),
    ("ipv6_ten_extension_headers_ok", [(229, bytes(ext_chain(10)))], [SYN6_EV]),
    (
        "ipv6_twenty_extension_headers",
        [(229, bytes(ext_chain(20)))],
        [weird("ipv6_too_many_extension_headers")],
    ),
    (
        "ipv6_extension_header_truncated",
        [(229, bytes(IPv6(src=C6, dst=S6, nh=0, plen=1)) + b"\x06")],
        [weird("truncated_ipv6_extension_header")],
    ),
    ("ipv6_no_next_header", [(229, bytes(IPv6(src=C6, dst=S6, nh=59)))], []),
]


@pytest.mark.parametrize(
    ("frames", "expected"), [(f, e) for _, f, e in CASES], ids=[c[0] for c in CASES]
)
def test_decode(frames: list[tuple[int, bytes]], expected: list[Event]) -> None:
    _, events = decode(frames)
    assert events == expected


def test_payload_is_a_view_of_the_frame() -> None:
    seen: list[memoryview] = []

    class Keep(Recorder):
        def on_tcp(self, *args: Any) -> None:
            seen.append(args[9])

    Decoder(Keep()).decode(1, 2, 1, eth(PSH_ACK / Raw(GET)))
    assert isinstance(seen[0], memoryview)
    assert bytes(seen[0]) == GET


def test_unsupported_linktype_is_counted_not_decoded() -> None:
    d, events = decode([(147, eth(SYN)), (147, b""), (1, eth(SYN)), (9999, b"x")])
    assert events == [SYN_EV]
    assert d.unsupported_linktypes == {147: 2, 9999: 1}


def test_non_ip_frames_counted() -> None:
    d, events = decode([(1, eth(b"\x00" * 28, 0x0806)), (0, struct.pack("<I", 7) + IP_SYN)])
    assert events == []
    assert d.non_ip_frames == 2


def test_fragment_table_is_bounded() -> None:
    sink = Recorder()
    d = Decoder(sink)
    first = fragment(syn4(), fragsize=16)[0]
    for ident in range(d.fragments.max_datagrams + 10):
        first[IP].id = ident
        d.decode(ident, ident, 1, eth(first))
    assert sink.events == []
    assert d.fragments.evicted == 10
    assert len(d.fragments._pending) == d.fragments.max_datagrams


# -- properties -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(sorted(SUPPORTED_LINKTYPES)))
def test_arbitrary_bytes_never_raise(data: bytes, linktype: int) -> None:
    Decoder(Recorder()).decode(1, 0, linktype, data)


@st.composite
def tcp_frames(draw: st.DrawFn) -> bytes:
    ip = IP(
        src=draw(st.ip_addresses(v=4)).exploded,
        dst=draw(st.ip_addresses(v=4)).exploded,
        ttl=draw(st.integers(0, 255)),
        ihl=draw(st.sampled_from([None, 5, 6])),
        options=[],
    )
    if ip.ihl == 6:
        ip.options = [b"\x01\x01\x01\x01"]  # four NOPs
    seg = TCP(
        sport=draw(st.integers(0, 65535)),
        dport=draw(st.integers(0, 65535)),
        seq=draw(st.integers(0, 2**32 - 1)),
        ack=draw(st.integers(0, 2**32 - 1)),
        flags=draw(st.integers(0, 0xFF)),
        options=draw(st.sampled_from([[], [("MSS", 1460)], [("MSS", 1460), ("WScale", 7)]])),
    )
    return eth(ip / seg / Raw(draw(st.binary(max_size=64))))


@settings(max_examples=200, deadline=None)
@given(tcp_frames(), st.data())
def test_truncated_valid_frames_never_raise(frame: bytes, data: st.DataObject) -> None:
    _, events = decode([(1, frame)])
    assert len(events) == 1
    assert events[0][0] == "tcp"
    cut = data.draw(st.integers(0, len(frame)))
    _, cut_events = decode([(1, frame[:cut])])
    assert len(cut_events) <= 1
    if cut_events and cut_events[0][0] == "tcp":
        # Snap length cut the payload short: the header is intact, the payload a prefix.
        assert cut_events[0][:10] == events[0][:10]
        assert events[0][10].startswith(cut_events[0][10])
        assert cut_events[0][11] == events[0][11]
