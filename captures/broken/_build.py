"""Byte-level builders for damaged and hostile captures: frames, pcap and pcapng.

Everything is written with ``struct`` so that any field can be made to lie
(a header length, a block length, a byte-order magic) while the rest stays
valid: IPv4, TCP and UDP checksums are correct unless a case breaks them on
purpose. Nothing here reads a clock or a random source.

``tests/hostile`` imports this module too, to build the big inputs (a million
SYNs, a 10 MB header block) at test time instead of committing them.
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

NS = 1_000_000_000
EPOCH = 1_655_957_560  # 2022-06-23 04:12:40 UTC, the founding case's day
SNAPLEN = 262_144

CLIENT = "192.168.1.100"
REGISTRY = "180.119.140.230"
REALM_IP = "172.16.200.100"
RESOLVER = "192.168.1.1"
REALM = f"http://{REALM_IP}:8200/service/token"
MAC_CLIENT = bytes.fromhex("0242c0a80164")
MAC_GATEWAY = bytes.fromhex("00005e005301")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 0,
    frag: int = 0x4000,  # flags and offset word; DF by default
    ttl: int = 64,
    ihl: int = 5,
    total: int | None = None,
    options: bytes = b"",
) -> bytes:
    """An IPv4 packet; ``ihl`` and ``total`` may lie about the real sizes."""
    length = 20 + len(options) + len(payload) if total is None else total
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | (ihl & 0x0F),
        0,
        length & 0xFFFF,
        ident,
        frag,
        ttl,
        proto,
        0,
        ip4(src),
        ip4(dst),
    )
    head += options
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes, *, version: int = 6, hlim: int = 64) -> bytes:  # fmt: skip
    """An IPv6 packet; ``version`` may lie."""
    head = struct.pack("!IHBB", version << 28, len(payload), nxt, hlim)
    return head + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    *,
    doff: int = 5,
    options: bytes = b"",
    window: int = 64240,
) -> bytes:
    """A TCP segment (checksummed over the IP pseudo-header); ``doff`` may lie."""
    head = struct.pack(
        "!HHIIBBHHH",
        sport,
        dport,
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        (doff & 0x0F) << 4,
        flags,
        window,
        0,
        0,
    )
    seg = head + options + payload
    if ":" in src:
        addrs = ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
        pseudo = addrs + struct.pack("!IxxxB", len(seg), 6)
    else:
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(seg))
    return seg[:16] + struct.pack("!H", checksum(pseudo + seg)) + seg[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    dgram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, len(dgram))
    return dgram[:6] + struct.pack("!H", checksum(pseudo + dgram) or 0xFFFF) + dgram[8:]


def ether(packet: bytes, *, outgoing: bool = True, ethertype: int = 0x0800) -> bytes:
    dst, src = (MAC_GATEWAY, MAC_CLIENT) if outgoing else (MAC_CLIENT, MAC_GATEWAY)
    return dst + src + struct.pack("!H", ethertype) + packet


# ---------------------------------------------------------------- conversations


@dataclass
class Trace:
    """Frames (time in ns since EPOCH, link-layer bytes) with a clock that moves forward."""

    t: int = 0
    frames: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, frame: bytes, dt_ms: float = 1.0) -> int:
        self.t += round(dt_ms * 1_000_000)
        self.frames.append((self.t, frame))
        return len(self.frames)

    def ip(
        self, packet: bytes, *, outgoing: bool = True, dt_ms: float = 1.0, ethertype: int = 0
    ) -> int:
        """Add an IP packet in Ethernet; the ethertype follows the version nibble unless given."""
        ethertype = ethertype or (0x86DD if packet[0] >> 4 == 6 else 0x0800)
        return self.add(ether(packet, outgoing=outgoing, ethertype=ethertype), dt_ms)


@dataclass
class Conn:
    """One TCP connection from the client; sequence numbers are kept right."""

    trace: Trace
    server: str
    sport: int
    cport: int
    client: str = CLIENT
    cseq: int = 1_000_000
    sseq: int = 7_000_000

    def c(self, flags: int, payload: bytes = b"", *, dt_ms: float = 1.0, **kw: int) -> int:
        seg = tcp(self.client, self.server, self.cport, self.sport, self.cseq, self.sseq, flags, payload, **kw)  # fmt: skip
        self.cseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return self.trace.ip(ipv4(self.client, self.server, 6, seg), dt_ms=dt_ms)

    def s(self, flags: int, payload: bytes = b"", *, dt_ms: float = 1.0, **kw: int) -> int:
        seg = tcp(self.server, self.client, self.sport, self.cport, self.sseq, self.cseq, flags, payload, **kw)  # fmt: skip
        self.sseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return self.trace.ip(ipv4(self.server, self.client, 6, seg, ttl=52), outgoing=False, dt_ms=dt_ms)  # fmt: skip

    def handshake(self) -> None:
        self.c(SYN)
        self.s(SYN | ACK, dt_ms=30)
        self.c(ACK)

    def request(self, data: bytes, mss: int = 1448) -> None:
        for i in range(0, len(data), mss):
            self.c(PSH | ACK, data[i : i + mss])

    def respond(self, data: bytes, mss: int = 1448) -> None:
        for i in range(0, len(data), mss):
            self.s(PSH | ACK, data[i : i + mss], dt_ms=30 if i == 0 else 0.1)

    def close(self) -> None:
        self.s(FIN | ACK)
        self.c(FIN | ACK)
        self.s(ACK)


def http_get(target: str, host: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "User-Agent: docker/24.0.7", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


UNAUTHORIZED = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}\n'


def response_401(www_authenticate: str | bytes, *, status_line: bytes | None = None) -> bytes:
    wa = www_authenticate if isinstance(www_authenticate, bytes) else www_authenticate.encode()
    head = [
        status_line or b"HTTP/1.1 401 Unauthorized",
        b"Content-Type: application/json; charset=utf-8",
        b"Content-Length: %d" % len(UNAUTHORIZED),
        b"Docker-Distribution-Api-Version: registry/2.0",
        b"Www-Authenticate: " + wa,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + UNAUTHORIZED


def syns(trace: Trace, cport: int, dst: str = REALM_IP, dport: int = 8200, tries: int = 3) -> None:
    """An unanswered SYN and its retransmissions, 1, 2, 4 s... apart."""
    for i in range(tries):
        seg = tcp(CLIENT, dst, cport, dport, 0x5EED0000 + cport, 0, SYN)
        trace.ip(ipv4(CLIENT, dst, 6, seg), dt_ms=10 if i == 0 else 1000 * 2 ** (i - 1))


def challenge(
    trace: Trace,
    www_authenticate: str | bytes = f'Bearer realm="{REALM}",service="harbor-registry"',
    *,
    response: bytes | None = None,
    cport: int = 52110,
    attempts: int = 2,
) -> Trace:
    """``GET /v2/`` answered 401 with ``www_authenticate``, then SYNs toward the realm."""
    reg = Conn(trace, REGISTRY, 8200, cport)
    reg.handshake()
    reg.request(http_get("/v2/", f"{REGISTRY}:8200"))
    reg.respond(response if response is not None else response_401(www_authenticate))
    reg.close()
    for n in range(attempts):
        syns(trace, 40000 + n)
    return trace


def founding() -> Trace:
    return challenge(Trace())


# ------------------------------------------------------------------- files


def pcap_header(
    *, linktype: int = 1, snaplen: int = SNAPLEN, magic: int = 0xA1B2C3D4, endian: str = "<"
) -> bytes:
    return struct.pack(f"{endian}IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(t_ns: int, data: bytes, *, caplen: int | None = None, wire: int | None = None) -> bytes:  # fmt: skip
    t = EPOCH * NS + t_ns
    cap = len(data) if caplen is None else caplen
    return struct.pack("<IIII", t // NS, t % NS // 1000, cap, len(data) if wire is None else wire) + data  # fmt: skip


def pcap(frames: Iterable[tuple[int, bytes]], **header: int) -> bytes:
    return pcap_header(**header) + b"".join(pcap_record(t, d) for t, d in frames)


def record_offsets(frames: list[tuple[int, bytes]]) -> Iterator[int]:
    """Byte offset of each record in ``pcap(frames)``."""
    pos = 24
    for _, data in frames:
        yield pos
        pos += 16 + len(data)


def block(kind: int, body: bytes, *, length: int | None = None, trailer: int | None = None, endian: str = "<") -> bytes:  # fmt: skip
    real = 12 + len(body)
    head = struct.pack(f"{endian}II", kind, real if length is None else length)
    return head + body + struct.pack(f"{endian}I", real if trailer is None else trailer)


def shb(*, bom: int | bytes = 0x1A2B3C4D, major: int = 1, endian: str = "<") -> bytes:
    magic = bom if isinstance(bom, bytes) else struct.pack(f"{endian}I", bom)
    return block(0x0A0D0D0A, magic + struct.pack(f"{endian}HHq", major, 0, -1), endian=endian)


def idb(linktype: int = 1, *, options: bytes = b"", endian: str = "<") -> bytes:
    return block(1, struct.pack(f"{endian}HHI", linktype, 0, SNAPLEN) + options, endian=endian)


def epb(iface: int, t_ns: int, data: bytes, *, caplen: int | None = None, endian: str = "<") -> bytes:  # fmt: skip
    ticks = (EPOCH * NS + t_ns) // 1000
    cap = len(data) if caplen is None else caplen
    head = struct.pack(f"{endian}IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, cap, len(data))
    return block(6, head + data + b"\0" * (-len(data) % 4), endian=endian)


def pcapng(frames: Iterable[tuple[int, bytes]], *, iface: int = 0) -> bytes:
    return shb() + idb() + b"".join(epb(iface, t, d) for t, d in frames)


def gzip_bytes(data: bytes) -> bytes:
    """Stored (level 0) deflate: the same bytes from every zlib, so cuts land alike."""
    return gzip.compress(data, compresslevel=0, mtime=0)
