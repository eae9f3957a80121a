"""What the tshark engine asks Wireshark for, and how one answer line is read.

tshark runs with ``-T ek`` and one ``-e`` per field below: every packet that
passes :data:`DISPLAY_FILTER` becomes one JSON line whose ``layers`` map a field
name (dots turned into underscores) to the list of its occurrences in that
packet, in dissection order. A field absent from a packet is absent from the
map. An ICMP error quotes the offending IP header, so such a packet holds two
``ip.src``: the reporter's first, the quoted one last.

The display filter keeps only what the detectors read: every SYN, FIN and RST;
the first frame of each TCP stream (``tcp.time_relative == 0``) and the first
payload of each direction, so a connection joined midstream is still counted;
HTTP and HTTP/2 messages, plus the first :data:`BODY_WINDOW` bytes of each
direction of every stream that is not TLS, where token responses and error
bodies that span several segments continue (tshark does not always mark those
segments as HTTP; a blob upload's gigabytes are never printed); TLS
ClientHellos (to say what stayed encrypted); DNS; ICMP and ICMPv6 destination
unreachable; and the HTTP "continuations" tshark reassembled from several
segments, where it may have swallowed a message (see
:mod:`analyzer.engines.httpmsgs`).
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache

BODY_WINDOW = 65536  # bytes of each stream direction whose HTTP continuation segments are read

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq",
    "tcp.seq_raw",
    "tcp.len",
    "tcp.payload",
    "tcp.segment.count",
    "tcp.reassembled.data",
    "udp.srcport",
    "udp.dstport",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    "tls.record.content_type",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "http.request.method",
    "http.request.uri",
    "http.host",
    "http.authorization",
    "http.response.code",
    "http.response.phrase",
    "http.www_authenticate",
    "http.server",
    "http.location",
    "http.response.line",
    "http.content_length_header",
    "http.transfer_encoding",
    "http.request_in",
    "http.file_data",
    "http2.type",
    "http2.streamid",
    "http2.length",
    "http2.flags.end_stream",
    "http2.header.count",
    "http2.header.name",
    "http2.header.value",
    "http2.data.data",
    "dns.id",
    "dns.flags.response",
    "dns.flags.rcode",
    "dns.qry.name",
    "dns.qry.type",
    "dns.count.answers",
    "dns.resp.name",
    "dns.resp.type",
    "dns.resp.class",
    "dns.a",
    "dns.aaaa",
    "dns.cname",
)

DISPLAY_FILTER = " || ".join(
    (
        "tcp.flags.syn == 1",
        "tcp.flags.fin == 1",
        "tcp.flags.reset == 1",
        "tcp.time_relative == 0",
        "(tcp.len > 0 && tcp.seq <= 1)",
        "http.request",
        "http.response",
        f"(tcp.len > 0 && tcp.seq < {BODY_WINDOW} && !tls)",
        "(http && tcp.segment.count > 1 && !http.request && !http.response)",
        "http2.type == 1",
        f"(http2.type == 0 && tcp.seq < {BODY_WINDOW})",
        "tls.handshake.type == 1",
        "dns",
        "icmp.type == 3",
        "icmpv6.type == 1",
    )
)

Layers = dict[str, list[str]]


def parse_line(line: bytes) -> Layers | None:
    """One ``-T ek`` line: the packet's fields, or ``None`` for an index line or noise."""
    if not line.startswith(b'{"timestamp"'):
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    return layers if isinstance(layers, dict) else None


def first(layers: Layers, key: str) -> str | None:
    values = layers.get(key)
    return values[0] if values else None


def last(layers: Layers, key: str) -> str | None:
    values = layers.get(key)
    return values[-1] if values else None


def to_int(text: str | None, default: int = 0) -> int:
    if text is None:
        return default
    try:
        return int(text, 0) if text.startswith("0x") else int(text)
    except ValueError:
        return default


def flag(text: str | None) -> bool:
    return text in ("1", "True", "true")


def epoch_ns(text: str) -> int:
    """``"1655957563.472529000"`` as integer nanoseconds, without float rounding."""
    secs, _, frac = text.partition(".")
    return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])


@lru_cache(maxsize=65536)
def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def hex_bytes(text: str | None) -> bytes:
    """``tcp.payload``/``http2.data.data`` as bytes (tshark prints them as hex, with or without colons)."""
    if not text:
        return b""
    try:
        return bytes.fromhex(text.replace(":", ""))
    except ValueError:
        return b""


def addresses(layers: Layers) -> tuple[list[str], list[str], list[str]]:
    """(sources, destinations, TTLs or hop limits) of every IP header, outermost first."""
    if "ipv6_src" in layers and "ip_src" not in layers:
        return layers["ipv6_src"], layers.get("ipv6_dst", []), layers.get("ipv6_hlim", [])
    if "ip_src" in layers and "ipv6_src" not in layers:
        return layers["ip_src"], layers.get("ip_dst", []), layers.get("ip_ttl", [])
    # Both families (a tunnel, or an ICMPv6 error quoting IPv4): the inner header decides.
    v4, v6 = layers.get("ip_src", []), layers.get("ipv6_src", [])
    if len(v6) >= len(v4):
        return v6, layers.get("ipv6_dst", []), layers.get("ipv6_hlim", [])
    return v4, layers.get("ip_dst", []), layers.get("ip_ttl", [])
