"""Small scapy builders for in-memory test traffic (frames as the readers yield them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

NS = 1_000_000_000
Frame = tuple[int, int, int, bytes, int]


def ip_layer(src: str, dst: str, ttl: int = 64) -> Packet:
    return IPv6(src=src, dst=dst, hlim=ttl) if ":" in src else IP(src=src, dst=dst, ttl=ttl)


@dataclass
class Trace:
    """Frames in order, with a clock that only moves forward."""

    t: float = 1_655_957_560.0
    frames: list[Frame] = field(default_factory=list)

    def add(self, pkt: Packet, dt: float = 0.001) -> int:
        self.t += dt
        data = bytes(Ether(src="00:00:5e:00:53:01", dst="00:00:5e:00:53:02") / pkt)
        number = len(self.frames) + 1
        self.frames.append((number, round(self.t * NS), 1, data, len(data)))
        return number


@dataclass
class Tcp:
    """A client-side view of one TCP connection; seq/ack kept right."""

    trace: Trace
    client: str
    cport: int
    server: str
    sport: int
    cseq: int = 1000
    sseq: int = 50_000

    def _c(self, flags: str, payload: bytes = b"", dt: float = 0.001) -> int:
        pkt = ip_layer(self.client, self.server) / TCP(
            sport=self.cport, dport=self.sport, flags=flags, seq=self.cseq, ack=self.sseq
        )
        n = self.trace.add(pkt / Raw(payload) if payload else pkt, dt)
        self.cseq += len(payload) + (1 if "S" in flags or "F" in flags else 0)
        return n

    def _s(self, flags: str, payload: bytes = b"", dt: float = 0.001, ttl: int = 64) -> int:
        pkt = ip_layer(self.server, self.client, ttl) / TCP(
            sport=self.sport, dport=self.cport, flags=flags, seq=self.sseq, ack=self.cseq
        )
        n = self.trace.add(pkt / Raw(payload) if payload else pkt, dt)
        self.sseq += len(payload) + (1 if "S" in flags or "F" in flags else 0)
        return n

    def handshake(self, dt: float = 0.001) -> None:
        self._c("S", dt=dt)
        self._s("SA")
        self._c("A")

    def send(self, payload: bytes, dt: float = 0.001) -> int:
        return self._c("PA", payload, dt)

    def reply(self, payload: bytes, dt: float = 0.01) -> int:
        return self._s("PA", payload, dt)

    def close(self) -> None:
        self._s("FA")
        self._c("FA")
        self._s("A")

    def syns(self, delays: tuple[float, ...], dt: float = 0.01) -> list[int]:
        """A SYN and its retransmissions (same ISN), never answered."""
        frames = []
        for i, d in enumerate((dt, *delays)):
            pkt = ip_layer(self.client, self.server) / TCP(
                sport=self.cport, dport=self.sport, flags="S", seq=self.cseq
            )
            frames.append(self.trace.add(pkt, d if i else dt))
        return frames

    def refused(self, dt: float = 0.01, ttl: int = 63) -> tuple[int, int]:
        syn = self._c("S", dt=dt)
        pkt = ip_layer(self.server, self.client, ttl) / TCP(
            sport=self.sport, dport=self.cport, flags="RA", seq=0, ack=self.cseq
        )
        return syn, self.trace.add(pkt, 0.0005)

    def icmp_unreachable(self, router: str, code: int = 1, dt: float = 0.01) -> tuple[int, int]:
        syn_pkt = IP(src=self.client, dst=self.server) / TCP(
            sport=self.cport, dport=self.sport, flags="S", seq=self.cseq
        )
        syn = self.trace.add(syn_pkt, dt)
        quoted = bytes(syn_pkt)[:28]
        err = IP(src=router, dst=self.client) / ICMP(type=3, code=code) / Raw(quoted)
        return syn, self.trace.add(err, 0.001)


def http_request(
    method: str, target: str, host: str, headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "User-Agent: docker/24.0.7"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_response(
    status: int, reason: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def challenge_401(realm: str, service: str = "harbor-registry") -> bytes:
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'
    return http_response(
        401,
        "Unauthorized",
        {
            "Content-Type": "application/json; charset=utf-8",
            "Docker-Distribution-Api-Version": "registry/2.0",
            "Set-Cookie": "sid=1735c3ed0bdb2a3d6f9b4dcba7eed257; Path=/; HttpOnly",
            "Www-Authenticate": f'Bearer realm="{realm}",service="{service}"',
        },
        body,
    )


def dns_exchange(
    trace: Trace,
    client: str,
    resolver: str,
    name: str,
    *,
    answers: list[str] | None = None,
    rcode: int = 0,
    qtype: str = "A",
    sport: int = 53000,
    qid: int = 1,
) -> tuple[int, int]:
    q = (
        ip_layer(client, resolver)
        / UDP(sport=sport, dport=53)
        / DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    )
    qf = trace.add(q)
    an = [DNSRR(rrname=name, type=qtype, ttl=60, rdata=a) for a in answers or []]
    r = (
        ip_layer(resolver, client)
        / UDP(sport=53, dport=sport)
        / DNS(id=qid, qr=1, rd=1, ra=1, rcode=rcode, qd=DNSQR(qname=name, qtype=qtype), an=an)
    )
    return qf, trace.add(r, 0.002)
