"""The founding case and its variants: the client cannot get a token.

Cast (see README.md): the docker host 192.168.1.100 behind its router
192.168.1.1, the registry 180.119.140.230:8200 (Harbor, plain HTTP, listed in
``insecure-registries``) and the realm the registry advertises.

Every docker run starts like the real one: an HTTPS attempt on the registry
port that the plain-HTTP front answers with ``400 Bad Request`` (docker then
falls back to HTTP; this 400 is normal), then ``GET /v2/`` → ``401`` with the
Bearer challenge.  What follows depends on the realm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from _datagrams import DnsLookup, dns_query, dns_response, dns_rr, dns_soa, icmp_unreachable, udp
from _payloads import (
    challenge_401,
    client_hello,
    docker_request,
    nginx_400,
    ntp_request,
    ntp_response,
)
from _wire import (
    MS,
    NEW_KERNEL_SYN_RTX,
    NS,
    OLD_KERNEL_SYN_RTX,
    US,
    Capture,
    Host,
    TcpConn,
    at,
    mac,
    unanswered_syns,
)

EPOCH = 1655957561  # 2022-06-23 04:12:41 UTC: the seed's 401 is dated 04:12:43
CLIENT_MAC = mac("52:54:00:a1:00:64")
GW_MAC = mac("52:54:00:a1:00:01")
CLIENT = Host("192.168.1.100", CLIENT_MAC, 64, local=True)
ROUTER = Host("192.168.1.1", GW_MAC, 64)
REGISTRY = Host("180.119.140.230", GW_MAC, 52)
REALM_HOST = Host("172.16.200.100", GW_MAC, 63)  # one hop behind the router
NTP_SERVER = Host("198.51.100.123", GW_MAC, 55)
REGISTRY_HOSTPORT = "180.119.140.230:8200"
PORT = 8200
REALM_INTERNAL = "http://172.16.200.100:8200/service/token"
REALM_SAME = "http://180.119.140.230:8200/service/token"
RTT = 29_650 * US  # client ↔ registry, as in the seed (GET at 2.442875, 401 at 2.472529)
LAN_RTT = 900 * US
PROBE_AT = at(2.300112)
# The GET /v2/ then leaves at 2.442875 and the 401 arrives at 2.472529, as in the seed.
PING_AT = at(2.412938)
DOCKER_PAUSES = (5, 10, 15, 20)  # docker's layer retry countdown, seconds

CLIENT6 = Host("2001:db8:1::100", CLIENT_MAC, 64, local=True)
ROUTER6 = Host("2001:db8:1::1", GW_MAC, 64)
REGISTRY6 = Host("2001:db8:ffff::230", GW_MAC, 52)
REALM6 = Host("fd00:16:200::100", GW_MAC, 63)


@dataclass
class Docker:
    """dockerd's side of the first exchanges with one registry."""

    cap: Capture
    client: Host = CLIENT
    registry: Host = REGISTRY
    host_header: str = REGISTRY_HOSTPORT
    rtt: int = RTT

    def conn(
        self, sport: int, server: Host | None = None, port: int = PORT, rtt: int | None = None
    ) -> TcpConn:
        return TcpConn(self.cap, self.client, server or self.registry, sport, port, rtt or self.rtt)

    def probe(self, t: int, sport: int) -> int:
        """The HTTPS attempt: ClientHello answered by a plain-HTTP 400, then both close."""
        conn = self.conn(sport)
        t = conn.connect(t) + 92 * US
        t = conn.send(0, t, client_hello(f"probe {sport}"), mark="HTTPS probe: TLS ClientHello")
        t_ack = conn.turn(t, 1)
        conn.ack(1, t_ack)
        t_400 = t_ack + 129 * US
        conn.send(
            1, t_400, nginx_400(self.cap.epoch_ns + t_400), mark="HTTPS probe: HTTP 400 (normal)"
        )
        return conn.close(1, t_400 + 12 * US, peer_delay=185 * US)

    def ping(
        self,
        t: int,
        sport: int,
        realm: str,
        *,
        close: bool = True,
        hbh: bool = False,
        deliver: Callable[[TcpConn, int, bytes], int] | None = None,
    ) -> tuple[TcpConn, int]:
        """``GET /v2/`` → ``401`` Bearer challenge; returns the connection and the end time.

        ``deliver(conn, t, response)`` replaces the plain delivery of the 401
        (and the close that follows); it returns the end time.
        """
        conn = self.conn(sport)
        t_get = conn.connect(t) + 227 * US
        request = docker_request("GET", "/v2/", self.host_header)
        conn.send(0, t_get, request, hbh=hbh, mark="GET /v2/")
        conn.ack(1, conn.turn(t_get, 1))
        t_401 = conn.turn(t_get, 1, 4 * US)
        response = challenge_401(self.cap.epoch_ns + t_401, realm, close=close)
        if deliver is not None:
            return conn, deliver(conn, t_401, response)
        conn.send(1, t_401, response, mark="401 Bearer challenge")
        if close:
            return conn, conn.close(1, t_401 + 18 * US, peer_delay=200 * US)
        t_ack = conn.turn(t_401, 0, 45 * US)
        conn.ack(0, t_ack)
        return conn, t_ack


def _attempt(n: int, port: int) -> str:
    return f"token attempt {n} (port {port})"


def silent_attempts(
    d: Docker,
    t: int,
    target: Host,
    ports: tuple[int, ...],
    *,
    schedule: tuple[int, ...] = OLD_KERNEL_SYN_RTX,
) -> int:
    """One dial per port, each retransmitted until Go's 30 s dial timeout, docker's pauses between."""
    for k, port in enumerate(ports):
        t_fail = unanswered_syns(
            d.conn(port, target), t, schedule=schedule, label=_attempt(k + 1, port)
        )
        t = t_fail + DOCKER_PAUSES[k] * NS + 2_317 * US
    return t


def start_docker(realm: str, *, close: bool = True) -> tuple[Docker, TcpConn, int]:
    """The HTTPS probe, then the ping whose 401 names ``realm``."""
    d = Docker(Capture(EPOCH))
    d.probe(PROBE_AT, 52108)
    conn, t = d.ping(PING_AT, 52110, realm, close=close)
    return d, conn, t


def founding_case() -> Capture:
    """The seed: three dials to the internal realm, never answered (old kernel).

    Noise (UDP, on the pcapng's second interface) is placed so that the GET is
    frame 17 and the 401 frame 20, at the seed's relative times.
    """
    d = Docker(Capture(EPOCH))
    cap = d.cap
    ntp = NTP_SERVER
    request = ntp_request("poll 1")
    udp(cap, 0, CLIENT, ntp, 41034, 123, request, ip_id=0x6B21, iface=1, mark="unrelated NTP")
    t_ntp = 18_702_311
    response = ntp_response(request, cap.epoch_ns + 9_100_000, cap.epoch_ns + 9_100_412)
    udp(cap, t_ntp, ntp, CLIENT, 123, 41034, response, iface=1, mark="unrelated NTP")
    d.probe(PROBE_AT, 52108)  # frames 3-12
    name = "connectivity-check.ubuntu.com"
    t = at(2.391204) + 417  # the pcapng's UDP interface keeps nanoseconds
    udp(
        cap,
        t,
        CLIENT,
        ROUTER,
        58207,
        53,
        dns_query(0x9D4E, name, "A"),
        ip_id=0x2F10,
        iface=1,
        mark="unrelated DNS",
    )
    answer = dns_response(0x9D4E, name, "A", answers=[dns_rr(name, "A", 60, "198.51.100.49")])
    udp(cap, t + 60_132_551, ROUTER, CLIENT, 53, 58207, answer, iface=1, mark="unrelated DNS")
    d.ping(PING_AT, 52110, REALM_INTERNAL)
    silent_attempts(d, at(2.586117), REALM_HOST, (47028, 47042, 47058))
    return cap


def realm_refused() -> Capture:
    """Each SYN to the realm answered at once by RST/ACK from the realm host (TTL 63)."""
    d, _, t = start_docker(REALM_INTERNAL)
    t = t + 83 * MS
    for k, (port, pause) in enumerate(zip((47028, 47036, 47046, 47060), (1, 2, 4, 0), strict=True)):
        conn = TcpConn(d.cap, CLIENT, REALM_HOST, port, PORT, 950 * US, isn=(None, 0))
        conn.seg(0, t, "S", mark=f"{_attempt(k + 1, port)} SYN")
        t_rst = conn.turn(t, 1, 31 * US)
        conn.seg(
            1,
            t_rst,
            "RA",
            seq=0,
            ack=conn.isn[0] + 1,
            window=0,
            mark=f"{_attempt(k + 1, port)} RST/ACK",
        )
        t = t_rst + pause * NS + 1_204 * US
    return d.cap


def realm_icmp_unreachable() -> Capture:
    """Each SYN answered by ICMP host unreachable (type 3 code 1) from the router."""
    d, _, t = start_docker(REALM_INTERNAL)
    t = t + 83 * MS
    for k, port in enumerate((47028, 47040)):
        conn = d.conn(port, REALM_HOST)
        syn = conn.seg(0, t, "S", mark=f"{_attempt(k + 1, port)} SYN")
        t_icmp = t + 412 * US
        icmp_unreachable(
            d.cap,
            t_icmp,
            ROUTER,
            syn,
            1,
            ip_id=0x1D2E + k,
            mark=f"{_attempt(k + 1, port)} ICMP host unreachable",
        )
        t = t_icmp + DOCKER_PAUSES[k] * NS + 1_877 * US
    return d.cap


def _nxdomain(qid: int, name: str, qtype: str) -> bytes:
    root = dns_soa(".", "a.root-servers.net", "nstld.verisign-grs.com", 2022062300, ttl=86400)
    return dns_response(qid, name, qtype, rcode=3, authority=[root])


def realm_hostname_nxdomain() -> Capture:
    """The realm names a host that does not resolve: A and AAAA NXDOMAIN, no SYN."""
    realm_name = "harbor-core.internal"
    d, _, t = start_docker(f"http://{realm_name}:8200/service/token")
    dns = DnsLookup(d.cap, CLIENT, ROUTER)
    t = t + 83 * MS
    for k, (sport, qid) in enumerate(((38211, 0x2C41), (51735, 0x9A07), (44109, 0x61F3))):
        a, aaaa = _nxdomain(qid, realm_name, "A"), _nxdomain(qid + 1, realm_name, "AAAA")
        t = dns.round(
            t,
            realm_name,
            sport,
            qid,
            a=a,
            aaaa=aaaa,
            delays=(1_204 * US, 1_311 * US),
            label=f"DNS round {k + 1}",
        )
        t += DOCKER_PAUSES[k] * NS + 2_012 * US
    return d.cap


def realm_hostname_unreachable() -> Capture:
    """The realm's name resolves (via CNAMEs) to an internal address that never answers."""
    name, core = "harbor.corp.example", "core.harbor.corp.example"
    d, _, t = start_docker(f"http://{name}:8200/service/token")
    chain = [dns_rr(name, "CNAME", 300, core)]
    soa = dns_soa(
        "corp.example", "ns1.corp.example", "hostmaster.corp.example", 2022062301, ttl=300
    )
    rounds = []
    for sport, qid in ((40315, 0x7B10), (56027, 0x0E3C)):
        a = dns_response(qid, name, "A", answers=[*chain, dns_rr(core, "A", 300, "172.16.200.100")])
        aaaa = dns_response(qid + 1, name, "AAAA", answers=chain, authority=[soa])
        rounds.append({"name": name, "sport": sport, "qid": qid, "a": a, "aaaa": aaaa})
    dns = DnsLookup(d.cap, CLIENT, ROUTER)
    t = t + 83 * MS
    for k, (args, port) in enumerate(zip(rounds, (47028, 47044), strict=True)):
        t = (
            dns.round(t, label=f"DNS round {k + 1}", delays=(1_502 * US, 1_630 * US), **args)
            + 160 * US
        )  # type: ignore[arg-type]
        t = unanswered_syns(
            d.conn(port, REALM_HOST), t, schedule=NEW_KERNEL_SYN_RTX, label=_attempt(k + 1, port)
        )
        t += DOCKER_PAUSES[k] * NS + 2_317 * US
    return d.cap


def realm_internal_no_attempt() -> Capture:
    """Only the registry's traffic (filter ``host 180.119.140.230``): the challenge alone."""
    d = Docker(Capture(EPOCH))
    d.ping(PING_AT, 52110, REALM_INTERNAL)
    return d.cap


def realm_is_registry_unreachable() -> Capture:
    """The realm is the registry itself, but new connections to it are no longer answered."""
    d, _, t = start_docker(REALM_SAME)
    silent_attempts(d, t + 113 * MS, REGISTRY, (52124, 52138))
    return d.cap


def founding_case_ipv6() -> Capture:
    """IPv6: first dial unanswered, second answered by ICMPv6 address unreachable."""
    d = Docker(Capture(EPOCH), CLIENT6, REGISTRY6, "[2001:db8:ffff::230]:8200")
    d.probe(PROBE_AT, 52108)
    _, t = d.ping(PING_AT, 52110, "http://[fd00:16:200::100]:8200/service/token", hbh=True)
    t = silent_attempts(d, t + 83 * MS, REALM6, (47028,))
    conn = d.conn(47042, REALM6)
    label = _attempt(2, 47042)
    conn.seg(0, t, "S", mark=f"{label} SYN")
    rtx = conn.seg(
        0, t + NS + 1_012 * US, "S", seq=conn.isn[0], mark=f"{label} SYN retransmissions"
    )
    # The router gives up neighbour discovery after 3 probes and reports the newest queued packet.
    icmp_unreachable(
        d.cap, t + 3 * NS + 2_406 * US, ROUTER6, rtx, 3, mark=f"{label} ICMPv6 address unreachable"
    )
    return d.cap
