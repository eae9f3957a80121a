"""What happens on the wire for each kind of job: pushes, pulls, failed pushes, noise.

How this works: a job is a plain description (a frozen dataclass the plan
makes) and :func:`generators` turns it into one or more generators of
``(time_us, frame)``, one per concurrently open connection, each with its
own :class:`~_gen_packets.Clock`; gencap merges all of them by time. Inside
one generator time only moves forward. Every job draws from its own
``random.Random``, seeded from the capture's seed and the job's number, so
the bytes do not depend on the order in which the merge advances the jobs.

A healthy push, per connection: ``GET /v2/`` → ``401`` Bearer challenge,
the token ``GET`` (on the same keep-alive connection when the realm is the
registry, else on a new one to the token host after a DNS lookup) → ``200``
JSON token, then with ``Authorization: Bearer``: per layer ``HEAD`` (``200``
when it exists, else ``404``, ``POST`` → ``202``, ``PATCH`` with the blob,
chunked or with Content-Length → ``202``, ``PUT ?digest=`` → ``201``), and
on the first connection the manifest ``PUT`` → ``201``. A pull: the same
token flow, the manifest ``GET``, then ``GET`` of each blob (big responses).
A failed push: the challenge on a ``Connection: close`` connection, then
dials toward the realm that are never answered (SYN + 4 retransmissions at
1, 3, 7, 15 s; Go's 30 s dial timeout; docker retries 5, 10, 20 s later) or
refused (RST/ACK at once; retries after 1, 2, 4 s).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import _gen_payloads as pay
from _gen_packets import Clock, Faults, Frame, Host, Tcp, Udp, unanswered_dial

OLD_KERNEL_SYN_SCHEDULE = (1.0, 3.0, 7.0, 15.0)  # retransmissions after the first SYN, s
DIAL_TIMEOUT_S = 30
UNREACHABLE_RETRY_S = (5, 10, 20, 20, 20)
REFUSED_RETRY_S = (1, 2, 4, 8, 8)


@dataclass(frozen=True, slots=True)
class Registry:
    """A registry endpoint and the realm its 401 names."""

    host: Host
    port: int
    host_header: str  # what docker puts in Host (a name or ip:port)
    name: str | None  # resolved through DNS first when set
    realm: str
    service: str
    token_host: Host  # where the realm's name/address leads
    token_port: int
    token_path: str
    token_name: str | None  # the realm's host name (resolved before dialing), or None
    fate: str  # "ok", "unreachable", "refused"
    rtt_us: int

    @property
    def endpoint(self) -> str:
        return f"{self.host.text}:{self.port}"

    @property
    def realm_on_registry(self) -> bool:
        return self.token_host == self.host and self.token_port == self.port


@dataclass(frozen=True, slots=True)
class Env:
    """What every job shares: the resolver, the blob pool, the fault counters."""

    resolver: Host
    pool: pay.BlobPool
    faults: Faults


@dataclass(frozen=True, slots=True)
class Job:
    kind: str  # "push", "pull", "fail", "tls", "ssh", "dns"
    start: int  # µs
    client: Host
    ports: int  # first source port of the block this job may use (64 ports)
    seed: str
    registry: Registry | None = None
    repo: str = ""
    blobs: tuple[tuple[int, bool], ...] = ()  # (size, already on the registry)
    conns: int = 1
    attempts: int = 0
    probe: bool = False  # docker's HTTPS probe first (insecure registry)
    peer: Host | None = None  # tls/ssh/dns: the other end
    label: str = ""  # tls: SNI; dns: the names (comma-separated)
    end: int = 0  # ssh/dns: until when (µs)
    gap_us: int = 80


def generators(job: Job, env: Env) -> list[Iterator[Frame]]:
    rng = random.Random(job.seed)
    if job.kind in ("push", "pull"):
        # One stream of draws per connection: they advance in whatever order the merge picks.
        return [
            _registry_conn(job, env, random.Random(f"{job.seed}/{k}"), k) for k in range(job.conns)
        ]
    make = {"fail": _failed_push, "tls": _tls, "ssh": _ssh, "dns": _dns_noise}[job.kind]
    return [make(job, env, rng)]


def _lookup(
    clock: Clock,
    client: Host,
    port: int,
    name: str,
    answer: Host | None,
    env: Env,
    rng: random.Random,
) -> Iterator[Frame]:
    """glibc's A + AAAA lookup from one socket; no AAAA records (NODATA), or NXDOMAIN."""
    udp = Udp(client, port, env.resolver, 53, rng)
    ids = rng.randrange(1 << 16), rng.randrange(1 << 16)
    yield clock.t, udp.datagram(0, pay.dns_query(ids[0], name, pay.A))
    clock.t += 30
    yield clock.t, udp.datagram(0, pay.dns_query(ids[1], name, pay.AAAA))
    clock.t += rng.randrange(800, 9000)
    rcode = 0 if answer is not None else 3
    addrs = [answer.ip] if answer is not None else []
    yield clock.t, udp.datagram(1, pay.dns_answer(ids[0], name, pay.A, addrs, rcode))
    clock.t += 120
    yield clock.t, udp.datagram(1, pay.dns_answer(ids[1], name, pay.AAAA, [], rcode))
    clock.t += 200


def _probe(clock: Clock, job: Job, reg: Registry, env: Env, rng: random.Random) -> Iterator[Frame]:
    """docker's HTTPS attempt on an insecure registry: a ClientHello answered by HTTP 400."""
    tcp = Tcp(
        clock, job.client, job.ports + 63, reg.host, reg.port, rng, env.faults, rtt_us=reg.rtt_us
    )
    yield from tcp.connect()
    html = b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n</html>\r\n"
    answer = pay.message(
        "HTTP/1.1 400 Bad Request",
        [
            ("Server", "nginx"),
            ("Date", pay.http_date(clock.t)),
            ("Content-Type", "text/html"),
            ("Content-Length", str(len(html))),
            ("Connection", "close"),
        ],
        html,
    )
    yield from tcp.exchange(pay.client_hello(reg.host_header.split(":")[0], rng), answer, 500)
    yield from tcp.close(by_server=True)
    clock.t += rng.randrange(1000, 5000)


def _token(
    clock: Clock, tcp: Tcp, job: Job, env: Env, rng: random.Random, port: int, actions: str
) -> Iterator[Frame]:
    """The token request and its 200, on ``tcp`` or on a new connection to the token host."""
    reg = job.registry
    assert reg is not None
    target = reg.token_path + pay.token_query(job.repo, reg.service, actions)
    host = reg.realm.split("/")[2]
    request = pay.docker_request("GET", target, host, auth=pay.BASIC_AUTH)
    if reg.realm_on_registry:
        yield from tcp.exchange(
            request, pay.token_response(clock.t, rng), rng.randrange(5000, 30000)
        )
        return
    if reg.token_name:
        yield from _lookup(clock, job.client, port + 1, reg.token_name, reg.token_host, env, rng)
    auth = Tcp(
        clock, job.client, port, reg.token_host, reg.token_port, rng, env.faults, rtt_us=reg.rtt_us
    )
    yield from auth.connect()
    yield from auth.exchange(request, pay.token_response(clock.t, rng), rng.randrange(5000, 30000))
    yield from auth.close()


def _registry_conn(job: Job, env: Env, rng: random.Random, k: int) -> Iterator[Frame]:
    """Connection ``k`` of a push or pull: its share of the blobs, all over one keep-alive."""
    reg = job.registry
    assert reg is not None
    clock = Clock(job.start + k * rng.randrange(2000, 9000))
    port = job.ports + 4 * k
    if k == 0 and reg.name:
        yield from _lookup(clock, job.client, job.ports + 60, reg.name, reg.host, env, rng)
    if k == 0 and job.probe:
        yield from _probe(clock, job, reg, env, rng)
    tcp = Tcp(
        clock,
        job.client,
        port,
        reg.host,
        reg.port,
        rng,
        env.faults,
        rtt_us=reg.rtt_us,
        gap_us=job.gap_us,
    )
    yield from tcp.connect()
    host = reg.host_header
    yield from tcp.exchange(
        pay.docker_request("GET", "/v2/", host),
        pay.challenge(clock.t, reg.realm, reg.service, close=False),
    )
    push = job.kind == "push"
    yield from _token(clock, tcp, job, env, rng, port + 1, "pull,push" if push else "pull")
    auth = "Bearer " + pay._b64url(rng.randbytes(200))
    base = f"/v2/{job.repo}"
    tag = f"{base}/manifests/{rng.randrange(1, 40)}.{rng.randrange(10)}.{rng.randrange(10)}"

    def answer(status: str, **kw: Any) -> bytes:
        return pay.registry_response(status, clock.t, **kw)

    mine = [
        (pay.digest(rng), size, exists)
        for i, (size, exists) in enumerate(job.blobs)
        if i % job.conns == k
    ]
    if not push:
        if k == 0:
            doc = pay.manifest(
                (pay.digest(rng), rng.randrange(1500, 9000)), [(dg, size) for dg, size, _ in mine]
            )
            request = pay.docker_request("GET", tag, host, auth=auth, accept=pay.MANIFEST_V2)
            yield from tcp.exchange(
                request, answer("200 OK", body=doc, content_type=pay.MANIFEST_V2)
            )
        for dg, size, _ in mine:
            yield from tcp.exchange(
                pay.docker_request("GET", f"{base}/blobs/{dg}", host, auth=auth),
                answer(
                    "200 OK",
                    body=env.pool.body(size, rng),
                    content_type="application/octet-stream",
                    extra=(("Docker-Content-Digest", dg),),
                ),
                rng.randrange(2000, 20000),
            )
    else:
        for dg, size, exists in mine:
            yield from _upload(tcp, env, rng, answer, f"{base}/blobs", host, auth, dg, size, exists)
        if k == 0:
            doc = pay.manifest(
                (pay.digest(rng), rng.randrange(1500, 9000)), [(dg, size) for dg, size, _ in mine]
            )
            request = pay.docker_request(
                "PUT", tag, host, auth=auth, body=doc, content_type=pay.MANIFEST_V2
            )
            yield from tcp.exchange(request, answer("201 Created", content_type=None), 20000)
    clock.t += rng.randrange(1000, 200_000)
    yield from tcp.close()


def _upload(
    tcp: Tcp,
    env: Env,
    rng: random.Random,
    answer: Callable[..., bytes],
    blobs: str,
    host: str,
    auth: str,
    dg: str,
    size: int,
    exists: bool,
) -> Iterator[Frame]:
    """One layer: HEAD; unless it exists, POST, PATCH with the blob, PUT ?digest=."""
    head = pay.docker_request("HEAD", f"{blobs}/{dg}", host, auth=auth)
    if exists:
        yield from tcp.exchange(
            head, answer("200 OK", length=size, content_type="application/octet-stream")
        )
        return
    yield from tcp.exchange(head, answer("404 Not Found", length=157))
    uuid = rng.randbytes(16).hex()
    location = f"{blobs}/uploads/{uuid}?_state={pay._b64url(rng.randbytes(90))}"
    moved = (("Location", location), ("Range", "0-0"), ("Docker-Upload-Uuid", uuid))
    yield from tcp.exchange(
        pay.docker_request("POST", f"{blobs}/uploads/", host, auth=auth),
        answer("202 Accepted", content_type=None, extra=moved),
    )
    patch = pay.docker_request(
        "PATCH",
        location,
        host,
        auth=auth,
        body=env.pool.body(size, rng),
        chunked=rng.random() < 0.5,
        content_type="application/octet-stream",
    )
    yield from tcp.exchange(
        patch, answer("202 Accepted", content_type=None, extra=(("Range", f"0-{size - 1}"),))
    )
    del patch
    yield from tcp.exchange(
        pay.docker_request("PUT", f"{location}&digest={dg.replace(':', '%3A')}", host, auth=auth),
        answer("201 Created", content_type=None, extra=(("Docker-Content-Digest", dg),)),
        rng.randrange(50_000, 300_000),
    )


def _failed_push(job: Job, env: Env, rng: random.Random) -> Iterator[Frame]:
    """The challenge, then ``job.attempts`` dials toward the realm that fail."""
    reg = job.registry
    assert reg is not None
    clock = Clock(job.start)
    if reg.name:
        yield from _lookup(clock, job.client, job.ports + 60, reg.name, reg.host, env, rng)
    if job.probe:
        yield from _probe(clock, job, reg, env, rng)
    tcp = Tcp(clock, job.client, job.ports, reg.host, reg.port, rng, env.faults, rtt_us=reg.rtt_us)
    yield from tcp.connect()
    yield from tcp.exchange(
        pay.docker_request("GET", "/v2/", reg.host_header),
        pay.challenge(clock.t, reg.realm, reg.service, close=True),
    )
    yield from tcp.close(by_server=True)
    clock.t += rng.randrange(1000, 8000)
    for attempt in range(job.attempts):
        dial = Tcp(
            clock,
            job.client,
            job.ports + 1 + attempt,
            reg.token_host,
            reg.token_port,
            rng,
            env.faults,
            rtt_us=reg.rtt_us // 2,
        )
        start = clock.t
        if reg.fate == "unreachable":
            yield from unanswered_dial(clock, dial, OLD_KERNEL_SYN_SCHEDULE, rng)
            clock.t = start + DIAL_TIMEOUT_S * 1_000_000 + UNREACHABLE_RETRY_S[attempt] * 1_000_000
        else:
            yield from dial.refused()
            clock.t = start + REFUSED_RETRY_S[attempt] * 1_000_000
        clock.t += rng.randrange(1000, 9000)


def _tls(job: Job, env: Env, rng: random.Random) -> Iterator[Frame]:
    """An HTTPS download on :443: ClientHello, ServerHello flight, then application data."""
    assert job.peer is not None
    clock = Clock(job.start)
    tcp = Tcp(
        clock,
        job.client,
        job.ports,
        job.peer,
        443,
        rng,
        env.faults,
        rtt_us=18_000,
        gap_us=job.gap_us,
    )
    yield from tcp.connect()
    yield from tcp.exchange(pay.client_hello(job.label, rng), pay.server_hello(rng), 3000)
    finished = pay.tls_record(20, b"\x01") + pay.tls_record(23, rng.randbytes(53))
    request = pay.tls_record(23, rng.randbytes(rng.randrange(200, 600)))
    size = job.blobs[0][0]
    yield from tcp.exchange(finished + request, pay.tls_app_data(size, rng, env.pool), 8000)
    yield from tcp.close()


def _ssh(job: Job, env: Env, rng: random.Random) -> Iterator[Frame]:
    """An interactive SSH session from ``job.peer`` to the client: keystrokes, echoes, output."""
    assert job.peer is not None
    clock = Clock(job.start)
    tcp = Tcp(clock, job.peer, job.ports, job.client, 22, rng, env.faults, rtt_us=400)
    yield from tcp.connect()
    yield from tcp.send(1, pay.SSH_BANNERS[0])
    yield from tcp.send(0, pay.SSH_BANNERS[1])
    while clock.t < job.end:
        clock.t += rng.randrange(50_000, 600_000)
        yield from tcp.send(0, rng.randbytes(36))
        clock.t += rng.randrange(300, 2000)
        out = rng.randbytes(36 if rng.random() < 0.9 else rng.randrange(200, 20000))
        yield from tcp.send(1, out)
    yield from tcp.close()


def _dns_noise(job: Job, env: Env, rng: random.Random) -> Iterator[Frame]:
    """The client's background lookups (some NXDOMAIN) until ``job.end``."""
    clock = Clock(job.start)
    names = job.label.split(",")
    port = job.ports
    while clock.t < job.end:
        name = rng.choice(names)
        answer = None if name.endswith(".lan") else Host(rng.randbytes(4), env.resolver.mac, 64)
        yield from _lookup(clock, job.client, port, name, answer, env, rng)
        port = job.ports + (port - job.ports + 1) % 64
        clock.t += rng.randrange(2_000_000, 20_000_000)
