"""Deterministic packet building blocks for the synthetic captures.

How this works: a :class:`Capture` collects :class:`Entry` records (time,
source and destination :class:`Host`, and a *builder* that returns the layer-3
bytes).  Builders run lazily, once, when a writer asks for the bytes, so a
packet may depend on another one that is only finished later (an ICMP error
quotes the SYN it answers; a TCP segment's TSecr depends on what the peer sent
before it).  Writers sort the entries by time (ties keep insertion order) and
add the link layer (see ``_writers.py``).

Times are integer nanoseconds relative to the capture's epoch.  Nothing here
reads a clock or a random source: every ISN, IP id, port, MAC and timestamp
comes from the caller, and "random-looking" bytes come from SHAKE-256 of a
label (:func:`prand`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scapy.compat import raw
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, PadN
from scapy.packet import Packet, Raw

NS = 1_000_000_000
US = 1_000
MS = 1_000_000

# Linux SYN retransmission offsets (seconds after the first SYN).
# Before 6.5: initial RTO 1 s, doubling.  6.5+ with tcp_syn_linear_timeouts=4:
# four linear 1 s steps (offsets 1..5), then doubling again.
OLD_KERNEL_SYN_RTX = (1, 3, 7, 15, 31, 63)
NEW_KERNEL_SYN_RTX = (1, 2, 3, 4, 5, 7, 11, 19, 35)
# Timer slack added to each retransmission (µs); real timers never fire on the dot.
_SLACK_US = (1012, 3406, 2211, 4790, 1630, 3055, 2488, 4127, 1902)
GO_DIAL_TIMEOUT = 30 * NS


def at(seconds: float) -> int:
    """Seconds (relative to the capture epoch) → ns, rounded to the microsecond."""
    return round(seconds * 1_000_000) * US


def prand(label: str, n: int) -> bytes:
    """``n`` random-looking but fixed bytes derived from ``label``."""
    return hashlib.shake_256(label.encode()).digest(n)


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


@dataclass(frozen=True)
class Host:
    """An address as seen from the capture point.

    ``mac`` is the source MAC of this host's frames on the captured link (the
    gateway's MAC for anything routed), ``ttl`` the TTL / hop limit its packets
    arrive with, ``local`` marks the capture host itself (its frames are
    outgoing).
    """

    ip: str
    mac: bytes
    ttl: int
    local: bool = False

    @property
    def v6(self) -> bool:
        return ":" in self.ip


@dataclass(eq=False)
class Entry:
    t: int
    order: int
    src: Host
    dst: Host
    build: Callable[[], bytes]
    iface: int = 0
    _data: bytes | None = None

    def data(self) -> bytes:
        if self._data is None:
            self._data = self.build()
        return self._data

    @property
    def ethertype(self) -> int:
        return 0x86DD if self.src.v6 else 0x0800

    @property
    def outgoing(self) -> bool:
        return self.src.local


class Capture:
    def __init__(self, epoch_s: int) -> None:
        self.epoch_ns = epoch_s * NS
        self.entries: list[Entry] = []
        self.marks: dict[str, list[Entry]] = {}

    def add(
        self,
        t: int,
        src: Host,
        dst: Host,
        build: Callable[[], bytes],
        *,
        iface: int = 0,
        mark: str | None = None,
    ) -> Entry:
        entry = Entry(t, len(self.entries), src, dst, build, iface)
        self.entries.append(entry)
        if mark:
            self.mark(mark, entry)
        return entry

    def mark(self, label: str, entry: Entry) -> None:
        self.marks.setdefault(label, []).append(entry)

    def frames(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: (e.t, e.order))

    def key_frames(self) -> list[tuple[str, list[int]]]:
        number = {id(e): i for i, e in enumerate(self.frames(), start=1)}
        return [(label, sorted(number[id(e)] for e in es)) for label, es in self.marks.items()]


def ip_header(src: Host, dst: Host, *, ip_id: int = 0, df: bool = True, fl: int = 0) -> Packet:
    if src.v6:
        return IPv6(src=src.ip, dst=dst.ip, hlim=src.ttl, fl=fl)
    return IP(src=src.ip, dst=dst.ip, ttl=src.ttl, id=ip_id, flags="DF" if df else 0)


# --------------------------------------------------------------------- TCP


@dataclass(eq=False)
class _Seg:
    t: int
    side: int
    flags: str
    seq: int
    ack: int
    payload: bytes
    syn_opts: bool
    window: int
    sack: tuple[tuple[int, int], ...]
    hbh: bool
    entry: Entry | None = None
    pkt: bytes = b""


@dataclass
class TcpConn:
    """One TCP connection between ``a`` (the side that connects) and ``b``.

    Sequence numbers advance as segments are added (every byte sent counts as
    delivered to the peer); TSval/TSecr and IP ids are filled in when the
    packets are built, from the time order of all segments: TSecr is the last
    TSval the sender could have received (the near side sees a far packet when
    it is captured, the far side sees a near packet half an RTT later).
    """

    cap: Capture
    a: Host
    b: Host
    aport: int
    bport: int
    rtt: int
    isn: tuple[int | None, int | None] | None = None
    ip_id: tuple[int, int] | None = None
    ts_base: tuple[int, int] | None = None
    windows: tuple[int, int] = (502, 509)
    wscale: int = 7
    segs: list[_Seg] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Per-connection values a kernel would pick at random, fixed by the 4-tuple.
        seed = prand(f"{self.a.ip}:{self.aport}>{self.b.ip}:{self.bport}", 20)
        derived = (int.from_bytes(seed[0:4]), int.from_bytes(seed[4:8]))
        given = self.isn or (None, None)
        self.isn = (
            derived[0] if given[0] is None else given[0],
            derived[1] if given[1] is None else given[1],
        )
        if self.ip_id is None:
            self.ip_id = (int.from_bytes(seed[8:10]), int.from_bytes(seed[10:12]))
        if self.ts_base is None:
            self.ts_base = (int.from_bytes(seed[12:16]), int.from_bytes(seed[16:20]))
        self.flow_label = int.from_bytes(seed[1:4]) & 0xFFFFF
        self.nxt = [self.isn[0], self.isn[1]]
        self.hosts = (self.a, self.b)
        self.ports = (self.aport, self.bport)
        self.near = 1 if self.b.local and not self.a.local else 0
        self.mss = 1440 if self.a.v6 else 1460
        self.seg_size = self.mss - 12  # room left by the timestamp option
        self._built = False

    # -- timing
    def turn(self, t: int, side: int, proc: int = 0) -> int:
        """Capture time of ``side``'s reaction to a packet captured at ``t``."""
        return t + proc if side == self.near else t + self.rtt + proc

    # -- raw segments
    def seg(
        self,
        side: int,
        t: int,
        flags: str,
        payload: bytes = b"",
        *,
        seq: int | None = None,
        ack: int | None = None,
        window: int | None = None,
        sack: Sequence[tuple[int, int]] = (),
        hbh: bool = False,
        mark: str | None = None,
    ) -> Entry:
        fresh = seq is None
        seq = self.nxt[side] if seq is None else seq
        if ack is None:
            ack = self.nxt[1 - side] if "A" in flags else 0
        syn_opts = "S" in flags
        if window is None:
            window = (65160 if "A" in flags else 64240) if syn_opts else self.windows[side]
        s = _Seg(t, side, flags, seq, ack, payload, syn_opts, window, tuple(sack), hbh)
        if fresh:
            self.nxt[side] += len(payload) + ("S" in flags) + ("F" in flags)
        src, dst = self.hosts[side], self.hosts[1 - side]
        s.entry = self.cap.add(t, src, dst, lambda: self._packet(s), mark=mark)
        self.segs.append(s)
        return s.entry

    def _packet(self, s: _Seg) -> bytes:
        if not self._built:
            self._build_all()
        return s.pkt

    def _build_all(self) -> None:
        self._built = True
        order = sorted(self.segs, key=lambda s: (s.t, s.entry.order if s.entry else 0))
        last_tsval: list[list[tuple[int, int]]] = [[], []]  # per side: (t, tsval)
        ids = list(self.ip_id)
        owd = self.rtt // 2
        for s in order:
            far = s.side != self.near
            tsval = (self.ts_base[s.side] + (s.t - (owd if far else 0)) // MS) & 0xFFFFFFFF
            horizon = s.t - self.rtt if far else s.t
            tsecr = 0
            if not (s.syn_opts and "A" not in s.flags):
                seen = [v for (t, v) in last_tsval[1 - s.side] if t <= horizon]
                tsecr = seen[-1] if seen else 0
            last_tsval[s.side].append((s.t, tsval))
            if "R" in s.flags:
                opts: list[tuple[str, object]] = []
            elif s.syn_opts:
                opts = [
                    ("MSS", self.mss),
                    ("SAckOK", b""),
                    ("Timestamp", (tsval, tsecr)),
                    ("NOP", None),
                    ("WScale", self.wscale),
                ]
            else:
                opts = [("NOP", None), ("NOP", None), ("Timestamp", (tsval, tsecr))]
                if s.sack:
                    opts += [("NOP", None), ("NOP", None), ("SAck", _flat(s.sack))]
            # Linux: SYN-ACKs and RSTs carry IP id 0; other packets count up per socket.
            if ("S" in s.flags and "A" in s.flags) or "R" in s.flags:
                ip_id = 0
            else:
                ip_id = ids[s.side]
                ids[s.side] = (ids[s.side] + 1) & 0xFFFF
            src, dst = self.hosts[s.side], self.hosts[1 - s.side]
            ip = ip_header(src, dst, ip_id=ip_id, fl=self.flow_label)
            if s.hbh:
                ip = ip / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)])
            tcp = TCP(
                sport=self.ports[s.side],
                dport=self.ports[1 - s.side],
                seq=s.seq & 0xFFFFFFFF,
                ack=s.ack & 0xFFFFFFFF,
                flags=s.flags,
                window=s.window,
                options=opts,
            )
            pkt = ip / tcp / Raw(s.payload) if s.payload else ip / tcp
            s.pkt = raw(pkt)

    # -- conversation steps
    def connect(self, t: int, *, proc: int = 40 * US) -> int:
        """Three-way handshake starting at ``t``; returns the time of the final ACK."""
        self.seg(0, t, "S")
        t_sa = self.turn(t, 1, 20 * US)
        self.seg(1, t_sa, "SA")
        t_ack = self.turn(t_sa, 0, proc)
        self.seg(0, t_ack, "A")
        return t_ack

    def send(
        self,
        side: int,
        t: int,
        data: bytes,
        *,
        gap: int = 12 * US,
        hbh: bool = False,
        mark: str | None = None,
        mark_first: str | None = None,
    ) -> int:
        """``data`` in MSS-sized segments (PSH on the last).

        ``mark`` names the last segment (where Wireshark shows a reassembled
        message), ``mark_first`` the first.
        """
        chunks = [data[i : i + self.seg_size] for i in range(0, len(data), self.seg_size)]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            entry = self.seg(
                side, t, "PA" if last else "A", chunk, hbh=hbh, mark=mark if last else None
            )
            if i == 0 and mark_first:
                self.cap.mark(mark_first, entry)
            if not last:
                t += gap
        return t

    def ack(
        self, side: int, t: int, *, sack: Sequence[tuple[int, int]] = (), mark: str | None = None
    ) -> Entry:
        return self.seg(side, t, "A", sack=sack, mark=mark)

    def exchange(
        self,
        t: int,
        request: bytes,
        response: bytes,
        *,
        proc: int = 600 * US,
        server_ack: bool = True,
        client_ack: bool = True,
        hbh: bool = False,
        mark_request: str | None = None,
        mark_response: str | None = None,
    ) -> int:
        """Client request at ``t`` → server ACK → response → client ACK; returns the last time."""
        t_req = self.send(0, t, request, hbh=hbh, mark=mark_request)
        if server_ack:
            self.ack(1, self.turn(t_req, 1, 0))
        t_resp = self.send(1, self.turn(t_req, 1, proc), response, mark=mark_response)
        if client_ack:
            t_resp = self.turn(t_resp, 0, 45 * US)
            self.ack(0, t_resp)
        return t_resp

    def bulk(
        self,
        side: int,
        t: int,
        data: bytes,
        *,
        rate_bps: int = 200_000_000,
        mark: str | None = None,
    ) -> int:
        """Send ``data`` in slow-start flights (10, 20, 40… segments per RTT).

        The receiver ACKs every second segment; the ACK of a trailing odd
        segment is left to ride on the reply.  ``mark`` names the last segment.
        Returns the last segment's time.
        """
        gap = self.seg_size * 8 * NS // rate_bps
        chunks = [data[i : i + self.seg_size] for i in range(0, len(data), self.seg_size)]
        cwnd, i, t_round = 10, 0, t
        window = self.windows[1 - side]
        while i < len(chunks):
            ts = t_round
            # Receive-buffer autotuning: the advertised window doubles each round,
            # always ahead of the sender's next flight.
            window = min(window * 2, 16384)
            for k in range(min(cwnd, len(chunks) - i)):
                last = i == len(chunks) - 1
                self.seg(side, ts, "PA" if last else "A", chunks[i], mark=mark if last else None)
                if k % 2 == 1:
                    self.seg(1 - side, self.turn(ts, 1 - side, 30 * US), "A", window=window)
                i += 1
                ts += gap
            t_round = max(ts, t_round + self.rtt)
            cwnd *= 2
        self.windows = (window, self.windows[1]) if side == 1 else (self.windows[0], window)
        return ts - gap

    def close(self, side: int, t: int, *, peer_delay: int = 200 * US, merged: bool = False) -> int:
        """FIN from ``side``; the peer ACKs and closes after ``peer_delay`` (or at once)."""
        peer = 1 - side
        self.seg(side, t, "FA")
        t_peer = self.turn(t, peer, 40 * US)
        if not merged:
            self.seg(peer, t_peer, "A")
            t_peer += peer_delay
        self.seg(peer, t_peer, "FA")
        t_end = self.turn(t_peer, side, 40 * US)
        self.seg(side, t_end, "A")
        return t_end

    def rst_ack(self, side: int, t: int, *, mark: str | None = None) -> Entry:
        return self.seg(side, t, "RA", window=0, mark=mark)


def _flat(blocks: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(x & 0xFFFFFFFF for block in blocks for x in block)


def unanswered_syns(
    conn: TcpConn,
    t: int,
    *,
    schedule: Sequence[int] = OLD_KERNEL_SYN_RTX,
    give_up_after: int = GO_DIAL_TIMEOUT,
    label: str,
) -> int:
    """A SYN at ``t`` and its retransmissions until the dialer gives up.

    Marks ``"<label> SYN"`` and ``"<label> SYN retransmissions"``; returns the
    time the dialer gives up (``t + give_up_after``).
    """
    conn.seg(0, t, "S", mark=f"{label} SYN")
    for k, offset in enumerate(schedule):
        t_rtx = t + offset * NS + _SLACK_US[k % len(_SLACK_US)] * US
        if t_rtx - t >= give_up_after:
            break
        conn.seg(0, t_rtx, "S", seq=conn.isn[0], mark=f"{label} SYN retransmissions")
    return t + give_up_after
