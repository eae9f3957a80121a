"""Link layers and capture-file writers (pcap, pcapng, gzip), all byte-exact.

The files are written with ``struct`` rather than scapy's writers so that the
headers (snaplen, options, two interfaces with different ``if_tsresol``) are
under our control; the link-layer headers themselves are built with scapy.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from _wire import NS, Capture, Entry
from scapy.compat import raw
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
PACKET_HOST = 0
PACKET_OUTGOING = 4
ARPHRD_ETHER = 1
SNAPLEN = 262144

Link = Callable[[Entry], bytes]


def _pad(frame: bytes, entry: Entry, minimum: int = 60) -> bytes:
    # Frames we receive were padded to the Ethernet minimum by the sender;
    # frames we send are captured before the NIC pads them.
    if entry.outgoing or len(frame) >= minimum:
        return frame
    return frame + b"\0" * (minimum - len(frame))


def ethernet(entry: Entry) -> bytes:
    frame = Ether(dst=entry.dst.mac, src=entry.src.mac, type=entry.ethertype) / Raw(entry.data())
    return _pad(raw(frame), entry)


def vlan(c_tag: int, s_tag: int, qinq: Callable[[Entry], bool]) -> Link:
    """802.1Q tag ``c_tag`` on every frame; an outer 802.1ad ``s_tag`` where ``qinq``."""

    def link(entry: Entry) -> bytes:
        inner = Dot1Q(vlan=c_tag, type=entry.ethertype) / Raw(entry.data())
        if qinq(entry):
            eth = Ether(dst=entry.dst.mac, src=entry.src.mac, type=0x88A8)
            frame = eth / Dot1AD(vlan=s_tag, type=0x8100) / inner
        else:
            frame = Ether(dst=entry.dst.mac, src=entry.src.mac, type=0x8100) / inner
        return _pad(raw(frame), entry)

    return link


def sll2(ifindex: int) -> Link:
    """``tcpdump -i any`` on Linux (LINKTYPE_LINUX_SLL2)."""

    def link(entry: Entry) -> bytes:
        header = CookedLinuxV2(
            proto=entry.ethertype,
            ifindex=ifindex,
            lladdrtype=ARPHRD_ETHER,
            pkttype=PACKET_OUTGOING if entry.outgoing else PACKET_HOST,
            lladdrlen=6,
            src=entry.src.mac + b"\0\0",
        )
        return raw(header / Raw(entry.data()))

    return link


def sll1(entry: Entry) -> bytes:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL)."""
    header = CookedLinux(
        pkttype=PACKET_OUTGOING if entry.outgoing else PACKET_HOST,
        lladdrtype=ARPHRD_ETHER,
        lladdrlen=6,
        src=entry.src.mac + b"\0\0",
        proto=entry.ethertype,
    )
    return raw(header / Raw(entry.data()))


def pcap_bytes(cap: Capture, linktype: int, link: Link) -> bytes:
    """Classic pcap, little-endian, microsecond timestamps."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype)]
    for entry in cap.frames():
        frame = link(entry)
        t = cap.epoch_ns + entry.t
        out.append(struct.pack("<IIII", t // NS, t % NS // 1000, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


@dataclass(frozen=True)
class Interface:
    linktype: int
    link: Link
    name: str
    tsresol: int  # decimal exponent: 6 → µs, 9 → ns
    description: str = ""
    capture_filter: str = ""


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def pcapng_bytes(cap: Capture, interfaces: Iterable[Interface], application: str) -> bytes:
    """One section; an IDB per interface; EPBs in time order."""
    ifaces = list(interfaces)
    shb_opts = _option(4, application.encode()) + _option(0, b"")
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)]
    for iface in ifaces:
        opts = _option(2, iface.name.encode())
        if iface.description:
            opts += _option(3, iface.description.encode())
        if iface.capture_filter:
            opts += _option(11, b"\0" + iface.capture_filter.encode())
        opts += _option(9, bytes([iface.tsresol])) + _option(0, b"")
        out.append(_block(1, struct.pack("<HHI", iface.linktype, 0, SNAPLEN) + opts))
    for entry in cap.frames():
        iface = ifaces[entry.iface]
        frame = iface.link(entry)
        ticks = (cap.epoch_ns + entry.t) // 10 ** (9 - iface.tsresol)
        head = struct.pack(
            "<IIIII", entry.iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
        )
        out.append(_block(6, head + frame + b"\0" * (-len(frame) % 4)))
    return b"".join(out)


def gzip_bytes(data: bytes, name: str) -> bytes:
    """gzip with mtime 0 and a fixed FNAME, so the header never changes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()
