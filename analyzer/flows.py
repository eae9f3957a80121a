"""The TCP flow table: one :class:`Conn` per connection, from its first SYN to its end.

How this works: every TCP segment is looked up by its 4-tuple (both
directions map to the same :class:`Conn`). The originator is whoever sent the
first SYN; for a connection already open when the capture began (no SYN seen)
the side with the lower port is taken as the responder, and HTTP content later
settles who asked and who answered regardless.

A :class:`Conn` records the handshake as the detectors need it: every SYN from
the originator with its frame and time (so retransmissions are counted and
timed), the SYN-ACK, the first RST and who sent it, FINs, and an ICMP
unreachable that quoted one of its segments. A SYN with a new initial sequence
number on a 4-tuple already in use starts a new connection (a client reusing a
source port). :attr:`Conn.state` and :attr:`Conn.history` follow Zeek's
``conn.log`` conventions.

Payload goes through a per-direction :class:`~analyzer.reassembly.Stream` to a
consumer chosen when the first payload byte arrives (HTTP, DNS over TCP, or
nothing). The table is bounded: finished connections are retired after a
linger time, idle ones after a timeout, and when ``max_flows`` is reached the
least recently active are retired early (a counted weird). Retired
connections are handed to a callback once, with their streams flushed.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzer.decode import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from analyzer.reassembly import Stream, StreamConsumer

NS = 1_000_000_000

# Bounds: every list on a connection is capped so a hostile capture costs O(1) per flow.
MAX_SYNS_KEPT = 64


class Conn:
    """What we know about one TCP connection (mutable while it lives)."""

    __slots__ = (
        "consumers",
        "fin_orig",
        "fin_resp",
        "first_frame",
        "first_ts",
        "history",
        "icmp",
        "isn",
        "last_frame",
        "last_ts",
        "oriented_by_syn",
        "orig",
        "orig_bytes",
        "orig_port",
        "resp",
        "resp_bytes",
        "resp_port",
        "rst",
        "streams",
        "syn_count",
        "synack",
        "syns",
        "uid",
    )

    def __init__(
        self,
        uid: int,
        orig: bytes,
        orig_port: int,
        resp: bytes,
        resp_port: int,
        frame: int,
        ts: int,
        oriented_by_syn: bool,
    ) -> None:
        self.uid = uid
        self.orig = orig
        self.orig_port = orig_port
        self.resp = resp
        self.resp_port = resp_port
        self.first_frame = frame
        self.first_ts = ts
        self.last_frame = frame
        self.last_ts = ts
        self.oriented_by_syn = oriented_by_syn
        self.isn: int | None = None
        self.syns: list[tuple[int, int]] = []  # (frame, ts) of each SYN from the originator
        self.syn_count = 0
        self.synack: tuple[int, int] | None = None
        # (frame, ts, sent by originator, ttl)
        self.rst: tuple[int, int, bool, int] | None = None
        self.fin_orig = False
        self.fin_resp = False
        # (frame, ts, icmp type, icmp code, reporter address)
        self.icmp: tuple[int, int, int, int, bytes] | None = None
        self.history = ""
        self.orig_bytes = 0
        self.resp_bytes = 0
        self.streams: list[Stream | None] = [None, None]
        self.consumers: list[StreamConsumer | None] = [None, None]

    @property
    def established(self) -> bool:
        return self.synack is not None or (
            not self.syns and bool(self.orig_bytes or self.resp_bytes)
        )

    @property
    def finished(self) -> bool:
        return self.rst is not None or (self.fin_orig and self.fin_resp)

    @property
    def state(self) -> str:
        """Zeek's conn_state for what was seen so far."""
        syn, synack = bool(self.syns), self.synack is not None
        if self.rst is not None:
            by_orig = self.rst[2]
            if syn and not synack:
                return "RSTOS0" if by_orig else "REJ"
            if not syn and not synack:
                return "RSTO" if by_orig else "RSTR"
            if synack and not syn:
                return "RSTRH" if not by_orig else "RSTO"
            return "RSTO" if by_orig else "RSTR"
        if not syn and not synack:
            return "OTH"
        if syn and not synack:
            return "SH" if self.fin_orig else "S0"
        if not syn:
            return "SHR" if self.fin_resp else "OTH"
        if self.fin_orig and self.fin_resp:
            return "SF"
        if self.fin_orig:
            return "S2"
        if self.fin_resp:
            return "S3"
        return "S1"

    def mark(self, letter: str) -> None:
        """Add a history letter (upper case: originator, lower case: responder), once."""
        if letter not in self.history:
            self.history += letter

    def restarted_by(self, src: bytes, sport: int, flags: int, seq: int) -> bool:
        """A SYN from the originator with a new initial sequence number: a new connection
        on the same 4-tuple (a client reusing a source port)."""
        return (
            flags & (TCP_SYN | TCP_ACK) == TCP_SYN
            and src == self.orig
            and sport == self.orig_port
            and self.isn is not None
            and seq != self.isn
        )

    def record(
        self, frame: int, ts: int, from_orig: bool, flags: int, seq: int, length: int, ttl: int
    ) -> None:
        """What one segment (``length`` payload bytes) says: handshake, reset, bytes, FIN, history."""
        self.last_frame = frame
        self.last_ts = ts
        if flags & TCP_SYN:
            if flags & TCP_ACK:
                if not from_orig:
                    if self.synack is None:
                        self.synack = (frame, ts)
                    self.mark("h")
            elif from_orig:
                self.syn_count += 1
                if len(self.syns) < MAX_SYNS_KEPT:
                    self.syns.append((frame, ts))
                if self.isn is None:
                    self.isn = seq
                self.mark("S")
        if flags & TCP_RST:
            if self.rst is None:
                self.rst = (frame, ts, from_orig, ttl)
            self.mark("R" if from_orig else "r")
        if length:
            if from_orig:
                self.orig_bytes += length
                self.mark("D")
            else:
                self.resp_bytes += length
                self.mark("d")
        if flags & TCP_FIN:
            if from_orig:
                self.fin_orig = True
                self.mark("F")
            else:
                self.fin_resp = True
                self.mark("f")


Ends = tuple[bytes, int, bytes, int]  # (originator, its port, responder, its port)


def oriented(src: bytes, sport: int, dst: bytes, dport: int, flags: int) -> tuple[Ends, bool]:
    """Who originates a connection first seen in this segment, and whether a SYN said so.

    A SYN's sender originates; a SYN-ACK seen first (its SYN not captured) still
    names the originator, its receiver; without a SYN, the side with the lower
    port is taken as the responder.
    """
    if flags & TCP_SYN:
        swap, by_syn = bool(flags & TCP_ACK), True
    else:
        swap, by_syn = sport < dport, False
    return ((dst, dport, src, sport) if swap else (src, sport, dst, dport)), by_syn


ConnCallback = Callable[[Conn], None]
ConsumerFactory = Callable[[Conn, int], StreamConsumer | None]


class FlowTable:
    """Tracks TCP connections within fixed bounds."""

    def __init__(
        self,
        on_retire: ConnCallback,
        consumer_for: ConsumerFactory,
        *,
        max_flows: int = 200_000,
        linger_ns: int = 120 * NS,
        idle_ns: int = 3600 * NS,
        max_ooo_bytes: int = 1 << 20,
        max_ooo_segments: int = 1024,
    ) -> None:
        self.on_retire = on_retire
        self.consumer_for = consumer_for
        self.max_flows = max_flows
        self.linger_ns = linger_ns
        self.idle_ns = idle_ns
        self.max_ooo_bytes = max_ooo_bytes
        self.max_ooo_segments = max_ooo_segments
        # Both directions' 4-tuples map to the same Conn; read by analyzer.fastpath too.
        self.by_key: dict[tuple[bytes, int, bytes, int], Conn] = {}
        self._live: dict[int, Conn] = {}
        self._next_uid = 1
        self.next_sweep_ts: int | None = None  # capture time of the next sweep (fastpath reads it)
        self.evicted_early = 0
        self.total = 0
        self.stray_rst = 0

    def __len__(self) -> int:
        return len(self._live)

    def live(self) -> list[Conn]:
        return list(self._live.values())

    def find(self, src: bytes, sport: int, dst: bytes, dport: int) -> Conn | None:
        return self.by_key.get((src, sport, dst, dport))

    # -- the hot path ---------------------------------------------------------

    def segment(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        flags: int,
        payload: memoryview,
        ttl: int,
    ) -> None:
        conn = self.by_key.get((src, sport, dst, dport))
        syn = flags & TCP_SYN
        if syn and conn is not None and conn.restarted_by(src, sport, flags, seq):
            self._retire(conn)
            conn = None
        if conn is None:
            if flags & TCP_RST and not syn:
                self.stray_rst += 1
                return
            conn = self._new(frame, ts, *oriented(src, sport, dst, dport, flags))
        from_orig = src == conn.orig and sport == conn.orig_port
        conn.record(frame, ts, from_orig, flags, seq, len(payload), ttl)
        if syn and from_orig != bool(flags & TCP_ACK):
            # The originator's SYN or the responder's SYN-ACK: the direction's data starts after it.
            self._stream(conn, 0 if from_orig else 1).syn(seq)
        if payload:
            self._stream(conn, 0 if from_orig else 1).segment(
                seq + (1 if syn else 0), payload, frame, ts
            )
        # No flush at a FIN: a segment missing before it may still be retransmitted.
        if self.next_sweep_ts is None or ts >= self.next_sweep_ts:
            self.sweep(ts)

    def _new(self, frame: int, ts: int, ends: Ends, by_syn: bool) -> Conn:
        if len(self._live) >= self.max_flows:
            # Make room first, so the connection being created is never the one evicted.
            self._evict_oldest()
        conn = Conn(self._next_uid, *ends, frame, ts, by_syn)
        self._next_uid += 1
        self.total += 1
        src, sport, dst, dport = ends
        self.by_key[(src, sport, dst, dport)] = conn
        self.by_key[(dst, dport, src, sport)] = conn
        self._live[conn.uid] = conn
        return conn

    def _stream(self, conn: Conn, direction: int) -> Stream:
        stream = conn.streams[direction]
        if stream is None:
            consumer = conn.consumers[direction]
            if consumer is None:
                consumer = self.consumer_for(conn, direction)
                conn.consumers[direction] = consumer
            stream = Stream(
                consumer if consumer is not None else DISCARD,
                self.max_ooo_bytes,
                self.max_ooo_segments,
            )
            conn.streams[direction] = stream
        return stream

    # -- retirement -----------------------------------------------------------

    def sweep(self, now: int) -> None:
        """Retire finished connections after their linger time and idle ones after the timeout."""
        self.next_sweep_ts = now + 10 * NS
        stale = [
            c
            for c in self._live.values()
            if (c.finished and now - c.last_ts > self.linger_ns) or now - c.last_ts > self.idle_ns
        ]
        for conn in stale:
            self._retire(conn)

    def _evict_oldest(self) -> None:
        keep = int(self.max_flows * 0.9)
        by_age = sorted(self._live.values(), key=lambda c: c.last_ts)
        for conn in by_age[: len(by_age) - keep]:
            self.evicted_early += 1
            self._retire(conn)

    def _retire(self, conn: Conn) -> None:
        if self._live.pop(conn.uid, None) is None:
            return
        for key in (
            (conn.orig, conn.orig_port, conn.resp, conn.resp_port),
            (conn.resp, conn.resp_port, conn.orig, conn.orig_port),
        ):
            if self.by_key.get(key) is conn:
                del self.by_key[key]
        for stream in conn.streams:
            if stream is not None:
                stream.flush(conn.last_frame)
        self.on_retire(conn)

    def close_all(self) -> None:
        """End of capture: retire every connection still alive."""
        for conn in list(self._live.values()):
            self._retire(conn)


class _Discard:
    """Consumer for streams nobody needs: the bytes are only counted by the stream."""

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        return None

    def gap(self, nbytes: int, frame: int) -> None:
        return None

    def midstream(self, frame: int) -> None:
        return None


DISCARD = _Discard()
