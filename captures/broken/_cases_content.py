"""Hostile packets inside well-formed files: lying IP and TCP headers, fragments, HTTP,
WWW-Authenticate and DNS that a careless parser would crash or hang on."""

from __future__ import annotations

import re
import struct

from _build import (
    ACK,
    CLIENT,
    FIN,
    PSH,
    REALM,
    REALM_IP,
    REGISTRY,
    RESOLVER,
    SYN,
    Conn,
    Trace,
    challenge,
    ether,
    founding,
    http_get,
    ipv4,
    ipv6,
    pcap,
    response_401,
    syns,
    tcp,
    udp,
)
from _case import Case

BEARER = f'Bearer realm="{REALM}",service="harbor-registry"'


def _with_extra(extra: list[bytes]) -> bytes:
    """The founding case, then ``extra`` frames (link layer included) 1 ms apart."""
    trace = founding()
    for frame in extra:
        trace.add(frame)
    return pcap(trace.frames)


def _syn(dport: int) -> bytes:
    return tcp(CLIENT, REGISTRY, 33000 + dport, dport, 1, 0, SYN)


def _ip_header_lies() -> bytes:
    ok = ipv4(CLIENT, REGISTRY, 6, _syn(1))
    return _with_extra([
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(2), ihl=15)[:40]),  # 60-byte header in 40 bytes
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(3), ihl=3)),  # 12-byte header: impossible
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(4), ihl=15)),  # options eat the TCP header
        ether(bytes([0x55]) + ok[1:]),  # version 5
        ether(ok[:12]),  # cut inside the header
    ])  # fmt: skip


def _ip_total_length_lies() -> bytes:
    return _with_extra([
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(5), total=65535)),  # more than the frame
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(6), total=10)),  # less than the header
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(7), total=0)),  # TSO: 0, the frame is the datagram
        ether(ipv4(CLIENT, REGISTRY, 6, _syn(8), total=24)),  # ends inside the TCP header
    ])  # fmt: skip


def _tcp_offset_lies() -> bytes:
    def seg(doff: int, payload: bytes = b"") -> bytes:
        return ether(ipv4(CLIENT, REGISTRY, 6, tcp(CLIENT, REGISTRY, 33100 + doff, 8200, 1, 0, SYN, payload, doff=doff)))  # fmt: skip

    return _with_extra([seg(15), seg(15, b"GET / HTTP/1.1\r\n"), seg(2), seg(0), seg(6)])


def _truncated_headers() -> bytes:
    v6 = bytes([0x60, 0, 0, 0, 0, 96, 6, 64]) + bytes(32)
    hop = bytes([0, 0]) + bytes(6)  # hop-by-hop, next header 0 = another hop-by-hop
    return _with_extra([
        b"",
        b"\x00\x00\x5e",
        ether(b"")[:13],
        ether(b"\x00\x64\x08\x00", ethertype=0x8100)[:16],  # a VLAN tag cut short
        ether(b"\x00\x00", ethertype=0x8864),  # PPPoE header cut
        ether(b"\x00\x00\x01\x00", ethertype=0x8847),  # MPLS stack with nothing under it
        ether(ipv4(CLIENT, REGISTRY, 6, b"\x00" * 10)),  # TCP header cut
        ether(ipv4(CLIENT, RESOLVER, 17, b"\x00" * 4)),  # UDP header cut
        ether(v6[:30], ethertype=0x86DD),  # IPv6 header cut
        ether(v6[:6] + b"\x00" + v6[7:] + hop * 12, ethertype=0x86DD),  # 12 extension headers
        ether(ipv4(RESOLVER, CLIENT, 1, bytes([3, 1, 0, 0, 0, 0, 0, 0]) + b"\x45" + bytes(10))),  # ICMP quoting too little
    ])  # fmt: skip


def _fragments() -> bytes:
    """The 401 in overlapping fragments (a forged copy of the realm in the overlap), plus
    an incomplete datagram, one in 300 fragments and one that would pass 64 KiB.

    Overlapping fragments that would hold more than twice 64 KiB are built at test time."""
    trace = Trace()
    reg = Conn(trace, REGISTRY, 8200, 52110)
    reg.handshake()
    reg.request(http_get("/v2/", f"{REGISTRY}:8200"))
    seg = tcp(REGISTRY, CLIENT, 8200, 52110, reg.sseq, reg.cseq, PSH | ACK, response_401(BEARER))
    where = (seg.index(REALM_IP.encode()) // 8) * 8
    forged = seg[:where] + seg[where:].replace(REALM_IP.encode(), b"10.99.99.199!!", 1)

    def frag(ident: int, off: int, data: bytes, more: bool, proto: int = 6) -> bytes:
        word = (0x2000 if more else 0) | (off // 8)
        return ether(ipv4(REGISTRY, CLIENT, proto, data, ident=ident, frag=word), outgoing=False)

    trace.add(frag(7, 0, seg[: where + 16], True), 30)
    trace.add(frag(7, where, forged[where : where + 64], True))  # overlaps: the first copy wins
    trace.add(frag(7, where + 16, seg[where + 16 :], False))
    reg.c(ACK)
    trace.add(frag(8, 0, b"U" * 64, True, 17))  # never completed
    for i in range(300):
        trace.add(frag(9, i * 8, b"F" * 8, i < 299, 17), 0.01)
    trace.add(frag(10, 65528, b"B" * 64, True, 17))  # past the 64 KiB an IP datagram can hold
    for n in range(2):
        syns(trace, 40000 + n)
    return pcap(trace.frames)


def _ipv6_bad_version_midstream() -> bytes:
    """An IPv6 connection carrying data, then a segment that fits it in every field but the
    IP version nibble (4): the fast path once took it as the connection's next bytes.
    Found by the fuzzer (PUSHCAP_FUZZ_DIFF): its report differed from Analyzer.feed's."""
    client, server = "2001:db8:1::100", "2001:db8:ffff::230"
    trace = Trace()
    seq = {client: 1000, server: 7000}

    def send(src: str, dst: str, flags: int, payload: bytes = b"", version: int = 6) -> None:
        sport, dport = (52110, 8200) if src == client else (8200, 52110)
        seg = tcp(src, dst, sport, dport, seq[src], seq[dst], flags, payload)
        packet = ipv6(src, dst, 6, seg, version=version)
        trace.ip(packet, outgoing=src == client, ethertype=0x86DD)
        if version == 6:
            seq[src] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    send(client, server, SYN)
    send(server, client, SYN | ACK)
    send(client, server, ACK)
    send(client, server, PSH | ACK, http_get("/v2/", f"[{server}]:8200"))
    send(client, server, PSH | ACK, b"GET /v2/_catalog HTTP/1.1\r\n\r\n", version=4)
    send(server, client, PSH | ACK, response_401(BEARER))
    return pcap(trace.frames)


def _http(response: bytes, *, attempts: int = 2) -> bytes:
    return pcap(challenge(Trace(), response=response, attempts=attempts).frames)


def _chunked_401(body: bytes) -> bytes:
    head = response_401(BEARER).split(b"\r\n\r\n", 1)[0]
    head = re.sub(rb"Content-Length: [0-9]+", b"Transfer-Encoding: chunked", head)
    return head + b"\r\n\r\n" + body


def _many_headers(count: int) -> bytes:
    head, body = response_401(BEARER).split(b"\r\n\r\n", 1)
    extra = b"".join(b"\r\nX-Filler-%d: %d" % (i, i) for i in range(count))
    return head + extra + b"\r\n\r\n" + body


def _header_block(size: int) -> bytes:
    head, body = response_401(BEARER).split(b"\r\n\r\n", 1)
    return head + b"\r\nX-Padding: " + b"a" * size + b"\r\n\r\n" + body


def _wa(value: str | bytes, *, attempts: int = 2) -> bytes:
    return _http(response_401(value), attempts=attempts)


def _wa_two(first: str, second: str) -> bytes:
    trace = challenge(Trace(), first, attempts=0)
    challenge(trace, second, cport=52112, attempts=1)
    return pcap(trace.frames)


def _dns_a(name: str, address: str, qid: int) -> list[bytes]:
    """A query for ``name`` (ASCII) and its answer ``address``, as Ethernet frames."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    question = labels + b"\0\1\0\1"
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
    answer = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question
    answer += b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4" + bytes(int(x) for x in address.split("."))
    return [
        ether(ipv4(CLIENT, RESOLVER, 17, udp(CLIENT, RESOLVER, 41000 + qid, 53, query))),
        ether(ipv4(RESOLVER, CLIENT, 17, udp(RESOLVER, CLIENT, 53, 41000 + qid, answer)), outgoing=False),
    ]  # fmt: skip


def _idn_realm() -> bytes:
    """The realm's host is an internationalised name, in UTF-8 in the header; the client
    resolves its IDNA form and dials the answer in vain."""
    trace = challenge(Trace(), 'Bearer realm="http://реестр.пример:8200/service/token"'.encode(), attempts=0)  # fmt: skip
    for frame in _dns_a("реестр.пример".encode("idna").decode(), REALM_IP, 7):
        trace.add(frame)
    for n in range(2):
        syns(trace, 40000 + n)
    return pcap(trace.frames)


def _control_characters() -> bytes:
    """ESC sequences, a C1 CSI and a bidi override where a report quotes the wire."""
    bidi = "\u202e".encode()
    realm = b'Bearer realm="http://172.16.200.100:8200/service/token\x1b]0;pwned\x07",service="\x1b[2J' + bidi + b'"'  # fmt: skip
    response = response_401(realm, status_line=b"HTTP/1.1 401 Un\x1b[31mauthorized\x9b2J")
    return pcap(challenge(Trace(), response=response).frames)


def _thousand_params() -> bytes:
    params = ",".join(f'p{i}="{i}"' for i in range(1000))
    return _wa(f'Bearer realm="{REALM}",service="harbor-registry",{params}')


def _dns(payloads: list[bytes]) -> bytes:
    frames = []
    for i, payload in enumerate(payloads):
        frames.append(ether(ipv4(RESOLVER, CLIENT, 17, udp(RESOLVER, CLIENT, 53, 40000 + i, payload)), outgoing=False))  # fmt: skip
    return _with_extra(frames)


def _dns_header(qd: int = 1, an: int = 1) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, 0x8180, qd, an, 0, 0)


QUESTION = b"\x05harbor\x04corp\x07example\x00\x00\x01\x00\x01"
DNS_LOOP = (
    _dns_header() + QUESTION + b"\xc0\x2d\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01"
)
DNS_SELF = _dns_header(an=0)[:12] + b"\xc0\x0c\x00\x01\x00\x01"
DNS_PAST_END = (
    _dns_header() + QUESTION + b"\xc3\xff\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01"
)
DNS_RDLEN = _dns_header() + QUESTION + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\xff\xff\x0a"
DNS_COUNTS = struct.pack("!HHHHHH", 0x1234, 0x8180, 65535, 65535, 65535, 65535) + QUESTION

CASES = [
    Case("ipv4-header-length-lies.pcap", _ip_header_lies(), 1,
         ("truncated_ipv4_header", "ipv4_bad_header_length", "ipv4_bad_version", "token-service-unreachable"),
         "IHL 15 in a 40-byte packet, IHL 3, options that eat the TCP header, version 5, a header cut at 12 bytes"),
    Case("ipv4-total-length-lies.pcap", _ip_total_length_lies(), 1,
         ("ipv4_total_length_too_small", "truncated_tcp_header", "token-service-unreachable"),
         "total length 65535 in a 54-byte frame, 10 (< header), 0 (TSO), 24 (inside the TCP header)"),
    Case("tcp-data-offset-past-segment.pcap", _tcp_offset_lies(), 1,
         ("tcp_bad_data_offset", "token-service-unreachable"),
         "TCP data offsets 15 (60 bytes) in 20- and 36-byte segments, 2, 0, and 6 in a 20-byte segment"),
    Case("truncated-headers.pcap", _truncated_headers(), 1,
         ("truncated_ethernet_header", "truncated_vlan_tag", "truncated_pppoe_header", "truncated_mpls_stack",
          "truncated_tcp_header", "truncated_udp_header", "truncated_ipv6_header",
          "ipv6_too_many_extension_headers", "icmp_unreachable_bad_quote"),
         "0, 3 and 13-byte Ethernet frames; cut VLAN, PPPoE, MPLS, TCP, UDP and IPv6 headers; "
         "12 IPv6 extension headers; an ICMP error quoting 11 bytes"),
    Case("ipv4-fragments.pcap", _fragments(), 1,
         ("IP fragment sets could not be reassembled", "token-service-unreachable", "incomplete"),
         "the 401 in 3 fragments whose overlap forges another realm (the first copy wins, as in "
         "the original); a datagram never completed; one in 300 fragments; one past 64 KiB"),
    Case("ipv6-bad-version-on-a-known-flow.pcap", _ipv6_bad_version_midstream(), 1,
         ("ipv6_bad_version", "realm-internal-address"),
         "an IPv6 connection's data segment, then one with IP version 4 in its IPv6 header "
         "(dropped, not taken as the stream's next bytes; found by the fuzzer)"),
    # HTTP
    Case("http-header-without-colon.pcap", _http(response_401(BEARER).replace(b"\r\n\r\n", b"\r\nthis line has no colon\r\n\r\n", 1)), 1,
         ("http_header_without_colon", "token-service-unreachable"),
         "a 401 with a header line without a colon (skipped, the rest is read)"),
    Case("http-status-without-reason.pcap", _http(response_401(BEARER, status_line=b"HTTP/1.1 401")), 1,
         ("token-service-unreachable",),
         "`HTTP/1.1 401` with no reason phrase"),
    Case("http-chunk-size-overflow.pcap", _http(_chunked_401(b"1ffffffffffffffff\r\n" + b"x" * 64)), 1,
         ("http_bad_chunk_size",),
         "a chunked 401 whose first chunk size has 17 hex digits (over 2**64)"),
    Case("http-chunk-size-2-63.pcap", _http(_chunked_401(b"8000000000000000\r\n" + b"x" * 64)), 1,
         ("http_bad_chunk_size",),
         "a chunked 401 whose chunk size is 2**63"),
    Case("http-endless-chunked.pcap", _http(_chunked_401(b"".join(b"10\r\n" + b"y" * 16 + b"\r\n" for _ in range(400)))), 1,
         ("token-service-unreachable",),
         "a chunked 401 of 400 chunks and no last chunk; the capture ends first"),
    Case("http-too-many-headers.pcap", _http(_many_headers(300)), 0,
         ("http_too_many_headers",),
         "a 401 with 305 header fields (limit 256): dropped, and the report says so"),
    Case("http-header-block-over-limit.pcap", _http(_header_block(70_000)), 0,
         ("http_header_block_too_large",),
         "a 401 whose header block is 70 kB (limit 64 KiB); the 10 MB one is built at test time"),
    # WWW-Authenticate
    Case("wa-unterminated-quote.pcap", _wa(f'Bearer service="harbor-registry",realm="{REALM}'), 1,
         ("token-service-unreachable",),
         "the realm's quoted string never ends (it takes the rest of the value)"),
    Case("wa-thousand-params.pcap", _thousand_params(), 1,
         ("token-service-unreachable",),
         "a Bearer challenge with 1002 parameters (64 kept)"),
    Case("wa-no-realm.pcap", _wa('Bearer service="harbor-registry",scope="repository:library/web:pull"'), 1,
         ("realm-invalid", "names no realm"),
         "a Bearer challenge without a realm"),
    Case("wa-realm-not-url.pcap", _wa('Bearer realm="token-service",service="harbor-registry"'), 1,
         ("realm-invalid",),
         "realm=\"token-service\""),
    Case("wa-realm-userinfo.pcap", _wa('Bearer realm="http://admin:Harbor12345@172.16.200.100:8200/service/token"'), 1,
         ("token-service-unreachable", "admin:<redacted>@172.16.200.100", "credentials-in-cleartext"),
         "a realm URL with a user name and password", absent=("Harbor12345",)),
    Case("wa-realm-ipv6.pcap", _wa_two('Bearer realm="http://[fd00:16:200::100]:8200/service/token"', 'Bearer realm="http://[fd00:16:200::100/service/token"'), 1,
         ("realm-internal-address", "[fd00:16:200::100]:8200", "realm-invalid"),
         "an IPv6 literal realm, and one with its closing bracket missing"),
    Case("wa-realm-idn.pcap", _idn_realm(), 1,
         ("token-service-unreachable", "http://реестр.пример:8200/service/token", "xn--e1aa5aceg.xn--e1afmkfd"),
         "a realm whose host is an internationalised name, in UTF-8; the client resolves its "
         "IDNA form and dials the answer in vain"),
    Case("wa-control-characters.pcap", _control_characters(), 1,
         ("realm-invalid", "x1b]0;pwned", "x1b[2J", "u202e", "x1b[31mauthorized"),
         "ESC sequences, a C1 CSI and a bidi override in the realm, another parameter and the "
         "reason phrase: shown escaped, never sent to the terminal",
         absent=("\x1b", "\x9b", "\u202e")),
    Case("wa-garbage.pcap", _wa(b'\x00\xff"\\' * 64 + b'=,,=="' * 32), 0,
         ('"verdict": "clean"',),
         "a WWW-Authenticate value of control bytes, quotes, backslashes and stray `=`"),
    # DNS
    Case("dns-compression-loop.pcap", _dns([DNS_LOOP, DNS_SELF]), 1,
         ("dns_malformed", "token-service-unreachable"),
         "DNS answers whose names point at themselves"),
    Case("dns-pointer-past-end.pcap", _dns([DNS_PAST_END, DNS_RDLEN, DNS_COUNTS]), 1,
         ("dns_malformed", "token-service-unreachable"),
         "a compression pointer past the end, an rdlength past the end, counts of 65535 records"),
]  # fmt: skip
