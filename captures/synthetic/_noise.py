"""Background traffic and the founding case on a busy, tagged link.

The noise uses other addresses and ports than the registry conversation: an
SSH session into the docker host, TLS 1.3 sessions to :443, apt-style HTTP on
:80 with keep-alive, and DNS lookups for unrelated names.
"""

from __future__ import annotations

from _datagrams import DnsLookup, dns_response, dns_rr
from _payloads import (
    client_hello,
    server_hello_flight,
    ssh_ecdh_init,
    ssh_ecdh_reply_newkeys,
    ssh_kexinit,
    ssh_newkeys,
    ssh_packet,
    tls_app_data,
    tls_record,
)
from _scenarios import (
    CLIENT,
    EPOCH,
    GW_MAC,
    LAN_RTT,
    PING_AT,
    PROBE_AT,
    REALM_HOST,
    REALM_INTERNAL,
    ROUTER,
    Docker,
    silent_attempts,
)
from _wire import MS, NS, US, Capture, Entry, Host, TcpConn, at, mac, prand

LAPTOP = Host("192.168.1.50", mac("3c:22:fb:5e:10:50"), 64)
TLS_HOSTS = (Host("203.0.113.10", GW_MAC, 54), Host("203.0.113.77", GW_MAC, 57))
WEB_HOST = Host("198.51.100.80", GW_MAC, 55)
APT_UA = "Debian APT-HTTP/1.3 (2.4.11)"


def reordered_401(conn: TcpConn, t: int, response: bytes) -> int:
    """The 401 in two segments (headers | body), the first delayed in the network.

    The body segment and the server's FIN arrive first (duplicate ACKs with
    SACK), the headers 24 ms later; the server's RACK timer then retransmits the
    headers segment although it arrived (the client answers with a D-SACK).
    """
    cut = response.index(b"\r\n\r\n") + 4
    head, body = response[:cut], response[cut:]
    s0, c_seq = conn.nxt[1], conn.nxt[0]
    end = s0 + len(response)
    conn.seg(
        1, t, "PA", body, seq=s0 + cut, ack=c_seq, mark="401 segment 2/2 (body, arrives first)"
    )
    conn.seg(1, t + 6 * US, "FA", seq=end, ack=c_seq)
    conn.seg(0, t + 40 * US, "A", ack=s0, sack=[(s0 + cut, end)])
    conn.seg(0, t + 46 * US, "A", ack=s0, sack=[(s0 + cut, end + 1)])
    t_late = t + 24_106 * US
    conn.seg(
        1, t_late, "A", head, seq=s0, ack=c_seq, mark="401 segment 1/2 (late; completes the 401)"
    )
    conn.nxt[1] = end + 1
    conn.seg(0, t_late + 38 * US, "A")
    t_fin = t_late + 238 * US
    conn.seg(0, t_fin, "FA")
    t_rtx = t + 37_614 * US
    conn.seg(
        1, t_rtx, "A", head, seq=s0, ack=c_seq, mark="401 segment 1/2 retransmitted (spurious)"
    )
    conn.seg(0, t_rtx + 41 * US, "A", sack=[(s0, s0 + cut)])  # D-SACK
    t_end = conn.turn(t_fin, 1, 40 * US)
    conn.seg(1, t_end, "A")
    return t_end


def _steps(label: str, n: int, low_ms: int, high_ms: int) -> list[int]:
    """``n`` fixed pseudo-random intervals between ``low_ms`` and ``high_ms`` (in ns)."""
    raw = prand(label, 2 * n)
    span = high_ms - low_ms
    return [
        (low_ms + int.from_bytes(raw[2 * i : 2 * i + 2]) % span) * MS + (raw[2 * i] * 3) * US
        for i in range(n)
    ]


def ssh_session(cap: Capture, t: int, t_stop: int) -> None:
    """An admin's SSH session into the docker host: banners, KEXINIT, then typing."""
    conn = TcpConn(cap, LAPTOP, CLIENT, 51022, 22, LAN_RTT)
    t = conn.connect(t)
    t_srv = t + 4_310 * US
    conn.send(
        1, t_srv, b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n", mark="noise: SSH server banner"
    )
    t = conn.send(
        0,
        t_srv + 180 * US,
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
        mark="noise: SSH client banner",
    )
    kex = "curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group14-sha256"
    ciphers = "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com"
    t = conn.send(0, t + 95 * US, ssh_kexinit("client", kex, "ssh-ed25519,rsa-sha2-512", ciphers))
    t = conn.send(
        1,
        conn.turn(t, 1, 310 * US),
        ssh_kexinit("server", kex, "rsa-sha2-512,ssh-ed25519", ciphers),
    )
    t = conn.send(0, conn.turn(t, 0, 1_210 * US), ssh_ecdh_init("admin"))
    t = conn.send(1, conn.turn(t, 1, 2_840 * US), ssh_ecdh_reply_newkeys("admin"))
    t = conn.send(0, conn.turn(t, 0, 900 * US), ssh_newkeys("admin") + ssh_packet("auth", 44))
    steps = _steps("ssh typing", 400, 180, 1900)
    k = 0
    while True:
        t += steps[k]
        if t >= t_stop:
            break
        conn.send(0, t, ssh_packet(f"key {k}", 16))
        t_echo = conn.turn(t, 1, 95 * US)
        # Every ninth keystroke is an Enter: a screenful comes back.
        echo = ssh_packet(f"out {k}", 16 if k % 9 else 1_900 + 37 * (k % 7))
        t = conn.send(1, t_echo, echo)
        conn.ack(0, t + 38 * MS)
        k += 1


def tls_session(cap: Capture, t: int, host: Host, sport: int, sni: str, *, linger: int) -> int:
    """A short HTTPS request: TLS 1.3 handshake, one request and answer, close_notify, FIN."""
    conn = TcpConn(cap, CLIENT, host, sport, 443, 11_240 * US)
    t = conn.connect(t) + 70 * US
    t = conn.send(
        0, t, client_hello(sni, sni, ("h2", "http/1.1")), mark=f"noise: TLS ClientHello ({sni})"
    )
    conn.ack(1, conn.turn(t, 1))
    flight = server_hello_flight(sni, (36, 2_870, 264, 52))
    t = conn.send(
        1, conn.turn(t, 1, 1_930 * US), flight, mark_first=f"noise: TLS ServerHello ({sni})"
    )
    conn.ack(0, conn.turn(t, 0, 45 * US))
    t = conn.send(0, t + 1_120 * US, tls_record(20, b"\x01") + tls_app_data(f"{sni} c", 53, 412))
    t = conn.send(1, conn.turn(t, 1, 27_600 * US), tls_app_data(f"{sni} s", 271, 1_864))
    conn.ack(0, conn.turn(t, 0, 45 * US))
    t = conn.send(0, t + linger, tls_app_data(f"{sni} close", 19))
    return conn.close(0, t + 30 * US, merged=True)


def http80_session(cap: Capture, t: int) -> int:
    """apt refreshing two index files over one keep-alive connection."""
    conn = TcpConn(cap, CLIENT, WEB_HOST, 57812, 80, 18_730 * US)
    t = conn.connect(t) + 110 * US
    req1 = (
        "GET /ubuntu/dists/jammy/InRelease HTTP/1.1\r\nHost: archive.ubuntu.com\r\n"
        "Cache-Control: max-age=0\r\nIf-Modified-Since: Thu, 21 Apr 2022 17:16:08 GMT\r\n"
        f"User-Agent: {APT_UA}\r\n\r\n"
    ).encode()
    resp1 = (
        b"HTTP/1.1 304 Not Modified\r\nDate: Thu, 23 Jun 2022 04:12:41 GMT\r\nServer: Apache/2.4.29 (Ubuntu)\r\n"
        b'Connection: Keep-Alive\r\nKeep-Alive: timeout=5, max=100\r\nETag: "3c1e-5dd2c1e0e5b4c"\r\n\r\n'
    )
    t = conn.exchange(
        t,
        req1,
        resp1,
        proc=410 * US,
        mark_request="noise: HTTP :80 GET",
        mark_response="noise: HTTP :80 304",
    )
    body = prand("InRelease jammy-updates", 3_900)
    req2 = (
        "GET /ubuntu/dists/jammy-updates/InRelease HTTP/1.1\r\nHost: archive.ubuntu.com\r\n"
        f"Cache-Control: max-age=0\r\nUser-Agent: {APT_UA}\r\n\r\n"
    ).encode()
    resp2 = (
        "HTTP/1.1 200 OK\r\nDate: Thu, 23 Jun 2022 04:12:41 GMT\r\nServer: Apache/2.4.29 (Ubuntu)\r\n"
        f"Last-Modified: Thu, 23 Jun 2022 03:53:00 GMT\r\nContent-Length: {len(body)}\r\n"
        "Keep-Alive: timeout=5, max=99\r\nConnection: Keep-Alive\r\n\r\n"
    ).encode() + body
    t = conn.exchange(
        t + 1_530 * US,
        req2,
        resp2,
        proc=820 * US,
        mark_request="noise: HTTP :80 GET",
        mark_response="noise: HTTP :80 200",
    )
    return conn.close(1, t + 5 * NS + 2_004 * US)  # the server's keep-alive timeout


def dns_noise(cap: Capture, t: int, name: str, address: str, sport: int, qid: int) -> int:
    dns = DnsLookup(cap, CLIENT, ROUTER, ip_id=qid)
    a = dns_response(qid, name, "A", answers=[dns_rr(name, "A", 120, address)])
    aaaa = dns_response(qid + 1, name, "AAAA", answers=[])
    return dns.round(
        t, name, sport, qid, a=a, aaaa=aaaa, delays=(14_220 * US, 15_870 * US), label="noise: DNS"
    )


def _qinq(entry: Entry) -> bool:
    """Frames coming in from the router carry the provider's outer tag too."""
    return not entry.outgoing and entry.src.mac == GW_MAC


QINQ = _qinq


def realm_vlan_noise() -> Capture:
    """The founding case (401 reordered, one segment retransmitted) among busy traffic."""
    d = Docker(Capture(EPOCH))
    cap = d.cap
    ssh_session(cap, at(0.153208), at(95.0))
    t = dns_noise(cap, at(0.702113), "archive.ubuntu.com", "198.51.100.80", 35177, 0x1A2B)
    http80_session(cap, t + 310 * US)
    d.probe(PROBE_AT, 52108)
    d.ping(PING_AT, 52110, REALM_INTERNAL, deliver=reordered_401)
    silent_attempts(d, at(2.586117), REALM_HOST, (47028, 47042, 47058))
    t = dns_noise(cap, at(11.204551), "api.snapcraft.io", "203.0.113.10", 60311, 0x3F00)
    tls_session(cap, t + 220 * US, TLS_HOSTS[0], 43310, "api.snapcraft.io", linger=4 * NS)
    t = dns_noise(cap, at(48.880412), "motd.ubuntu.com", "203.0.113.77", 36012, 0x7C5A)
    tls_session(cap, t + 190 * US, TLS_HOSTS[1], 43326, "motd.ubuntu.com", linger=2 * NS)
    dns_noise(cap, at(71.337100), "ntp.ubuntu.com", "198.51.100.123", 50123, 0x0B0B)
    return cap
