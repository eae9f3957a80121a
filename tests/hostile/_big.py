"""Big hostile captures, written at test time with the corpus's own builders.

The per-frame loops patch a template record with ``struct.pack_into`` instead of
building each packet (checksums are not what these inputs test), so a million
frames take about a second to write.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from tests.hostile.conftest import load_broken

b: ModuleType = load_broken("_build")
_RECORD = struct.Struct("<IIII")


def _template(frames: list[tuple[int, bytes]], frame: bytes, count: int) -> tuple[bytearray, int]:
    """``frames`` as a pcap, then room for ``count`` copies of ``frame``; returns (buffer, offset)."""
    head = b.pcap(frames)
    rec = 16 + len(frame)
    buf = bytearray(len(head) + rec * count)
    buf[: len(head)] = head
    buf[len(head) :] = (_RECORD.pack(0, 0, len(frame), len(frame)) + frame) * count
    return buf, len(head)


def _stamp(buf: bytearray, offset: int, i: int) -> None:
    """Timestamp of record ``i`` (1 µs apart) written in place."""
    t = b.EPOCH + 20
    struct.pack_into("<II", buf, offset, t + i // 1_000_000, i % 1_000_000)


def syn_flood(path: Path, count: int) -> None:
    """``count`` SYNs from one client, each to a distinct (source port, destination port)."""
    seg = b.tcp(b.CLIENT, b.REGISTRY, 1, 1, 1, 0, b.SYN)
    frame = b.ether(b.ipv4(b.CLIENT, b.REGISTRY, 6, seg))
    buf, off = _template([], frame, count)
    ports = struct.Struct("!HH")
    rec = 16 + len(frame)
    for i in range(count):
        _stamp(buf, off, i)
        ports.pack_into(buf, off + 16 + 34, 1024 + i % 60000, 1 + i // 60000)
        off += rec
    path.write_bytes(buf)


def ooo_segments(path: Path, count: int, block: int = 5000) -> None:
    """One connection whose response body arrives as ``count`` one-byte segments, each block
    of ``block`` in reverse order: every block overflows the out-of-order store (1024)."""
    trace = b.Trace()
    conn = b.Conn(trace, b.REGISTRY, 8200, 52110)
    conn.handshake()
    conn.request(b.http_get("/v2/library/web/blobs/sha256:00", f"{b.REGISTRY}:8200"))
    conn.respond(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
    base = conn.sseq
    seg = b.tcp(b.REGISTRY, b.CLIENT, 8200, 52110, 0, conn.cseq, b.ACK, b"z")
    frame = b.ether(b.ipv4(b.REGISTRY, b.CLIENT, 6, seg), outgoing=False)
    buf, off = _template(trace.frames, frame, count)
    rec = 16 + len(frame)
    u32 = struct.Struct("!I")
    i = 0
    for start in range(0, count, block):
        for j in reversed(range(min(block, count - start))):
            _stamp(buf, off, i)
            u32.pack_into(buf, off + 16 + 38, (base + start + j) & 0xFFFFFFFF)
            off += rec
            i += 1
    path.write_bytes(buf)


def retransmissions_over_full_store(path: Path, count: int) -> None:
    """1000 segments wait out of order while ``count`` old retransmissions arrive."""
    trace = b.Trace()
    conn = b.Conn(trace, b.REGISTRY, 8200, 52111)
    conn.handshake()
    conn.request(b.http_get("/v2/", f"{b.REGISTRY}:8200"))
    conn.respond(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
    body = conn.sseq
    for k in range(1000):  # a hole of 100 bytes before each: never filled
        seg = b.tcp(b.REGISTRY, b.CLIENT, 8200, 52111, body + 100 + k * 200, conn.cseq, b.ACK, b"w" * 100)  # fmt: skip
        trace.ip(b.ipv4(b.REGISTRY, b.CLIENT, 6, seg), outgoing=False, dt_ms=0.01)
    old = b.tcp(b.REGISTRY, b.CLIENT, 8200, 52111, body - 40, conn.cseq, b.ACK, b"o" * 40)
    frame = b.ether(b.ipv4(b.REGISTRY, b.CLIENT, 6, old), outgoing=False)
    buf, off = _template(trace.frames, frame, count)
    for i in range(count):
        _stamp(buf, off, i)
        off += 16 + len(frame)
    path.write_bytes(buf)


def _one_response(path: Path, response: bytes, attempts: int) -> None:
    trace = b.challenge(b.Trace(), response=response, attempts=attempts)
    path.write_bytes(b.pcap(trace.frames))


def header_block(path: Path, size: int) -> None:
    """A 401 whose header block holds one ``size``-byte header line."""
    head, body = b.response_401(f'Bearer realm="{b.REALM}"').split(b"\r\n\r\n", 1)
    _one_response(path, head + b"\r\nX-Padding: " + b"p" * size + b"\r\n\r\n" + body, 0)


def endless_chunked(path: Path, size: int) -> None:
    """A chunked 401 whose body goes on for ``size`` bytes and never ends."""
    head = b.response_401(f'Bearer realm="{b.REALM}"').split(b"\r\n\r\n", 1)[0]
    head = re.sub(rb"Content-Length: [0-9]+", b"Transfer-Encoding: chunked", head)
    chunk = b"1000\r\n" + b"c" * 4096 + b"\r\n"
    _one_response(path, head + b"\r\n\r\n" + chunk * (size // len(chunk)), 2)


def fragment_sets(path: Path, count: int) -> None:
    """``count`` first fragments of distinct datagrams, then one datagram of 200 overlapping
    1480-byte fragments (300 KiB for a datagram of at most 64 KiB)."""
    frames = []
    for i in range(count):
        pkt = b.ipv4(b.REGISTRY, b.CLIENT, 17, b"f" * 64, ident=i & 0xFFFF, frag=0x2000)
        frames.append((i * 1000, b.ether(pkt, outgoing=False)))
    for i in range(200):
        pkt = b.ipv4(b.REGISTRY, b.CLIENT, 17, b"o" * 1480, ident=7, frag=0x2000 | i)
        frames.append((count * 1000 + i, b.ether(pkt, outgoing=False)))
    path.write_bytes(b.pcap(frames))


def dns_names(path: Path, count: int) -> None:
    """``count`` distinct names queried and answered (the DNS tables keep 10,000)."""
    frames = []
    for i in range(count):
        name = b"".join(bytes([len(p)]) + p for p in (b"h%d" % i, b"corp", b"example")) + b"\0"
        query = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1"
        answer = struct.pack("!HHHHHH", i & 0xFFFF, 0x8180, 1, 1, 0, 0) + name + b"\0\1\0\1"
        answer += b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4" + bytes([10, 0, (i >> 8) & 255, i & 255])
        sport = 1024 + i % 60000
        q = b.ipv4(b.CLIENT, b.RESOLVER, 17, b.udp(b.CLIENT, b.RESOLVER, sport, 53, query))
        a = b.ipv4(b.RESOLVER, b.CLIENT, 17, b.udp(b.RESOLVER, b.CLIENT, 53, sport, answer))
        frames += [(i * 1000, b.ether(q)), (i * 1000 + 500, b.ether(a, outgoing=False))]
    path.write_bytes(b.pcap(frames))


def many_challenges(path: Path, count: int) -> None:
    """``count`` clients, each challenged with its own realm and dialling it in vain."""
    trace = b.Trace()
    for i in range(count):
        client = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        realm_ip = f"172.16.{(i >> 8) & 255}.{i & 255}"
        conn = b.Conn(trace, b.REGISTRY, 8200, 50000, client=client)
        conn.c(b.PSH | b.ACK, b.http_get("/v2/", f"{b.REGISTRY}:8200"), dt_ms=0.01)
        conn.s(b.PSH | b.ACK, b.response_401(f'Bearer realm="http://{realm_ip}:8200/t"'), dt_ms=0.01)  # fmt: skip
        syn = b.tcp(client, realm_ip, 40000, 8200, 1, 0, b.SYN)
        trace.ip(b.ipv4(client, realm_ip, 6, syn), dt_ms=0.01)
    path.write_bytes(b.pcap(trace.frames))


def unknown_interfaces(path: Path, count: int) -> None:
    """A pcapng section with one interface and ``count`` packet blocks naming others, all
    distinct, in ``count // 1000`` sections: a million problems for a careless reader."""
    frame = b.ether(b.ipv4(b.CLIENT, b.REGISTRY, 6, b.tcp(b.CLIENT, b.REGISTRY, 1, 2, 1, 0, b.SYN)))
    one = bytearray(b.epb(0, 0, frame))
    parts = []
    for i in range(count):
        if i % 1000 == 0:
            parts += [b.shb(), b.idb()]
        struct.pack_into("<I", one, 8, 1 + i)
        parts.append(bytes(one))
    parts.append(b.epb(0, 0, frame))
    path.write_bytes(b"".join(parts))


def many_interfaces(path: Path, count: int) -> None:
    """One section describing ``count`` interfaces, then one packet."""
    frame = b.ether(b.ipv4(b.CLIENT, b.REGISTRY, 6, b.tcp(b.CLIENT, b.REGISTRY, 1, 2, 1, 0, b.SYN)))
    path.write_bytes(b.shb() + b.idb() * count + b.epb(0, 0, frame))


Builder = Callable[[Path, int], None]
