"""Live capture on Linux: raw frames from an AF_PACKET socket, as libpcap would give them.

How this works: scapy opens the socket and compiles the BPF filter (through
libpcap), and nothing more: packets are never dissected by scapy. We read
each packet's bytes with ``recvmsg`` ourselves, to get what scapy's
``recv_raw`` rounds or drops: the kernel's capture time in integer
nanoseconds (``SO_TIMESTAMPNS``), the packet's length on the wire and its VLAN
tag (``PACKET_AUXDATA``), and its direction (``sockaddr_ll``). Two modes, as
libpcap has them:

- a named Ethernet or loopback interface: scapy's ``L2ListenSocket``, link
  type Ethernet (1). On a loopback device every packet is seen twice (going
  out and coming in), so outgoing copies are skipped, as libpcap does.
- ``any``, or an interface without Ethernet headers (tun, WireGuard, PPP): a
  *cooked* ``SOCK_DGRAM`` socket, whose packets start at the network header;
  we prepend a Linux cooked v2 header (link type 276, what ``tcpdump -i any``
  writes) built from the socket address. The filter is compiled for raw IP,
  which is what the kernel runs it on for such a socket.

The kernel's drop counter (``PACKET_STATISTICS``) is read from the same socket.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from scapy.arch.common import compile_filter as scapy_compile_filter
from scapy.arch.common import free_filter
from scapy.arch.linux import L2ListenSocket  # also fills conf.ifaces from netlink
from scapy.config import conf
from scapy.error import Scapy_Exception
from scapy.libs.structures import sock_fprog

from analyzer.errors import AnalyzerError, UsageError

logging.getLogger("scapy").setLevel(logging.ERROR)  # its warnings are not ours to show

LINKTYPE_ETHERNET: Final = 1
LINKTYPE_LINUX_SLL2: Final = 276
DLT_EN10MB: Final = 1
DLT_RAW: Final = 12  # what libpcap compiles raw-IP filters for (written as 101 in files)
SNAPLEN: Final = 262_144
RCVBUF: Final = 8 << 20
ANY: Final = "any"

_SOL_PACKET: Final = 263
_PACKET_AUXDATA: Final = 8
_PACKET_STATISTICS: Final = 6
_SO_TIMESTAMPNS: Final = 35
_SO_RCVBUFFORCE: Final = 33
_SO_ATTACH_FILTER: Final = 26
_ETH_P_ALL: Final = 3
_ARPHRD_ETHER: Final = 1
_ARPHRD_LOOPBACK: Final = 772
_CAP_NET_RAW: Final = 13
_TP_STATUS_VLAN_VALID: Final = 0x10
_TP_STATUS_VLAN_TPID_VALID: Final = 0x40
_AUXDATA = struct.Struct("=IIIHHHH")  # status len snaplen mac net vlan_tci vlan_tpid
_STATS = struct.Struct("=II")  # packets drops
_SLL2 = struct.Struct("!HHIHBB8s")
_ANC_SIZE: Final = socket.CMSG_SPACE(_AUXDATA.size) + socket.CMSG_SPACE(16)

SETCAP_LINE: Final = "sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which python3))"

Frame = tuple[int, int, int, bytes, int]  # number, ts_ns, linktype, data, wire_len


def default_filter(ports: Sequence[int]) -> str:
    """The registry port(s), every TCP SYN and RST (IPv4 and IPv6), ICMP unreachables, DNS."""
    registry = " or ".join(f"tcp port {p}" for p in dict.fromkeys(ports))
    return (
        f"{registry} or (tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)"
        # tcp[...] reads IPv4 only: SYN/RST over IPv6 without extension headers.
        " or (ip6 and ip6[6] == 6 and (ip6[53] & 0x06) != 0)"
        " or icmp[icmptype] == icmp-unreach or (icmp6 and ip6[40] == 1) or port 53"
    )


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    name: str
    index: int
    up: bool
    loopback: bool
    arphrd: int | None
    mac: str | None = None
    addresses: tuple[str, ...] = ()

    @property
    def cooked(self) -> bool:
        """Captured through a cooked socket (no Ethernet header on the wire)."""
        return self.arphrd not in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK)


ANY_INTERFACE: Final = InterfaceInfo(ANY, 0, True, False, None)


def _sys_int(name: str, attr: str) -> int | None:
    try:
        with open(f"/sys/class/net/{name}/{attr}", encoding="ascii") as fh:
            return int(fh.read().strip(), 0)
    except (OSError, ValueError):
        return None


def resolve_interface(name: str) -> InterfaceInfo:
    """The interface called ``name`` (or ``any``); UsageError naming the known ones if absent."""
    if name == ANY:
        if not sys.platform.startswith("linux"):
            raise UsageError("the `any` interface exists on Linux only", hint="give -i IFACE")
        return ANY_INTERFACE
    try:
        index = socket.if_nametoindex(name)
    except (OSError, ValueError):
        names = ", ".join(n for _, n in _if_nameindex()) or "none found"
        raise UsageError(
            f"no such interface: {name!r}",
            hint=f"known interfaces: {names}, or `any`; `pushcap interfaces` lists them with "
            "their addresses",
        ) from None
    flags = _sys_int(name, "flags")
    arphrd = _sys_int(name, "type")
    return InterfaceInfo(
        name,
        index,
        up=flags is None or bool(flags & 0x1),
        loopback=arphrd == _ARPHRD_LOOPBACK,
        arphrd=arphrd,
    )


def _if_nameindex() -> list[tuple[int, str]]:
    try:
        return socket.if_nameindex()
    except OSError:
        return []


def list_interfaces() -> list[InterfaceInfo]:
    """Every interface with its addresses: scapy's netlink view, else the kernel's name list."""
    try:
        found = [
            InterfaceInfo(
                iface.name,
                int(iface.index),
                up=bool(int(iface.flags) & 0x1),
                loopback=int(iface.type) == _ARPHRD_LOOPBACK,
                arphrd=int(iface.type),
                mac=str(iface.mac) if iface.mac else None,
                addresses=tuple(iface.ips.get(4, [])) + tuple(iface.ips.get(6, [])),
            )
            for iface in conf.ifaces.values()
        ]
    except Exception:  # any failure of scapy's netlink reader: fall back to the names
        found = []
    if not found:
        found = [resolve_interface(name) for _, name in _if_nameindex()]
    return sorted(found, key=lambda i: i.index)


def _effective_caps() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def missing_privilege() -> str | None:
    """What the process lacks to open a packet socket (``root`` or ``CAP_NET_RAW``), or None."""
    caps = _effective_caps()
    allowed = bool(caps & (1 << _CAP_NET_RAW)) if caps is not None else os.geteuid() == 0
    if allowed:
        return None
    return "CAP_NET_RAW" if os.geteuid() == 0 else "root"


def privilege_error(missing: str) -> AnalyzerError:
    if missing == "CAP_NET_RAW":
        return AnalyzerError(
            "capturing packets needs the CAP_NET_RAW capability, which this root process lacks",
            hint="in a container, start it with `--cap-add NET_RAW --cap-add NET_ADMIN`, or run "
            "pushcap on the host; or capture with `tcpdump -w FILE` where you can and run "
            "`pushcap analyze FILE`",
        )
    return AnalyzerError(
        "capturing packets needs root, or the CAP_NET_RAW and CAP_NET_ADMIN capabilities: "
        "run `sudo pushcap sniff …`",
        hint="or let Python capture without sudo (once, as root; every program run by that "
        f"Python gets the capability):\n  {SETCAP_LINE}\n  "
        f"(this pushcap runs {os.path.realpath(sys.executable)})",
    )


def compile_filter(expr: str, iface: InterfaceInfo) -> Any:
    """Compile ``expr`` for the link type the socket will see; UsageError if it does not compile."""
    try:
        return scapy_compile_filter(expr, linktype=DLT_RAW if iface.cooked else DLT_EN10MB)
    except ImportError as exc:
        raise AnalyzerError(
            "compiling the capture filter needs libpcap, which was not found",
            hint="install it: `sudo apt-get install libpcap0.8` (it comes with tcpdump)",
        ) from exc
    except Scapy_Exception as exc:
        detail = str(exc).rsplit("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        raise UsageError(
            f"the capture filter does not compile: {detail}: {expr!r}",
            hint="see `man pcap-filter` for the syntax; `tcpdump -d 'FILTER'` checks a filter",
        ) from None


@dataclass(slots=True)
class LiveCapture:
    """An open packet socket; :meth:`read` returns the frames that arrived."""

    iface: InterfaceInfo
    sock: socket.socket
    linktype: int
    closer: Any = None  # scapy's socket object, closed with ours
    frames: int = 0
    drops: int = 0
    stats_known: bool = True
    error: str | None = None
    _buf: bytearray = field(default_factory=lambda: bytearray(SNAPLEN))
    _ifindex: dict[str, int] = field(default_factory=dict)

    def fileno(self) -> int:
        return self.sock.fileno()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a packet; True if one is ready."""
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
        except (OSError, ValueError):
            return False
        return bool(ready)

    def read(self, limit: int = 4096) -> list[Frame]:
        """The packets ready now (up to ``limit``), never blocking."""
        out: list[Frame] = []
        while len(out) < limit and self.error is None:
            try:
                size, anc, _flags, addr = self.sock.recvmsg_into([self._buf], _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    break
                self.error = f"the capture stopped: {exc.strerror or exc}"
                break
            frame = self._frame(size, anc, addr)
            if frame is not None:
                out.append(frame)
        return out

    def _frame(self, size: int, anc: list[tuple[int, int, bytes]], addr: Any) -> Frame | None:
        ifname, proto, pkttype, hatype, hwaddr = addr[:5]
        if pkttype == socket.PACKET_OUTGOING and hatype == _ARPHRD_LOOPBACK:
            return None  # seen again as incoming on the same device, as libpcap assumes
        ts: int | None = None
        wire = size
        vlan: bytes | None = None
        for level, kind, data in anc:
            if level == _SOL_PACKET and kind == _PACKET_AUXDATA and len(data) >= _AUXDATA.size:
                status, wire, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(data)
                if tci or status & _TP_STATUS_VLAN_VALID:
                    tpid = tpid if status & _TP_STATUS_VLAN_TPID_VALID else 0x8100
                    vlan = struct.pack("!HH", tpid, tci)
            elif level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                if len(data) >= 16:
                    sec, nsec = struct.unpack_from("=qq", data)
                else:
                    sec, nsec = struct.unpack_from("=ii", data)
                ts = sec * 1_000_000_000 + nsec
        payload = bytes(self._buf[: min(size, SNAPLEN)])
        wire = max(wire, len(payload))
        if self.linktype == LINKTYPE_LINUX_SLL2:
            index = self._ifindex.get(ifname)
            if index is None:
                try:
                    index = socket.if_nametoindex(ifname)
                except OSError:
                    index = 0
                self._ifindex[ifname] = index
            hw = bytes(hwaddr)[:8]
            header = _SLL2.pack(proto, 0, index, hatype, pkttype, len(hw), hw)
            payload = header + payload
            wire += len(header)
        elif vlan is not None and len(payload) >= 12:
            payload = payload[:12] + vlan + payload[12:]
            wire += 4
        self.frames += 1
        return (self.frames, ts if ts is not None else time.time_ns(), self.linktype, payload, wire)

    def dropped(self) -> int | None:
        """Packets the kernel dropped so far (buffer full), or None when it does not say."""
        if self.stats_known and not _closed(self.sock):
            try:
                raw = self.sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, _STATS.size)
            except OSError:
                self.stats_known = False
            else:
                # Reading the statistics resets them: keep the sum.
                self.drops += _STATS.unpack(raw)[1]
        return self.drops if self.stats_known else None

    def close(self) -> None:
        if _closed(self.sock):
            return
        self.dropped()
        if self.closer is not None:
            self.closer.close()
        self.sock.close()


def _closed(sock: socket.socket) -> bool:
    return sock.fileno() < 0


def open_live(iface: InterfaceInfo, program: Any, expr: str) -> LiveCapture:
    """Open the capture socket with the compiled filter ``program`` (from :func:`compile_filter`)."""
    if not sys.platform.startswith("linux"):
        raise AnalyzerError(
            "live capture is implemented for Linux only",
            hint="capture with `tcpdump -w FILE …` and run `pushcap analyze FILE`",
        )
    missing = missing_privilege()
    if missing is not None:
        raise privilege_error(missing)
    try:
        capture = _open_cooked(iface, program) if iface.cooked else _open_ethernet(iface, expr)
    except PermissionError:
        raise privilege_error(missing_privilege() or "root") from None
    except OSError as exc:
        raise AnalyzerError(
            f"cannot capture on {iface.name}: {exc.strerror or exc}",
            hint="`pushcap interfaces` lists the interfaces; `any` captures on all of them",
        ) from None
    finally:
        free_filter(program)
    capture.sock.setblocking(False)
    _grow_buffer(capture.sock)
    return capture


def _open_ethernet(iface: InterfaceInfo, expr: str) -> LiveCapture:
    try:
        # scapy attaches the filter before binding, then flushes what slipped in.
        l2 = L2ListenSocket(iface=iface.name, filter=expr, promisc=False)
    except Scapy_Exception as exc:
        raise UsageError(f"cannot attach the capture filter: {exc}") from None
    except ValueError as exc:  # scapy: "Interface ... not found"
        raise UsageError(f"no such interface: {iface.name!r} ({exc})") from None
    sock: socket.socket = l2.ins
    return LiveCapture(iface, sock, LINKTYPE_ETHERNET, closer=l2)


def _open_cooked(iface: InterfaceInfo, program: Any) -> LiveCapture:
    fprog = bytes(sock_fprog(program.bf_len, program.bf_insns))
    # A socket opened for protocol 0 queues nothing until bind, so nothing escapes
    # the filter. Python cannot bind to ifindex 0 (all interfaces), so for `any`
    # the socket listens from its creation and what slipped in is drained.
    proto = 0 if iface.index else socket.htons(_ETH_P_ALL)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
        sock.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        if iface.index:
            sock.bind((iface.name, _ETH_P_ALL))
        else:
            _drain(sock)
    except BaseException:
        sock.close()
        raise
    return LiveCapture(iface, sock, LINKTYPE_LINUX_SLL2)


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(1)
    except OSError:
        pass


def _grow_buffer(sock: socket.socket) -> None:
    """A docker push moves fast: give the kernel room (libpcap uses 2 MiB)."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RCVBUF)
        except OSError:
            continue
        return
