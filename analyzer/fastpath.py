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

What a taken frame costs is what CPython makes of the loop body, so the body
is written for that (measured with callgrind instruction counts on the
benchmark capture: a quarter fewer than frame-by-frame byte reads): one
``struct`` unpack reads every header field the decision needs; a segment inside
an HTTP body of known length only lowers the parser's ``countdown`` (what
``HttpStreamParser.feed`` would do first, without the two calls); the
analyzer's frame count and last time are kept in locals and written back
before each call to the general path and at the end.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING

from analyzer.decode import TCP_FIN, TCP_RST, TCP_SYN
from analyzer.exchanges import HttpSide

if TYPE_CHECKING:
    from analyzer.pipeline import Analyzer

_MASK = 0xFFFFFFFF
_SPECIAL = TCP_SYN | TCP_FIN | TCP_RST
_ETHERNET = 1
_SLL2 = 276
# One unpack per frame for everything the decision needs, from the network
# header on: far cheaper in CPython than a dozen separate byte reads.
# IPv4: version/IHL, total length, flags/fragment offset, protocol, addresses,
# then TCP ports, sequence number, data offset and flags.
_IPV4_TCP = struct.Struct("!BxH2xHxB2x4s4sHHI4xBB")
# IPv6: version (high nibble), payload length, next header, addresses, then TCP.
_IPV6_TCP = struct.Struct("!B3xHBx16s16sHHI4xBB")


def feed_frames(analyzer: Analyzer, frames: Iterable[tuple[int, int, int, bytes, int]]) -> None:
    """Feed every frame of ``frames``; equivalent to ``for f in frames: analyzer.feed(f)``."""
    flows = analyzer.flows
    by_key = flows.by_key
    feed = analyzer.feed
    linktypes = analyzer.linktypes
    ipv4_tcp = _IPV4_TCP.unpack_from
    ipv6_tcp = _IPV6_TCP.unpack_from
    http_side = HttpSide
    # Only the general path moves the next sweep, so a local copy stays right
    # until the next call to it. The analyzer's frame count and last time are
    # brought up to date before every such call and at the end: nothing the
    # fast path calls reads them, and ``frames`` must not either while it is
    # consumed (the runner and sniff read them between calls).
    next_sweep = flows.next_sweep_ts
    pending = 0  # fast frames not yet counted in analyzer.frames
    last_ts = 0
    try:
        for frame in frames:
            number, ts, linktype, data, _wire = frame
            # Link layer: where the network header starts, for the two common cases.
            if linktype == _ETHERNET and linktype in linktypes:
                off = 14
                ethertype = data[12:14]
            elif linktype == _SLL2 and linktype in linktypes:
                off = 20
                ethertype = data[0:2]
            else:
                ethertype = b""
            n = len(data)
            if ethertype == b"\x08\x00" and n >= off + 40:
                # IPv4 without options, TCP, not a fragment.
                vihl, length, frag, proto, src, dst, sport, dport, seq, hlen, flags = ipv4_tcp(
                    data, off
                )
                end = off + length
                fast = (
                    vihl == 0x45
                    and proto == 6
                    and not frag & 0x3FFF
                    and off + 40 <= end <= n
                    and not flags & _SPECIAL
                )
                tcp = off + 20
            elif ethertype == b"\x86\xdd" and n >= off + 60:
                # IPv6 without extension headers, TCP.
                vtc, length, proto, src, dst, sport, dport, seq, hlen, flags = ipv6_tcp(data, off)
                end = off + 40 + length
                fast = (
                    vtc >> 4 == 6  # else the general path's ipv6_bad_version weird
                    and proto == 6
                    and off + 60 <= end <= n
                    and not flags & _SPECIAL
                )
                tcp = off + 40
            else:
                fast = False
            conn = by_key.get((src, sport, dst, dport)) if fast else None
            if conn is not None and next_sweep is not None and ts < next_sweep:
                start = tcp + (hlen >> 4) * 4
                size = end - start
                if start < tcp + 20 or size < 0:
                    pass  # a bad data offset: the general path reports it
                elif not size:  # a pure ACK
                    pending += 1
                    last_ts = ts
                    conn.last_frame = number
                    conn.last_ts = ts
                    continue
                else:
                    from_orig = sport == conn.orig_port and src == conn.orig
                    if from_orig:
                        stream = conn.streams[0] if conn.orig_bytes else None
                    else:
                        stream = conn.streams[1] if conn.resp_bytes else None
                    if stream is not None and not stream.ooo and stream.next_seq == seq:
                        # What the general path does for an in-order segment, step by step.
                        pending += 1
                        last_ts = ts
                        conn.last_frame = number
                        conn.last_ts = ts
                        if from_orig:
                            conn.orig_bytes += size
                        else:
                            conn.resp_bytes += size
                        stream.next_seq = (seq + size) & _MASK
                        stream.bytes_delivered += size
                        consumer = stream.consumer
                        if type(consumer) is http_side:
                            # Inside a body of known length the parser only counts.
                            parser = consumer.parser
                            rem = parser.countdown - size
                            if rem > 0:
                                parser.countdown = rem
                                continue
                        consumer.data(memoryview(data)[start:end], number, ts)
                        continue
            if pending:
                analyzer.frames += pending
                analyzer.last_ts = last_ts
                pending = 0
            feed(frame)
            next_sweep = flows.next_sweep_ts
    finally:
        if pending:
            analyzer.frames += pending
            analyzer.last_ts = last_ts
