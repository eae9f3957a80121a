"""Frames for the benchmark generator: Ethernet/IPv4/TCP/UDP from struct, TCP conversations.

How this works: a frame is one ``struct.pack`` of every header field at once
plus the payload; nothing is parsed or built per layer. Checksums are
computed, not left at zero, with one trick that keeps them cheap: the
Internet checksum is a one's-complement sum of 16-bit words, and since
2**16 is 1 modulo 65535 that sum is congruent to the big-endian integer of
the bytes modulo 65535. So the sum of a field is the field's value mod 65535
(a 32-bit sequence number counts as itself), constant parts are summed once
per direction, and the payload costs one ``int.from_bytes(...) % 65535``
(about 2.5 µs for 1448 bytes, done in C). IPv4, TCP and UDP checksums are all
correct (tshark with ``-o tcp.check_checksum:TRUE`` finds none bad).

:class:`Tcp` is a conversation seen at the client's side of the link: its
methods are generators of ``(time_us, frame)`` that advance a shared
:class:`Clock`, so one job can run several connections one after the other
and the caller merges jobs by time. Data goes out in full-size segments
(MSS 1448 with the timestamp option, 1514-byte frames), the receiver acks
every second one, and every few thousand segments one is sent out of order
(swapped with the next) or sent twice (a retransmission), as counted in
:class:`Faults`.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

MSS = 1448
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ETHERTYPE_IPV4 = 0x0800
GATEWAY_MAC = bytes.fromhex("525400a10001")

# Ethernet + IPv4 (no options) + TCP with NOP NOP TS: 14 + 20 + 32 = 66 bytes.
_DATA = struct.Struct("!6s6sHBBHHHBBH4s4sHHIIBBHHHBBBBII")
# Ethernet + IPv4 + TCP header without options (options and payload appended).
_TCP_PLAIN = struct.Struct("!6s6sHBBHHHBBH4s4sHHIIBBHHH")
_UDP = struct.Struct("!6s6sHBBHHHBBH4s4sHHHH")
_M = 0xFFFF
_TS_WORDS = 0x0101 + 0x080A  # NOP NOP, kind 8 length 10

Frame = tuple[int, bytes]


def ipv4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def _fold(total: int) -> int:
    """The checksum field for a sum taken modulo 65535 (zero sums never occur here)."""
    return _M - (total % _M or _M)


def _payload_sum(payload: bytes) -> int:
    if len(payload) & 1:
        payload += b"\0"
    return int.from_bytes(payload) % _M


@dataclass(frozen=True, slots=True)
class Host:
    """An address as the capture point sees it: remote hosts come through the gateway's MAC."""

    ip: bytes
    mac: bytes
    ttl: int  # on arrival at the capture point (64 for the host itself)

    @property
    def text(self) -> str:
        return ".".join(str(b) for b in self.ip)


class Clock:
    """The time of the next frame of one generator, in µs since the capture epoch."""

    __slots__ = ("t",)

    def __init__(self, t: int) -> None:
        self.t = t


@dataclass(slots=True)
class Faults:
    """How often a data segment is reordered or retransmitted, and how many were (all jobs)."""

    every: int = 3000  # mean number of data segments between two faults
    reordered: int = 0
    retransmitted: int = 0


class _Side:
    """One direction's header constants and counters."""

    __slots__ = (
        "dst",
        "ip_id",
        "ip_sum",
        "mac_dst",
        "mac_src",
        "port_dst",
        "port_src",
        "seq",
        "src",
        "tcp_sum",
        "ts_base",
        "ttl",
        "win",
    )

    def __init__(self, src: Host, sport: int, dst: Host, dport: int, rng: random.Random) -> None:
        self.src, self.dst = src.ip, dst.ip
        self.mac_src, self.mac_dst = src.mac, dst.mac
        self.port_src, self.port_dst = sport, dport
        self.ttl = src.ttl
        self.ip_id = rng.randrange(1 << 16)
        self.seq = rng.randrange(1 << 32)
        self.ts_base = rng.randrange(1 << 32)
        self.win = 502 if src.ttl == 64 else 501
        addr_sum = int.from_bytes(self.src) + int.from_bytes(self.dst)
        self.ip_sum = 0x4500 + 0x4000 + (self.ttl << 8) + 6 + addr_sum
        self.tcp_sum = addr_sum + 6 + sport + dport

    def tsval(self, t: int) -> int:
        return (t // 1000 + self.ts_base) & 0xFFFFFFFF


class Tcp:
    """A TCP connection between a client and a server, frames as the client's link sees them."""

    def __init__(
        self,
        clock: Clock,
        client: Host,
        cport: int,
        server: Host,
        sport: int,
        rng: random.Random,
        faults: Faults,
        *,
        rtt_us: int = 30_000,
        gap_us: int = 80,
    ) -> None:
        self.clock = clock
        self.sides = (
            _Side(client, cport, server, sport, rng),
            _Side(server, sport, client, cport, rng),
        )
        self.rtt = rtt_us
        self.gap = gap_us  # between two full-size segments: the link's rate
        self.faults = faults
        self.rng = rng
        self.next_fault = self._fault_gap()
        self.segments = 0

    def _fault_gap(self) -> int:
        every = self.faults.every
        return self.rng.randrange(every // 2, every * 3 // 2)

    # -- frames ---------------------------------------------------------------

    def _data(self, d: int, flags: int, payload: bytes, seq: int | None = None) -> bytes:
        """A segment with the timestamp option (every segment after the handshake)."""
        s, peer = self.sides[d], self.sides[1 - d]
        t = self.clock.t
        if seq is None:
            seq = s.seq
        ack = peer.seq
        tsval, tsecr = s.tsval(t), peer.tsval(t - self.rtt // 2)
        tcp_len = 32 + len(payload)
        s.ip_id = ip_id = (s.ip_id + 1) & 0xFFFF
        ip_csum = _fold(s.ip_sum + 20 + tcp_len + ip_id)
        offflags = 0x8000 | flags
        total = s.tcp_sum + tcp_len + seq + ack + offflags + s.win + _TS_WORDS + tsval + tsecr
        if payload:
            total += _payload_sum(payload)
        return (
            _DATA.pack(
                s.mac_dst,
                s.mac_src,
                ETHERTYPE_IPV4,
                0x45,
                0,
                20 + tcp_len,
                ip_id,
                0x4000,
                s.ttl,
                6,
                ip_csum,
                s.src,
                s.dst,
                s.port_src,
                s.port_dst,
                seq,
                ack,
                offflags >> 8,
                flags,
                s.win,
                _fold(total),
                0,
                1,
                1,
                8,
                10,
                tsval,
                tsecr,
            )
            + payload
        )

    def _plain(self, d: int, flags: int, seq: int, ack: int, options: bytes, win: int) -> bytes:
        """A segment with given options and no payload (handshake, RST)."""
        s = self.sides[d]
        tcp_len = 20 + len(options)
        s.ip_id = ip_id = (s.ip_id + 1) & 0xFFFF
        ip_csum = _fold(s.ip_sum + 20 + tcp_len + ip_id)
        offflags = (tcp_len // 4) << 12 | flags
        total = s.tcp_sum + tcp_len + seq + ack + offflags + win + _payload_sum(options)
        return (
            _TCP_PLAIN.pack(
                s.mac_dst,
                s.mac_src,
                ETHERTYPE_IPV4,
                0x45,
                0,
                20 + tcp_len,
                ip_id,
                0x4000,
                s.ttl,
                6,
                ip_csum,
                s.src,
                s.dst,
                s.port_src,
                s.port_dst,
                seq,
                ack,
                offflags >> 8,
                flags,
                win,
                _fold(total),
                0,
            )
            + options
        )

    def _syn_options(self, d: int) -> bytes:
        s = self.sides[d]
        tsecr = self.sides[1 - d].tsval(self.clock.t) if d else 0
        # MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (Linux's order).
        return struct.pack(
            "!BBHBBBBIIBBBB", 2, 4, 1460, 4, 2, 8, 10, s.tsval(self.clock.t), tsecr, 1, 3, 3, 7
        )

    # -- conversations ----------------------------------------------------------

    def syn(self) -> Frame:
        """The client's SYN (sent again unchanged for a retransmission)."""
        c = self.sides[0]
        return self.clock.t, self._plain(0, SYN, c.seq, 0, self._syn_options(0), 64240)

    def connect(self) -> Iterator[Frame]:
        clock = self.clock
        c, s = self.sides
        yield self.syn()
        c.seq = (c.seq + 1) & 0xFFFFFFFF
        clock.t += self.rtt
        yield clock.t, self._plain(1, SYN | ACK, s.seq, c.seq, self._syn_options(1), 65160)
        s.seq = (s.seq + 1) & 0xFFFFFFFF
        clock.t += 40
        yield clock.t, self._data(0, ACK, b"")

    def refused(self) -> Iterator[Frame]:
        """SYN answered by RST/ACK from the server (nothing listens on the port)."""
        c = self.sides[0]
        yield self.syn()
        self.clock.t += self.rtt
        yield self.clock.t, self._plain(1, RST | ACK, 0, (c.seq + 1) & 0xFFFFFFFF, b"", 0)

    def send(self, d: int, data: bytes) -> Iterator[Frame]:
        """``data`` from side ``d`` (0: client) in full-size segments; the peer acks every second."""
        clock = self.clock
        s = self.sides[d]
        n = len(data)
        off = 0
        unacked = 0
        while off < n:
            end = min(off + MSS, n)
            self.segments += 1
            if self.segments >= self.next_fault and end + MSS <= n:
                self.next_fault = self.segments + self._fault_gap()
                if self.rng.random() < 0.5:
                    # The next segment overtakes this one.
                    first_seq = s.seq
                    second = self._data(
                        d, ACK, data[end : end + MSS], (first_seq + MSS) & 0xFFFFFFFF
                    )
                    first = self._data(d, ACK, data[off:end], first_seq)
                    yield clock.t, second
                    clock.t += self.gap
                    yield clock.t, first
                    self.faults.reordered += 1
                    s.seq = (first_seq + 2 * MSS) & 0xFFFFFFFF
                    off = end + MSS
                    unacked += 2
                else:
                    payload = data[off:end]
                    yield clock.t, self._data(d, ACK, payload)
                    clock.t += self.gap
                    yield clock.t, self._data(d, ACK, payload)  # retransmitted (same seq)
                    self.faults.retransmitted += 1
                    s.seq = (s.seq + MSS) & 0xFFFFFFFF
                    off = end
                    unacked += 1
            else:
                flags = ACK | PSH if end == n else ACK
                yield clock.t, self._data(d, flags, data[off:end])
                s.seq = (s.seq + end - off) & 0xFFFFFFFF
                off = end
                unacked += 1
            clock.t += self.gap
            if unacked >= 2:
                unacked = 0
                yield clock.t, self._data(1 - d, ACK, b"")
                clock.t += 15
        if unacked:
            clock.t += 200
            yield clock.t, self._data(1 - d, ACK, b"")

    def exchange(self, request: bytes, response: bytes, server_us: int = 2_000) -> Iterator[Frame]:
        """A request, the server's think time, the response."""
        yield from self.send(0, request)
        self.clock.t += self.rtt + server_us
        yield from self.send(1, response)
        self.clock.t += 300

    def close(self, by_server: bool = False) -> Iterator[Frame]:
        first = 1 if by_server else 0
        clock = self.clock
        yield clock.t, self._data(first, FIN | ACK, b"")
        a = self.sides[first]
        a.seq = (a.seq + 1) & 0xFFFFFFFF
        clock.t += self.rtt if first == 0 else 80
        yield clock.t, self._data(1 - first, FIN | ACK, b"")
        b = self.sides[1 - first]
        b.seq = (b.seq + 1) & 0xFFFFFFFF
        clock.t += 60 if first == 0 else self.rtt
        yield clock.t, self._data(first, ACK, b"")


def unanswered_dial(
    clock: Clock, tcp: Tcp, schedule_s: tuple[float, ...], rng: random.Random
) -> Iterator[Frame]:
    """A SYN and its retransmissions ``schedule_s`` seconds after it, none answered."""
    start = clock.t
    yield tcp.syn()
    for after in schedule_s:
        clock.t = start + int(after * 1_000_000) + rng.randrange(500, 6000)
        yield tcp.syn()


class Udp:
    """Datagrams between two hosts (DNS), checksummed."""

    def __init__(self, a: Host, aport: int, b: Host, bport: int, rng: random.Random) -> None:
        self.ends = ((a, aport, b, bport), (b, bport, a, aport))
        self.ip_id = [rng.randrange(1 << 16), rng.randrange(1 << 16)]

    def datagram(self, d: int, payload: bytes) -> bytes:
        src, sport, dst, dport = self.ends[d]
        self.ip_id[d] = ip_id = (self.ip_id[d] + 1) & 0xFFFF
        udp_len = 8 + len(payload)
        addr_sum = int.from_bytes(src.ip) + int.from_bytes(dst.ip)
        ip_csum = _fold(0x4500 + 0x4000 + (src.ttl << 8) + 17 + addr_sum + 20 + udp_len + ip_id)
        csum = _fold(addr_sum + 17 + 2 * udp_len + sport + dport + _payload_sum(payload)) or _M
        return (
            _UDP.pack(
                dst.mac,
                src.mac,
                ETHERTYPE_IPV4,
                0x45,
                0,
                20 + udp_len,
                ip_id,
                0x4000,
                src.ttl,
                17,
                ip_csum,
                src.ip,
                dst.ip,
                sport,
                dport,
                udp_len,
                csum,
            )
            + payload
        )
