"""Application payloads: HTTP as docker and Harbor write it, TLS and SSH records.

All of it is fixed text or bytes from :func:`_wire.prand`; dates come from the
packet's capture time, never the wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from email.utils import formatdate

from _wire import prand

DOCKER_UA = (
    "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/5.15.0 os/linux arch/amd64 "
    "UpstreamClient(Docker-Client/24.0.7 \\(linux\\))"
)
BASIC_ADMIN = "Basic YWRtaW46SGFyYm9yMTIzNDU="  # admin:Harbor12345
BASIC_WRONG = "Basic YWRtaW46SGFyYm9yMTIz"  # admin:Harbor123
SID_COOKIE = "sid=1735c3ed0bdb2a3d6f9b4dcba7eed257; Path=/; HttpOnly"
XSRF_COOKIE = (
    "_xsrf=VkJyYm5xYkFDM3lhU1R1ZElaS3M1UkgwblRubDBmaTI=|1655957569412034198|"
    "ca6e6c9b16e764449a4dfe0fe7ef4842d7d2551257f5fabf1e8182bb7b32943a; "
    "Expires=Thu, 23 Jun 2022 05:12:49 UTC; Max-Age=3600; Path=/"
)
UNAUTHORIZED_BODY = (
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n'
)
INVALID_CREDENTIALS_BODY = b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}\n'
SCOPE_QUERY = "scope=repository%3Alibrary%2Fweb%3Apull%2Cpush&service=harbor-registry"
TOKEN_PATH = f"/service/token?account=admin&{SCOPE_QUERY}"


def http_date(epoch_ns: int) -> str:
    return formatdate(epoch_ns // 1_000_000_000, usegmt=True)


def _message(start: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return f"{start}\r\n{head}\r\n".encode() + body


def docker_request(
    method: str,
    target: str,
    host: str,
    *,
    auth: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    content_length: bool | None = None,
    chunked: bool = False,
) -> bytes:
    """A request as Go's net/http writes it for dockerd.

    Order: Host, User-Agent, Content-Length or Transfer-Encoding, the request's
    own headers sorted, then the transport's ``Accept-Encoding: gzip`` (not on
    HEAD).
    """
    headers = [("Host", host), ("User-Agent", DOCKER_UA)]
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    elif content_length or (content_length is None and method in {"POST", "PUT", "PATCH"}):
        headers.append(("Content-Length", str(len(body))))
    if auth:
        headers.append(("Authorization", auth))
    if content_type:
        headers.append(("Content-Type", content_type))
    if method != "HEAD":
        headers.append(("Accept-Encoding", "gzip"))
    return _message(f"{method} {target} HTTP/1.1", headers, chunked_body(body) if chunked else body)


def chunked_body(body: bytes, size: int = 32768) -> bytes:
    """Go's chunked writer fed by io.Copy's 32 KiB buffer."""
    parts = [
        f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def harbor_response(
    status: str,
    epoch_ns: int,
    *,
    body: bytes = b"",
    content_length: int | None = None,
    content_type: str | None = "application/json; charset=utf-8",
    close: bool = False,
    registry: bool = True,
    cookies: tuple[str, ...] = (SID_COOKIE,),
    extra: tuple[tuple[str, str], ...] = (),
    unique_id: str | None = None,
) -> bytes:
    """A response through Harbor's nginx (headers in the seed's order)."""
    headers = [("Server", "unknown"), ("Date", http_date(epoch_ns))]
    if content_type:
        headers.append(("Content-Type", content_type))
    headers.append(("Content-Length", str(len(body) if content_length is None else content_length)))
    headers.append(("Connection", "close" if close else "keep-alive"))
    if registry:
        headers.append(("Docker-Distribution-Api-Version", "registry/2.0"))
    headers += [("Set-Cookie", c) for c in cookies]
    headers += list(extra)
    if unique_id:
        headers.append(("unique-id", unique_id))
    return _message(f"HTTP/1.1 {status}", headers, body)


SEED_UNIQUE_ID = "1f5e7df45053042ae89b686edbe776d9"


def challenge_401(epoch_ns: int, realm: str, *, close: bool = True) -> bytes:
    """The registry's answer to ``GET /v2/`` without credentials, as in the seed."""
    return harbor_response(
        "401 Unauthorized",
        epoch_ns,
        body=UNAUTHORIZED_BODY,
        close=close,
        cookies=(SID_COOKIE, XSRF_COOKIE),
        extra=(("Www-Authenticate", f'Bearer realm="{realm}",service="harbor-registry"'),),
        unique_id=SEED_UNIQUE_ID,
    )


def nginx_400(epoch_ns: int) -> bytes:
    """What the plain-HTTP front answers to a TLS ClientHello (docker's HTTPS probe)."""
    body = (
        b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
        b"<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )
    headers = [
        ("Server", "unknown"),
        ("Date", http_date(epoch_ns)),
        ("Content-Type", "text/html"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return _message("HTTP/1.1 400 Bad Request", headers, body)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(issued_at: int, *, audience: str = "harbor-registry", x5c: bool = False) -> str:
    """A JWT-shaped token (RS256 header, Distribution claims, fake signature).

    With ``x5c`` the header carries a (fake, 1.5 KB) certificate as Distribution 2.8
    accepts it: the token is then ~2.2 KB, and a token response holding it twice is
    longer than the body prefix the analyzer keeps (a case the lab's real capture showed).
    """
    header: dict[str, object] = {
        "typ": "JWT",
        "alg": "RS256",
        "kid": "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6",
    }
    if x5c:
        del header["kid"]
        header["x5c"] = [base64.b64encode(prand(f"certificate {issued_at}", 1100)).decode()]
    claims = {
        "iss": "harbor-token-issuer",
        "sub": "admin",
        "aud": audience,
        "exp": issued_at + 1800,
        "nbf": issued_at,
        "iat": issued_at,
        "jti": prand(f"jti {issued_at}", 8).hex(),
        "access": [{"type": "repository", "name": "library/web", "actions": ["pull", "push"]}],
    }
    parts = [
        _b64url(json.dumps(header, separators=(",", ":")).encode()),
        _b64url(json.dumps(claims, separators=(",", ":")).encode()),
        _b64url(prand(f"signature {issued_at}", 256)),
    ]
    return ".".join(parts)


def token_body(token: str, issued_at: str) -> bytes:
    doc = {"token": token, "access_token": token, "expires_in": 1800, "issued_at": issued_at}
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def layer_blob(size: int) -> bytes:
    """A gzip-looking layer: gzip header, then fixed pseudo-random bytes."""
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + prand("layer web:1.1.0", size - 10)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ TLS


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _vec8(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def _vec16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def tls_record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def client_hello(label: str, sni: str | None = None, alpn: tuple[str, ...] = ()) -> bytes:
    """A TLS 1.3-capable ClientHello record like Go 1.20 sends (X25519 key share)."""
    suites = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC009, 0xC013, 0xC00A, 0xC014,
              0x009C, 0x009D, 0x002F, 0x0035, 0xC012, 0x000A, 0x1301, 0x1302, 0x1303)  # fmt: skip
    exts = b""
    if sni:
        name = sni.encode()
        exts += _ext(0, _vec16(b"\x00" + _vec16(name)))
    exts += _ext(5, b"\x01\x00\x00\x00\x00")  # status_request
    exts += _ext(10, _vec16(struct.pack("!4H", 0x001D, 0x0017, 0x0018, 0x0019)))
    exts += _ext(11, b"\x01\x00")  # ec_point_formats: uncompressed
    sig_algs = (
        0x0804,
        0x0403,
        0x0807,
        0x0805,
        0x0806,
        0x0401,
        0x0501,
        0x0601,
        0x0503,
        0x0603,
        0x0201,
        0x0203,
    )
    exts += _ext(13, _vec16(struct.pack(f"!{len(sig_algs)}H", *sig_algs)))
    exts += _ext(0xFF01, b"\x00")  # renegotiation_info
    if alpn:
        exts += _ext(16, _vec16(b"".join(_vec8(p.encode()) for p in alpn)))
    exts += _ext(18, b"")  # signed_certificate_timestamp
    exts += _ext(43, _vec8(struct.pack("!2H", 0x0304, 0x0303)))
    exts += _ext(51, _vec16(struct.pack("!HH", 0x001D, 32) + prand(f"{label} x25519 c", 32)))
    body = (
        b"\x03\x03"
        + prand(f"{label} client random", 32)
        + _vec8(prand(f"{label} session id", 32))
        + _vec16(struct.pack(f"!{len(suites)}H", *suites))
        + b"\x01\x00"
        + _vec16(exts)
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return tls_record(22, handshake, version=0x0301)


def server_hello_flight(label: str, encrypted_sizes: tuple[int, ...]) -> bytes:
    """ServerHello, ChangeCipherSpec, then encrypted handshake records."""
    exts = _ext(43, b"\x03\x04") + _ext(
        51, struct.pack("!HH", 0x001D, 32) + prand(f"{label} x25519 s", 32)
    )
    body = (
        b"\x03\x03"
        + prand(f"{label} server random", 32)
        + _vec8(prand(f"{label} session id", 32))
        + b"\x13\x01\x00"
        + _vec16(exts)
    )
    out = tls_record(22, b"\x02" + len(body).to_bytes(3, "big") + body)
    out += tls_record(20, b"\x01")
    for k, size in enumerate(encrypted_sizes):
        out += tls_record(23, prand(f"{label} server hs {k}", size))
    return out


def tls_app_data(label: str, *sizes: int) -> bytes:
    return b"".join(tls_record(23, prand(f"{label} {k}", n)) for k, n in enumerate(sizes))


# ------------------------------------------------------------------ SSH


def ssh_packet(label: str, payload_len: int) -> bytes:
    """An encrypted SSH binary packet (chacha20-poly1305: 4-byte length + 16-byte tag)."""
    return prand(f"ssh {label}", 4 + payload_len + 16)


def ssh_binary(label: str, payload: bytes) -> bytes:
    """A cleartext SSH binary packet (RFC 4253 §6), as sent before NEWKEYS."""
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    return (
        struct.pack("!IB", len(payload) + padding + 1, padding)
        + payload
        + prand(f"pad {label}", padding)
    )


def _ssh_string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def ssh_kexinit(label: str, kex: str, hostkeys: str, ciphers: str) -> bytes:
    """SSH_MSG_KEXINIT (RFC 4253 §7.1)."""
    macs = "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256"
    lists = [
        kex,
        hostkeys,
        ciphers,
        ciphers,
        macs,
        macs,
        "none,zlib@openssh.com",
        "none,zlib@openssh.com",
        "",
        "",
    ]
    payload = (
        b"\x14"
        + prand(f"ssh cookie {label}", 16)
        + b"".join(_ssh_string(x.encode()) for x in lists)
    )
    return ssh_binary(f"kexinit {label}", payload + b"\x00\x00\x00\x00\x00")


def ssh_ecdh_init(label: str) -> bytes:
    """SSH_MSG_KEX_ECDH_INIT with the client's X25519 key."""
    return ssh_binary(f"ecdh init {label}", b"\x1e" + _ssh_string(prand(f"ssh q_c {label}", 32)))


def ssh_ecdh_reply_newkeys(label: str) -> bytes:
    """SSH_MSG_KEX_ECDH_REPLY (ed25519 host key, X25519 key, signature) then SSH_MSG_NEWKEYS.

    (tshark 4.0 warns "Decoded 19 bytes, but packet legnth is 83 bytes" on any
    ed25519 signature: its dissector does not count the signature bytes.)
    """
    hostkey = _ssh_string(b"ssh-ed25519") + _ssh_string(prand(f"ssh host key {label}", 32))
    signature = _ssh_string(b"ssh-ed25519") + _ssh_string(prand(f"ssh signature {label}", 64))
    reply = (
        b"\x1f"
        + _ssh_string(hostkey)
        + _ssh_string(prand(f"ssh q_s {label}", 32))
        + _ssh_string(signature)
    )
    return ssh_binary(f"ecdh reply {label}", reply) + ssh_binary(f"newkeys s {label}", b"\x15")


def ssh_newkeys(label: str) -> bytes:
    return ssh_binary(f"newkeys c {label}", b"\x15")


# ------------------------------------------------------------------ NTP

NTP_EPOCH_OFFSET = 2_208_988_800  # 1900-01-01 → 1970-01-01


def _ntp_time(epoch_ns: int) -> bytes:
    seconds, ns = divmod(epoch_ns, 1_000_000_000)
    return struct.pack("!II", seconds + NTP_EPOCH_OFFSET, (ns << 32) // 1_000_000_000)


def ntp_request(label: str) -> bytes:
    """systemd-timesyncd's SNTP request: v4 client, a random-looking transmit time."""
    return b"\x23" + b"\0" * 39 + prand(f"ntp {label}", 8)


def ntp_response(request: bytes, received_ns: int, sent_ns: int) -> bytes:
    """A stratum-2 server's reply echoing the request's transmit time as origin."""
    head = struct.pack("!BBbb", 0x24, 2, 6, -23) + struct.pack("!II", 0x0000_0F3A, 0x0000_1B2C)
    refid = bytes([192, 0, 2, 123])
    return (
        head
        + refid
        + _ntp_time(received_ns - 7_311_000_000_000)
        + request[40:48]
        + _ntp_time(received_ns)
        + _ntp_time(sent_ns)
    )
