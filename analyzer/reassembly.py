"""Per-direction TCP stream reassembly for what HTTP needs.

How this works: a :class:`Stream` knows the next sequence number it expects.
A segment that starts there is handed straight to the consumer (the fast path:
no copy, no buffering). A segment that starts earlier is a retransmission or
an overlap: the bytes already delivered are trimmed and only new bytes go on.
A segment that starts later waits in a small out-of-order store until the hole
before it is filled. When the store exceeds its bounds (bytes or segments), or
the connection is retired (its linger time after FIN or RST has passed, or the capture ends), the hole is declared a *gap*:
the consumer is told how many bytes are missing (never zero-filled) and
delivery resumes at the first stored segment.

Sequence numbers are compared modulo 2**32, so wrap-around is invisible.
"""

from __future__ import annotations

from typing import Protocol

_MASK = 0xFFFFFFFF
_HALF = 0x80000000


class StreamConsumer(Protocol):
    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None: ...

    def gap(self, nbytes: int, frame: int) -> None: ...

    def midstream(self, frame: int) -> None:
        """The stream is joined at an unknown point: its first bytes may be mid-message."""


class Stream:
    """One direction of a TCP connection."""

    __slots__ = (
        "bytes_delivered",
        "consumer",
        "gaps",
        "max_ooo_bytes",
        "max_ooo_segments",
        "next_seq",
        "ooo",
        "ooo_bytes",
        "overlaps",
        "retransmitted",
    )

    def __init__(
        self, consumer: StreamConsumer, max_ooo_bytes: int = 1 << 20, max_ooo_segments: int = 1024
    ) -> None:
        self.consumer = consumer
        self.next_seq: int | None = None
        # seq -> (payload, frame, ts); small by construction (bounded below).
        self.ooo: dict[int, tuple[bytes, int, int]] = {}
        self.ooo_bytes = 0
        self.max_ooo_bytes = max_ooo_bytes
        self.max_ooo_segments = max_ooo_segments
        self.bytes_delivered = 0
        self.gaps = 0
        self.retransmitted = 0
        self.overlaps = 0

    def syn(self, isn: int) -> None:
        """The direction's SYN: data starts at ISN + 1."""
        if self.next_seq is None:
            self.next_seq = (isn + 1) & _MASK

    def segment(self, seq: int, payload: memoryview, frame: int, ts: int) -> None:
        nxt = self.next_seq
        if nxt is None:
            # Connection already open when the capture began: start here.
            nxt = self.next_seq = seq
            self.consumer.midstream(frame)
        if seq == nxt and not self.ooo:
            # The fast path: the segment every healthy stream is made of.
            size = len(payload)
            self.next_seq = (seq + size) & _MASK
            self.bytes_delivered += size
            self.consumer.data(payload, frame, ts)
            return
        ahead = (seq - nxt) & _MASK
        if ahead and ahead < _HALF:
            self._store(seq, payload, frame, ts)
            if self.ooo_bytes > self.max_ooo_bytes or len(self.ooo) > self.max_ooo_segments:
                self.flush(frame)
            return
        self._deliver(seq, payload, frame, ts)
        if self.next_seq != nxt:
            # Only new bytes can make stored segments contiguous; a pure retransmission
            # must not rescan the store (a flood of them would cost store size each).
            self._drain()

    def _deliver(self, seq: int, payload: memoryview | bytes, frame: int, ts: int) -> None:
        """Deliver a segment that starts at or before ``next_seq``."""
        nxt = self.next_seq
        assert nxt is not None
        behind = (nxt - seq) & _MASK
        if behind:
            if behind >= len(payload):
                self.retransmitted += 1
                return
            self.overlaps += 1
            payload = payload[behind:]
        self.next_seq = (nxt + len(payload)) & _MASK
        self.bytes_delivered += len(payload)
        self.consumer.data(payload, frame, ts)

    def _store(self, seq: int, payload: memoryview, frame: int, ts: int) -> None:
        old = self.ooo.get(seq)
        if old is not None:
            if len(old[0]) >= len(payload):
                self.retransmitted += 1
                return
            self.ooo_bytes -= len(old[0])
        self.ooo[seq] = (bytes(payload), frame, ts)
        self.ooo_bytes += len(payload)

    def _drain(self) -> None:
        """Deliver stored segments that have become contiguous (or overlap what was sent)."""
        if not self.ooo:
            return
        nxt = self.next_seq
        assert nxt is not None
        # One scan in the common case (nothing ready); one sort when something is, so
        # draining n stored segments costs O(n log n), not O(n) scans of the store each.
        if all(0 < (s - nxt) & _MASK < _HALF for s in self.ooo):
            return
        self._deliver_stored(nxt)

    def _deliver_stored(self, base: int) -> None:
        """Deliver stored segments in sequence order from ``base`` until the next hole."""
        for seq in sorted(self.ooo, key=lambda s: (s - base + _HALF) & _MASK):
            nxt = self.next_seq
            assert nxt is not None
            if 0 < (seq - nxt) & _MASK < _HALF:
                return
            payload, frame, ts = self.ooo.pop(seq)
            self.ooo_bytes -= len(payload)
            self._deliver(seq, payload, frame, ts)

    def flush(self, frame: int) -> None:
        """Give up waiting for holes: report each as a gap and deliver what is stored."""
        if not self.ooo:
            return
        base = self.next_seq
        assert base is not None
        for seq in sorted(self.ooo, key=lambda s: (s - base + _HALF) & _MASK):
            nxt = self.next_seq
            assert nxt is not None
            missing = (seq - nxt) & _MASK
            if missing and missing < _HALF:
                self.gaps += 1
                self.consumer.gap(missing, frame)
                self.next_seq = seq
            payload, seg_frame, ts = self.ooo.pop(seq)
            self.ooo_bytes -= len(payload)
            self._deliver(seq, payload, seg_frame, ts)
