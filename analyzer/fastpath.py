"""The fast path: most frames of a real push decided in a few byte reads.

How this works: a capture of a push is mostly two kinds of frame on
connections the flow table already knows: pure ACKs, and full-size data
segments that arrive in order (blob bodies). Neither can change what the
detectors see beyond a byte counter, so :func:`feed_frames` handles them
inline — Ethernet or Linux cooked v2, IPv4 without options or IPv6 without
extension headers, TCP without SYN, FIN or RST — and hands every other frame to
:meth:`Analyzer.feed` (the general path through the decoder and flow table).

The invariant is equivalence: for any capture, ``feed_frames`` leaves the
analyzer in exactly the state that feeding each frame to ``Analyzer.feed``
would (``tests/test_fastpath.py`` checks this on every capture we have). So
the fast path only ever does what the general path would do for the frames it
takes, and takes a frame only when every condition below holds; when in doubt
it falls back:

- the connection exists and its direction has carried data before (so no
  history letter or first-byte bookkeeping is due),
- the segment starts exactly where the stream expects and nothing waits out of
  order (so reassembly would deliver it as is),
- the capture's time has not reached the flow table's next sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from analyzer.decode import TCP_FIN, TCP_RST, TCP_SYN

if TYPE_CHECKING:
    from analyzer.pipeline import Analyzer

_MASK = 0xFFFFFFFF
_SPECIAL = TCP_SYN | TCP_FIN | TCP_RST
_ETHERNET = 1
_SLL2 = 276


def feed_frames(analyzer: Analyzer, frames: Iterable[tuple[int, int, int, bytes, int]]) -> None:
    """Feed every frame of ``frames``; equivalent to ``for f in frames: analyzer.feed(f)``."""
    flows = analyzer.flows
    by_key = flows.by_key
    slow = analyzer.feed
    linktypes = analyzer.linktypes
    from_bytes = int.from_bytes
    for frame in frames:
        number, ts, linktype, data, _wire = frame
        # Link layer: where the network header starts, for the two common cases.
        if linktype not in linktypes:
            slow(frame)
            continue
        if linktype == _ETHERNET:
            off = 14
            ethertype = data[12:14]
        elif linktype == _SLL2:
            off = 20
            ethertype = data[0:2]
        else:
            slow(frame)
            continue
        n = len(data)
        if ethertype == b"\x08\x00" and n >= off + 40 and data[off] == 0x45:
            # IPv4, no options, TCP, not a fragment.
            if data[off + 9] != 6 or data[off + 6] & 0x3F or data[off + 7]:
                slow(frame)
                continue
            end = off + ((data[off + 2] << 8) | data[off + 3])
            if end > n or end < off + 40:
                slow(frame)
                continue
            src = data[off + 12 : off + 16]
            dst = data[off + 16 : off + 20]
            tcp = off + 20
        elif (
            ethertype == b"\x86\xdd"
            and n >= off + 60
            and data[off] >> 4 == 6  # else the general path's ipv6_bad_version weird
            and data[off + 6] == 6
        ):
            end = off + 40 + ((data[off + 4] << 8) | data[off + 5])
            if end > n or end < off + 60:
                slow(frame)
                continue
            src = data[off + 8 : off + 24]
            dst = data[off + 24 : off + 40]
            tcp = off + 40
        else:
            slow(frame)
            continue
        flags = data[tcp + 13]
        if flags & _SPECIAL:
            slow(frame)
            continue
        sport = (data[tcp] << 8) | data[tcp + 1]
        dport = (data[tcp + 2] << 8) | data[tcp + 3]
        conn = by_key.get((src, sport, dst, dport))
        next_sweep = flows.next_sweep_ts
        if conn is None or next_sweep is None or ts >= next_sweep:
            slow(frame)
            continue
        start = tcp + (data[tcp + 12] >> 4) * 4
        size = end - start
        if start < tcp + 20 or size < 0:
            slow(frame)
            continue
        from_orig = sport == conn.orig_port and src == conn.orig
        if size:
            if from_orig:
                if not conn.orig_bytes:
                    slow(frame)
                    continue
                stream = conn.streams[0]
            else:
                if not conn.resp_bytes:
                    slow(frame)
                    continue
                stream = conn.streams[1]
            seq = from_bytes(data[tcp + 4 : tcp + 8], "big")
            if stream is None or stream.ooo or stream.next_seq != seq:
                slow(frame)
                continue
            # What the general path does for an in-order segment, step by step.
            analyzer.frames += 1
            analyzer.last_ts = ts
            conn.last_frame = number
            conn.last_ts = ts
            if from_orig:
                conn.orig_bytes += size
            else:
                conn.resp_bytes += size
            stream.next_seq = (seq + size) & _MASK
            stream.bytes_delivered += size
            stream.consumer.data(memoryview(data)[start:end], number, ts)
        else:
            analyzer.frames += 1
            analyzer.last_ts = ts
            conn.last_frame = number
            conn.last_ts = ts
