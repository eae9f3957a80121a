"""Datagrams: UDP, DNS messages and lookups, ICMP/ICMPv6 destination unreachable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from _wire import US, Capture, Entry, Host, ip_header
from scapy.compat import raw
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRSOA
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach
from scapy.packet import Packet, Raw


def icmp_unreachable(
    cap: Capture,
    t: int,
    router: Host,
    quoted: Entry,
    code: int,
    *,
    ip_id: int = 0,
    mark: str | None = None,
) -> Entry:
    """Destination unreachable from ``router`` about the packet ``quoted``.

    ICMPv4 quotes the IP header plus the first 8 bytes of TCP (RFC 792); ICMPv6
    quotes the whole packet (RFC 4443: as much as fits in 1280 bytes).
    """
    to = quoted.src

    def build() -> bytes:
        data = quoted.data()
        if router.v6:
            pkt = ip_header(router, to) / ICMPv6DestUnreach(code=code) / Raw(data[:1232])
        else:
            ihl = (data[0] & 0x0F) * 4
            pkt = IP(src=router.ip, dst=to.ip, ttl=router.ttl, id=ip_id, tos=0xC0)
            pkt = pkt / ICMP(type=3, code=code) / Raw(data[: ihl + 8])
        return raw(pkt)

    return cap.add(t, router, to, build, mark=mark)


def udp(
    cap: Capture,
    t: int,
    src: Host,
    dst: Host,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ip_id: int = 0,
    iface: int = 0,
    mark: str | None = None,
) -> Entry:
    def build() -> bytes:
        return raw(ip_header(src, dst, ip_id=ip_id) / UDP(sport=sport, dport=dport) / Raw(payload))

    return cap.add(t, src, dst, build, iface=iface, mark=mark)


QTYPES = {"A": 1, "CNAME": 5, "SOA": 6, "AAAA": 28}


def dns_query(qid: int, name: str, qtype: str) -> bytes:
    """A stub resolver's query (glibc: RD set, no EDNS)."""
    return raw(DNS(id=qid, rd=1, qd=[DNSQR(qname=name, qtype=QTYPES[qtype])]))


def dns_rr(name: str, rtype: str, ttl: int, rdata: str) -> DNSRR:
    return DNSRR(rrname=name, type=QTYPES[rtype], ttl=ttl, rdata=rdata)


def dns_soa(zone: str, mname: str, rname: str, serial: int, *, ttl: int = 3600) -> DNSRRSOA:
    return DNSRRSOA(
        rrname=zone,
        ttl=ttl,
        mname=mname,
        rname=rname,
        serial=serial,
        refresh=1800,
        retry=900,
        expire=604800,
        minimum=86400,
    )


def dns_response(
    qid: int,
    name: str,
    qtype: str,
    *,
    rcode: int = 0,
    answers: Sequence[Packet] = (),
    authority: Sequence[Packet] = (),
) -> bytes:
    """A recursive resolver's answer (RA set, names compressed)."""
    msg = DNS(
        id=qid,
        qr=1,
        rd=1,
        ra=1,
        rcode=rcode,
        qd=[DNSQR(qname=name, qtype=QTYPES[qtype])],
        an=list(answers),
        ns=list(authority),
    )
    return raw(msg.compress())


@dataclass
class DnsLookup:
    """glibc getaddrinfo(): A and AAAA from one socket, in parallel."""

    cap: Capture
    client: Host
    server: Host
    ip_id: int = 0x4C00
    iface: int = 0

    def round(
        self,
        t: int,
        name: str,
        sport: int,
        qid: int,
        *,
        a: bytes,
        aaaa: bytes,
        delays: tuple[int, int] = (780 * US, 910 * US),
        label: str = "DNS",
    ) -> int:
        """Queries at ``t``; ``a``/``aaaa`` are the answers (wire bytes); returns the last time."""
        queries = ((qid, "A", a, delays[0]), (qid + 1, "AAAA", aaaa, delays[1]))
        t_last = t
        for k, (q, qtype, answer, delay) in enumerate(queries):
            tq = t + k * 60 * US
            udp(
                self.cap, tq, self.client, self.server, sport, 53, dns_query(q, name, qtype),
                ip_id=self._id(), iface=self.iface, mark=f"{label} {qtype} query",
            )  # fmt: skip
            udp(
                self.cap, tq + delay, self.server, self.client, 53, sport, answer,
                ip_id=0, iface=self.iface, mark=f"{label} {qtype} response",
            )  # fmt: skip
            t_last = max(t_last, tq + delay)
        return t_last

    def _id(self) -> int:
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        return self.ip_id
