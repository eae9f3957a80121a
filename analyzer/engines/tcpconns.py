"""TCP connections from tshark's view of them: handshakes, resets and ICMP errors.

How this works: tshark numbers every TCP conversation (``tcp.stream``, in order
of first appearance), and the display filter lets through every SYN, FIN and
RST and the first frame of every stream. So a stream number higher than any
seen so far is a new connection, seen from its first frame; a lower one that is
no longer live belongs to a connection already retired, and is ignored.

Each connection is an :class:`analyzer.flows.Conn`, filled in by the same
code as in the default engine's flow table (:func:`analyzer.flows.oriented`:
originator = sender of the first SYN; for a connection joined midstream, the
side with the higher port; :meth:`~analyzer.flows.Conn.restarted_by`: a SYN
with a new initial sequence number on a live 4-tuple starts a new connection;
:meth:`~analyzer.flows.Conn.record`: handshake, reset, bytes, FIN), so
:class:`~analyzer.observations.ConnSummary`, Zeek's state and history, and the
detectors read it unchanged. Payload is only partly seen (the filter keeps the
first segment of each direction), which is all ``established`` needs.
An ICMP error is tied to the live connection whose 4-tuple it quotes.
Retirement follows the flow table: finished connections after a linger time,
idle ones after a timeout, the least recently active when ``max_flows`` is
reached; each retired connection goes to the callback once.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzer.decode import TCP_RST, TCP_SYN
from analyzer.flows import Conn, Ends, oriented

NS = 1_000_000_000
LINGER_NS = 120 * NS
IDLE_NS = 3600 * NS
SWEEP_EVERY_NS = 10 * NS

Key = Ends  # a 4-tuple, either direction


class ConnTracker:
    """Live connections by tshark stream number, within fixed bounds."""

    def __init__(self, on_retire: Callable[[int, Conn], None], *, max_flows: int = 200_000) -> None:
        self.on_retire = on_retire
        self.max_flows = max_flows
        self.live: dict[int, Conn] = {}
        self._by_key: dict[Key, int] = {}
        self._highest = -1
        self._next_uid = 1
        self._next_sweep: int | None = None
        self.total = 0
        self.evicted_early = 0
        self.stray_rst = 0
        self.unmatched_icmp = 0

    def segment(
        self,
        stream: int,
        frame: int,
        ts: int,
        src: bytes,
        sport: int,
        dst: bytes,
        dport: int,
        flags: int,
        seq: int,
        length: int,
        ttl: int,
    ) -> Conn | None:
        conn = self.live.get(stream)
        syn = flags & TCP_SYN
        if syn and conn is not None and conn.restarted_by(src, sport, flags, seq):
            self._retire(stream, conn)
            conn = None
        elif conn is None and stream <= self._highest:
            return None  # a late frame of a connection already retired
        if conn is None:
            self._highest = max(self._highest, stream)
            if flags & TCP_RST and not syn:
                self.stray_rst += 1
                return None
            conn = self._new(stream, frame, ts, *oriented(src, sport, dst, dport, flags))
        conn.record(
            frame, ts, src == conn.orig and sport == conn.orig_port, flags, seq, length, ttl
        )
        if self._next_sweep is None or ts >= self._next_sweep:
            self.sweep(ts)
        return conn

    def _new(self, stream: int, frame: int, ts: int, ends: Ends, by_syn: bool) -> Conn:
        if len(self.live) >= self.max_flows:
            self._evict_oldest()
        conn = Conn(self._next_uid, *ends, frame, ts, by_syn)
        self._next_uid += 1
        self.total += 1
        self.live[stream] = conn
        src, sport, dst, dport = ends
        self._by_key[(src, sport, dst, dport)] = stream
        self._by_key[(dst, dport, src, sport)] = stream
        return conn

    def unreachable(
        self,
        frame: int,
        ts: int,
        reporter: bytes,
        icmp_type: int,
        code: int,
        orig_src: bytes,
        orig_sport: int,
        orig_dst: bytes,
        orig_dport: int,
    ) -> None:
        stream = self._by_key.get((orig_src, orig_sport, orig_dst, orig_dport))
        conn = self.live.get(stream) if stream is not None else None
        if conn is None:
            self.unmatched_icmp += 1
            return
        if conn.icmp is None:
            conn.icmp = (frame, ts, icmp_type, code, reporter)
        conn.mark("I")

    def sweep(self, now: int) -> None:
        self._next_sweep = now + SWEEP_EVERY_NS
        stale = [
            (stream, c)
            for stream, c in self.live.items()
            if (c.finished and now - c.last_ts > LINGER_NS) or now - c.last_ts > IDLE_NS
        ]
        for stream, conn in stale:
            self._retire(stream, conn)

    def _evict_oldest(self) -> None:
        keep = int(self.max_flows * 0.9)
        by_age = sorted(self.live.items(), key=lambda item: item[1].last_ts)
        for stream, conn in by_age[: len(by_age) - keep]:
            self.evicted_early += 1
            self._retire(stream, conn)

    def _retire(self, stream: int, conn: Conn) -> None:
        if self.live.get(stream) is not conn:
            return
        del self.live[stream]
        for key in (
            (conn.orig, conn.orig_port, conn.resp, conn.resp_port),
            (conn.resp, conn.resp_port, conn.orig, conn.orig_port),
        ):
            if self._by_key.get(key) == stream:
                del self._by_key[key]
        self.on_retire(stream, conn)

    def close_all(self) -> None:
        for stream, conn in list(self.live.items()):
            self._retire(stream, conn)
