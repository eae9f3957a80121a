"""Link, IP and transport decoding: raw frame bytes in, calls on a sink out.

How this works: :meth:`Decoder.decode` peels the link layer (Ethernet with any
number of 802.1Q/802.1ad tags, PPPoE or MPLS, Linux cooked v1/v2, raw IP, BSD loopback), then
IPv4 or IPv6 (walking extension headers), and hands TCP segments, UDP
datagrams and ICMP/ICMPv6 destination-unreachable messages to a
:class:`PacketSink`. It builds no per-packet objects: addresses stay ``bytes``
(4 or 16 long) and payloads are ``memoryview`` slices of the frame, so the hot
path is a handful of ``struct`` reads and one method call.

Anything malformed is counted as a *weird* (Zeek's word) through
:meth:`PacketSink.on_weird` and the frame is dropped; nothing here raises on
input. IPv4 and IPv6 fragments are reassembled by a small bounded table
(:class:`FragmentTable`) so a fragmented SYN or request is still seen.
"""

from __future__ import annotations

import struct
from typing import Protocol

# Link types we decode (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
# DLT_RAW is 12 on most BSDs and 14 on OpenBSD; both mean raw IP in pcap files.
LINKTYPE_RAW_BSD = (12, 14)

SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
        *LINKTYPE_RAW_BSD,
    }
)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = frozenset({0x8847, 0x8848})

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

# IPv6 extension headers that we step over (RFC 8200 §4).
_IPV6_HOP = 0
_IPV6_ROUTING = 43
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_IPV6_NONE = 59
_IPV6_DSTOPTS = 60
_IPV6_SKIPPABLE = frozenset({_IPV6_HOP, _IPV6_ROUTING, _IPV6_DSTOPTS, 135, 139, 140})
_MAX_IPV6_EXT_HEADERS = 10

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

_U16 = struct.Struct("!H")
_TCP = struct.Struct("!HHIIBB")  # sport dport seq ack offset flags
_UDP = struct.Struct("!HH")
_IPV4_FRAG = struct.Struct("!HH")  # id, flags+offset (at byte 4)
_ICMP_QUOTED_PORTS = struct.Struct("!HHI")  # sport dport seq (first 8 bytes of TCP)


class PacketSink(Protocol):
    """Receives what the decoder found in each frame (all arguments are plain values)."""

    def on_tcp(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: memoryview,
        ttl: int,
    ) -> None: ...

    def on_udp(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        payload: memoryview,
    ) -> None: ...

    def on_unreachable(
        self,
        frame: int,
        ts: int,
        reporter: bytes,
        icmp_type: int,
        code: int,
        version: int,
        orig_src: bytes,
        orig_dst: bytes,
        orig_proto: int,
        orig_sport: int,
        orig_dport: int,
    ) -> None: ...

    def on_weird(self, frame: int, name: str) -> None: ...


class FragmentTable:
    """Reassembles IP fragments within fixed bounds.

    At most ``max_datagrams`` datagrams are pending at once and each may grow to
    ``max_bytes``; beyond that the oldest is evicted (a weird). Overlapping
    fragments keep the first copy of each byte, as most stacks do. A datagram
    of more than ``max_fragments`` pieces, or whose overlapping pieces would
    hold more than twice ``max_bytes``, is dropped: this bounds both the memory
    and the cost of checking completeness (only tried once enough bytes are held).
    """

    def __init__(
        self, max_datagrams: int = 256, max_bytes: int = 65535 + 40, max_fragments: int = 256
    ) -> None:
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self._pending: dict[tuple[bytes, bytes, int, int], _Datagram] = {}
        self.evicted = 0

    def __len__(self) -> int:
        """Datagrams still waiting for fragments."""
        return len(self._pending)

    def add(
        self,
        key: tuple[bytes, bytes, int, int],
        offset: int,
        more: bool,
        data: bytes,
    ) -> bytes | None:
        """Add one fragment's payload; return the whole payload once complete."""
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= self.max_datagrams:
                del self._pending[next(iter(self._pending))]
                self.evicted += 1
            entry = self._pending[key] = _Datagram()
        if offset + len(data) > self.max_bytes:
            del self._pending[key]
            self.evicted += 1
            return None
        if offset not in entry.pieces:
            if (
                len(entry.pieces) >= self.max_fragments
                or entry.held + len(data) > 2 * self.max_bytes
            ):
                del self._pending[key]
                self.evicted += 1
                return None
            entry.pieces[offset] = data
            entry.held += len(data)
        if not more:
            entry.total = offset + len(data)
        total = entry.total
        if total is None or entry.held < total:
            return None
        have = 0
        for off in sorted(entry.pieces):
            if off > have:
                return None
            have = max(have, off + len(entry.pieces[off]))
        if have < total:
            return None
        del self._pending[key]
        buf = bytearray(total)
        # Write later fragments first so the first copy of overlapping bytes wins.
        for off in sorted(entry.pieces, reverse=True):
            chunk = entry.pieces[off][: max(0, total - off)]
            buf[off : off + len(chunk)] = chunk
        return bytes(buf)


class _Datagram:
    __slots__ = ("held", "pieces", "total")

    def __init__(self) -> None:
        self.pieces: dict[int, bytes] = {}
        self.total: int | None = None
        self.held = 0  # bytes in pieces, overlaps counted twice


class Decoder:
    """Decodes frames of any supported link type into calls on ``sink``."""

    def __init__(self, sink: PacketSink) -> None:
        self.sink = sink
        self.fragments = FragmentTable()
        self.unsupported_linktypes: dict[int, int] = {}
        self.non_ip_frames = 0

    def decode(self, frame: int, ts: int, linktype: int, data: bytes) -> None:
        """Decode one captured frame; malformed input becomes a weird, never an exception."""
        mv = memoryview(data)
        n = len(data)
        if linktype == LINKTYPE_ETHERNET:
            if n < 14:
                self.sink.on_weird(frame, "truncated_ethernet_header")
                return
            ethertype = (data[12] << 8) | data[13]
            off = 14
            while ethertype in ETH_VLAN_TAGS:
                if n < off + 4:
                    self.sink.on_weird(frame, "truncated_vlan_tag")
                    return
                ethertype = (data[off + 2] << 8) | data[off + 3]
                off += 4
            if ethertype == ETH_PPPOE_SESSION:
                # PPPoE header (6 bytes) then the PPP protocol number (2 bytes).
                if n < off + 8:
                    self.sink.on_weird(frame, "truncated_pppoe_header")
                    return
                ppp = (data[off + 6] << 8) | data[off + 7]
                ethertype = ETH_IPV4 if ppp == 0x0021 else ETH_IPV6 if ppp == 0x0057 else -1
                off += 8
            elif ethertype in ETH_MPLS:
                # Skip the label stack to its bottom entry; the payload's version nibble says IPv4/IPv6.
                while n >= off + 4 and not data[off + 2] & 0x01:
                    off += 4
                off += 4
                if n <= off:
                    self.sink.on_weird(frame, "truncated_mpls_stack")
                    return
                version = data[off] >> 4
                ethertype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else -1
        elif linktype == LINKTYPE_LINUX_SLL2:
            if n < 20:
                self.sink.on_weird(frame, "truncated_sll2_header")
                return
            ethertype = (data[0] << 8) | data[1]
            off = 20
        elif linktype == LINKTYPE_LINUX_SLL:
            if n < 16:
                self.sink.on_weird(frame, "truncated_sll_header")
                return
            ethertype = (data[14] << 8) | data[15]
            off = 16
            while ethertype in ETH_VLAN_TAGS and n >= off + 4:
                ethertype = (data[off + 2] << 8) | data[off + 3]
                off += 4
        elif (
            linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or linktype in LINKTYPE_RAW_BSD
        ):
            if n < 1:
                self.sink.on_weird(frame, "empty_frame")
                return
            version = data[0] >> 4
            ethertype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else -1
            off = 0
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if n < 4:
                self.sink.on_weird(frame, "truncated_loopback_header")
                return
            # The address family is in the capturing host's byte order for NULL
            # and network order for LOOP; trying both is unambiguous for IP.
            family = int.from_bytes(data[:4], "little" if linktype == LINKTYPE_NULL else "big")
            if linktype == LINKTYPE_NULL and family > 0xFFFF:
                family = int.from_bytes(data[:4], "big")
            if family == 2:
                ethertype = ETH_IPV4
            elif family in (10, 23, 24, 28, 30):
                ethertype = ETH_IPV6
            else:
                ethertype = -1
            off = 4
        else:
            self.unsupported_linktypes[linktype] = self.unsupported_linktypes.get(linktype, 0) + 1
            return

        if ethertype == ETH_IPV4:
            self._ipv4(frame, ts, mv, off)
        elif ethertype == ETH_IPV6:
            self._ipv6(frame, ts, mv, off)
        else:
            self.non_ip_frames += 1

    # -- network layer -------------------------------------------------------

    def _ipv4(self, frame: int, ts: int, mv: memoryview, off: int) -> None:
        n = len(mv)
        if n < off + 20:
            self.sink.on_weird(frame, "truncated_ipv4_header")
            return
        vihl = mv[off]
        if vihl >> 4 != 4:
            self.sink.on_weird(frame, "ipv4_bad_version")
            return
        ihl = (vihl & 0x0F) * 4
        if ihl < 20:
            self.sink.on_weird(frame, "ipv4_bad_header_length")
            return
        total = (mv[off + 2] << 8) | mv[off + 3]
        end = off + total
        if total < ihl:
            if total == 0:
                # TCP segmentation offload captures carry total length 0; use the frame.
                end = n
            else:
                self.sink.on_weird(frame, "ipv4_total_length_too_small")
                return
        # The snap length may have cut the datagram short: decode what is there.
        end = min(end, n)
        if off + ihl > end:
            self.sink.on_weird(frame, "truncated_ipv4_header")
            return
        proto = mv[off + 9]
        ttl = mv[off + 8]
        src = bytes(mv[off + 12 : off + 16])
        dst = bytes(mv[off + 16 : off + 20])
        ident, fragword = _IPV4_FRAG.unpack_from(mv, off + 4)
        payload = mv[off + ihl : end]
        if fragword & 0x3FFF:
            whole = self.fragments.add(
                (src, dst, ident, proto),
                (fragword & 0x1FFF) * 8,
                bool(fragword & 0x2000),
                bytes(payload),
            )
            if whole is None:
                return
            payload = memoryview(whole)
        self._transport(frame, ts, 4, src, dst, proto, payload, ttl)

    def _ipv6(self, frame: int, ts: int, mv: memoryview, off: int) -> None:
        n = len(mv)
        if n < off + 40:
            self.sink.on_weird(frame, "truncated_ipv6_header")
            return
        if mv[off] >> 4 != 6:
            self.sink.on_weird(frame, "ipv6_bad_version")
            return
        plen = (mv[off + 4] << 8) | mv[off + 5]
        nxt = mv[off + 6]
        hlim = mv[off + 7]
        src = bytes(mv[off + 8 : off + 24])
        dst = bytes(mv[off + 24 : off + 40])
        end = off + 40 + plen if plen else n  # jumbograms carry 0 here
        end = min(end, n)
        pos = off + 40
        frag: tuple[int, bool, int] | None = None
        for _ in range(_MAX_IPV6_EXT_HEADERS + 1):  # one more to read the header after the last
            if nxt in _IPV6_SKIPPABLE:
                if pos + 2 > end:
                    self.sink.on_weird(frame, "truncated_ipv6_extension_header")
                    return
                nxt, hlen = mv[pos], (mv[pos + 1] + 1) * 8
                pos += hlen
            elif nxt == _IPV6_FRAGMENT:
                if pos + 8 > end:
                    self.sink.on_weird(frame, "truncated_ipv6_fragment_header")
                    return
                word = (mv[pos + 2] << 8) | mv[pos + 3]
                ident = int.from_bytes(mv[pos + 4 : pos + 8], "big")
                frag = (word & 0xFFF8, bool(word & 1), ident)
                nxt = mv[pos]
                pos += 8
            elif nxt == _IPV6_AH:
                if pos + 2 > end:
                    self.sink.on_weird(frame, "truncated_ipv6_extension_header")
                    return
                nxt, hlen = mv[pos], (mv[pos + 1] + 2) * 4
                pos += hlen
            else:
                break
        else:
            self.sink.on_weird(frame, "ipv6_too_many_extension_headers")
            return
        if pos > end or nxt == _IPV6_NONE:
            if pos > end:
                self.sink.on_weird(frame, "truncated_ipv6_extension_header")
            return
        payload = mv[pos:end]
        if frag is not None and (frag[0] or frag[1]):
            whole = self.fragments.add((src, dst, frag[2], nxt), frag[0], frag[1], bytes(payload))
            if whole is None:
                return
            payload = memoryview(whole)
        self._transport(frame, ts, 6, src, dst, nxt, payload, hlim)

    # -- transport layer -----------------------------------------------------

    def _transport(
        self,
        frame: int,
        ts: int,
        version: int,
        src: bytes,
        dst: bytes,
        proto: int,
        seg: memoryview,
        ttl: int,
    ) -> None:
        if proto == PROTO_TCP:
            if len(seg) < 20:
                self.sink.on_weird(frame, "truncated_tcp_header")
                return
            sport, dport, seq, ack, doff, flags = _TCP.unpack_from(seg)
            hlen = (doff >> 4) * 4
            if hlen < 20 or hlen > len(seg):
                self.sink.on_weird(frame, "tcp_bad_data_offset")
                return
            self.sink.on_tcp(frame, ts, src, dst, sport, dport, seq, ack, flags, seg[hlen:], ttl)
        elif proto == PROTO_UDP:
            if len(seg) < 8:
                self.sink.on_weird(frame, "truncated_udp_header")
                return
            sport, dport = _UDP.unpack_from(seg)
            self.sink.on_udp(frame, ts, src, dst, sport, dport, seg[8:])
        elif (proto == PROTO_ICMP and version == 4) or (proto == PROTO_ICMPV6 and version == 6):
            self._icmp(frame, ts, version, src, seg)

    def _icmp(self, frame: int, ts: int, version: int, src: bytes, msg: memoryview) -> None:
        if len(msg) < 8:
            return
        icmp_type, code = msg[0], msg[1]
        # Destination unreachable: type 3 (ICMP) or 1 (ICMPv6); the quoted header follows.
        if (version == 4 and icmp_type != 3) or (version == 6 and icmp_type != 1):
            return
        quoted = msg[8:]
        if version == 4:
            if len(quoted) < 20 or quoted[0] >> 4 != 4:
                self.sink.on_weird(frame, "icmp_unreachable_bad_quote")
                return
            qihl = (quoted[0] & 0x0F) * 4
            if qihl < 20:
                self.sink.on_weird(frame, "icmp_unreachable_bad_quote")
                return
            qproto = quoted[9]
            qsrc, qdst = bytes(quoted[12:16]), bytes(quoted[16:20])
            l4 = qihl
        else:
            if len(quoted) < 40 or quoted[0] >> 4 != 6:
                self.sink.on_weird(frame, "icmp_unreachable_bad_quote")
                return
            qproto = quoted[6]
            qsrc, qdst = bytes(quoted[8:24]), bytes(quoted[24:40])
            l4 = 40
            for _ in range(_MAX_IPV6_EXT_HEADERS + 1):
                if qproto in _IPV6_SKIPPABLE and l4 + 2 <= len(quoted):
                    qproto, l4 = quoted[l4], l4 + (quoted[l4 + 1] + 1) * 8
                else:
                    break
        if len(quoted) < l4 + 8:
            self.sink.on_weird(frame, "icmp_unreachable_bad_quote")
            return
        qsport, qdport, _ = _ICMP_QUOTED_PORTS.unpack_from(quoted, l4)
        self.sink.on_unreachable(
            frame, ts, src, icmp_type, code, version, qsrc, qdst, qproto, qsport, qdport
        )
