"""Payload bytes for the benchmark generator: HTTP as docker and registries write it, DNS, TLS, SSH.

Everything random comes from the ``random.Random`` passed in (the job's own),
so a seed gives the same bytes on every run. Blob bodies are slices of one
pool of random bytes made once per capture (:class:`BlobPool`), so a
multi-megabyte upload costs a slice, not a random draw per byte. Dates come
from the capture clock, never the wall clock.
"""

from __future__ import annotations

import base64
import json
import random
import struct
from email.utils import formatdate

EPOCH_S = 1_710_234_000  # 2024-03-12 09:00:00 UTC: time 0 of every generated capture
DOCKER_UA = (
    "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0 os/linux arch/amd64 "
    "UpstreamClient(Docker-Client/24.0.7 \\(linux\\))"
)
BASIC_AUTH = "Basic cm9ib3QkY2k6Q2lSb2JvdFNlY3JldDE="  # robot$ci:CiRobotSecret1
UNAUTHORIZED = (
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n'
)
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
SSH_BANNERS = (b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n", b"SSH-2.0-OpenSSH_8.9p1\r\n")


def http_date(t_us: int) -> str:
    return formatdate(EPOCH_S + t_us // 1_000_000, usegmt=True)


def message(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return f"{start}\r\n{head}\r\n".encode() + body


def docker_request(
    method: str,
    target: str,
    host: str,
    *,
    auth: str | None = None,
    body: bytes = b"",
    chunked: bool = False,
    content_type: str | None = None,
    accept: str | None = None,
) -> bytes:
    """A request as Go's net/http writes it for dockerd (Host, User-Agent, length, sorted rest)."""
    headers = [("Host", host), ("User-Agent", DOCKER_UA)]
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        body = chunked_body(body)
    elif method in {"POST", "PUT", "PATCH"}:
        headers.append(("Content-Length", str(len(body))))
    if accept:
        headers.append(("Accept", accept))
    if auth:
        headers.append(("Authorization", auth))
    if content_type:
        headers.append(("Content-Type", content_type))
    if method != "HEAD":
        headers.append(("Accept-Encoding", "gzip"))
    return message(f"{method} {target} HTTP/1.1", headers, body)


def chunked_body(body: bytes, size: int = 32768) -> bytes:
    """Go's chunked writer fed by io.Copy's 32 KiB buffer."""
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def registry_response(
    status: str,
    t_us: int,
    *,
    body: bytes = b"",
    length: int | None = None,
    content_type: str | None = "application/json; charset=utf-8",
    close: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A registry response: nginx in front of Harbor or Distribution (``length`` for HEAD)."""
    headers = [("Server", "nginx"), ("Date", http_date(t_us))]
    if content_type:
        headers.append(("Content-Type", content_type))
    headers.append(("Content-Length", str(len(body) if length is None else length)))
    headers.append(("Connection", "close" if close else "keep-alive"))
    headers.append(("Docker-Distribution-Api-Version", "registry/2.0"))
    headers += list(extra)
    return message(f"HTTP/1.1 {status}", headers, body)


def challenge(t_us: int, realm: str, service: str, *, close: bool) -> bytes:
    return registry_response(
        "401 Unauthorized",
        t_us,
        body=UNAUTHORIZED,
        close=close,
        extra=(("Www-Authenticate", f'Bearer realm="{realm}",service="{service}"'),),
    )


def token_query(repo: str, service: str, actions: str) -> str:
    scope = f"repository%3A{repo.replace('/', '%2F')}%3A{actions.replace(',', '%2C')}"
    return f"?account=robot%24ci&scope={scope}&service={service}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_response(t_us: int, rng: random.Random) -> bytes:
    """``200`` with a JWT-shaped token (random claims and signature) as JSON."""
    token = ".".join(_b64url(rng.randbytes(n)) for n in (96, 300, 256))
    issued = f"{http_date(t_us)}"
    doc = {"token": token, "access_token": token, "expires_in": 1800, "issued_at": issued}
    body = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
    return registry_response("200 OK", t_us, body=body, content_type="application/json")


def digest(rng: random.Random) -> str:
    return "sha256:" + rng.randbytes(32).hex()


def manifest(config: tuple[str, int], layers: list[tuple[str, int]]) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config[1],
            "digest": config[0],
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": s,
                "digest": d,
            }
            for d, s in layers
        ],
    }
    return json.dumps(doc, indent=3).encode()


class BlobPool:
    """Random bytes that blob bodies are cut from (a gzip header, then a slice of the pool)."""

    SIZE = 16 << 20

    def __init__(self, rng: random.Random) -> None:
        self.data = rng.randbytes(self.SIZE)

    def body(self, size: int, rng: random.Random) -> bytes:
        size = max(size, 16)
        if size > self.SIZE - 10:
            reps = size // self.SIZE + 1
            return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + self.data * reps)[:size]
        start = rng.randrange(self.SIZE - size)
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + self.data[start : start + size - 10]


# ------------------------------------------------------------------ DNS

A, AAAA = 1, 28


def _qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(txid: int, name: str, qtype: int) -> bytes:
    return (
        struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 1)
        + _qname(name)
        + struct.pack("!HH", qtype, 1)
        + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
    )


def dns_answer(txid: int, name: str, qtype: int, addresses: list[bytes], rcode: int = 0) -> bytes:
    """A resolver's answer: the question, then one A/AAAA record per address (TTL 300)."""
    question = _qname(name) + struct.pack("!HH", qtype, 1)
    records = b"".join(struct.pack("!HHHIH", 0xC00C, qtype, 1, 300, len(a)) + a for a in addresses)
    head = struct.pack("!HHHHHH", txid, 0x8180 | rcode, 1, len(addresses), 0, 1)
    return head + question + records + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"


# ------------------------------------------------------------------ TLS


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _vec16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def tls_record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def client_hello(sni: str, rng: random.Random) -> bytes:
    """A TLS 1.3-capable ClientHello record (SNI, groups, signatures, versions, X25519 share)."""
    suites = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8)
    exts = _ext(0, _vec16(b"\x00" + _vec16(sni.encode())))
    exts += _ext(10, _vec16(struct.pack("!3H", 0x001D, 0x0017, 0x0018)))
    exts += _ext(11, b"\x01\x00")
    exts += _ext(13, _vec16(struct.pack("!6H", 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501)))
    exts += _ext(16, _vec16(b"\x02h2\x08http/1.1"))
    exts += _ext(43, b"\x04\x03\x04\x03\x03")
    exts += _ext(51, _vec16(struct.pack("!HH", 0x001D, 32) + rng.randbytes(32)))
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _vec16(struct.pack(f"!{len(suites)}H", *suites))
        + b"\x01\x00"
        + _vec16(exts)
    )
    return tls_record(22, b"\x01" + len(body).to_bytes(3, "big") + body, version=0x0301)


def server_hello(rng: random.Random) -> bytes:
    """ServerHello (TLS 1.3), ChangeCipherSpec, then the encrypted handshake records."""
    exts = _ext(43, b"\x03\x04") + _ext(51, struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))
    body = b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + b"\x13\x01\x00"
    body += _vec16(exts)
    out = tls_record(22, b"\x02" + len(body).to_bytes(3, "big") + body)
    out += tls_record(20, b"\x01")
    for size in (rng.randrange(2500, 4500), 281, 53):
        out += tls_record(23, rng.randbytes(size))
    return out


def tls_app_data(total: int, rng: random.Random, pool: BlobPool) -> bytes:
    """``total`` bytes of application data in records of at most 16 KiB + tag."""
    data = pool.body(total, rng)
    return b"".join(tls_record(23, data[i : i + 16401]) for i in range(0, len(data), 16401))
