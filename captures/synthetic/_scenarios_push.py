"""Captures where the realm answers: two healthy pushes and a refused password."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from _payloads import (
    BASIC_ADMIN,
    BASIC_WRONG,
    INVALID_CREDENTIALS_BODY,
    TOKEN_PATH,
    docker_request,
    harbor_response,
    jwt,
    layer_blob,
    sha256_digest,
    token_body,
)
from _scenarios import GW_MAC, PORT, REALM_SAME, REGISTRY_HOSTPORT, start_docker
from _wire import MS, NS, US, Capture, Host, TcpConn, prand

TOKEN_HOST = Host("180.119.140.231", GW_MAC, 52)
REALM_SEPARATE = "http://180.119.140.231:8201/service/token"
REPO = "/v2/library/web"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["nginx"]}}).encode()


def _uuid(label: str) -> str:
    h = prand(label, 16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _state(label: str) -> str:
    return prand(label, 96).hex()


def _token_exchange(
    conn: TcpConn,
    t: int,
    host: str,
    *,
    auth: str = BASIC_ADMIN,
    mark: str = "token response 200",
    x5c: bool = False,
) -> tuple[str, int]:
    """GET <realm>?… with Basic credentials → 200 with a JWT; returns the token and the end time."""
    epoch = conn.cap.epoch_ns
    issued = (epoch + t) // NS
    token = jwt(issued, x5c=x5c)
    stamp = datetime.fromtimestamp(issued, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = token_body(token, stamp)
    request = docker_request("GET", TOKEN_PATH, host, auth=auth)
    response = harbor_response("200 OK", epoch + t, body=body, registry=False)
    t = conn.exchange(
        t,
        request,
        response,
        proc=3_180 * US,
        mark_request="token request (GET realm)",
        mark_response=mark,
    )
    return token, t


def _bearer_exchange(
    conn: TcpConn,
    t: int,
    method: str,
    target: str,
    token: str,
    status: str,
    label: str,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    resp_body: bytes = b"",
    resp_length: int | None = None,
    resp_type: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    proc: int = 2_400 * US,
) -> int:
    request = docker_request(
        method,
        target,
        REGISTRY_HOSTPORT,
        auth=f"Bearer {token}",
        body=body,
        content_type=content_type,
    )
    response = harbor_response(
        status,
        conn.cap.epoch_ns + t,
        body=resp_body,
        content_length=resp_length,
        content_type=resp_type,
        extra=extra,
    )
    return conn.exchange(
        t,
        request,
        response,
        proc=proc,
        mark_request=label,
        mark_response=f"{label} → {status.split(maxsplit=1)[0]}",
    )


def _blob_exists(conn: TcpConn, t: int, token: str, blob: bytes, label: str) -> int:
    digest = sha256_digest(blob)
    extra = (
        ("Accept-Ranges", "bytes"),
        ("Cache-Control", "max-age=31536000"),
        ("Docker-Content-Digest", digest),
        ("Etag", f'"{digest}"'),
    )
    return _bearer_exchange(
        conn, t, "HEAD", f"{REPO}/blobs/{digest}", token, "200 OK", label,
        resp_length=len(blob), resp_type="application/octet-stream", extra=extra,
    )  # fmt: skip


def _manifest(blob: bytes) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(CONFIG),
            "digest": sha256_digest(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(blob),
                "digest": sha256_digest(blob),
            }
        ],
    }
    return json.dumps(doc, indent=3).encode()


def _put_manifest(conn: TcpConn, t: int, token: str, blob: bytes) -> int:
    manifest = _manifest(blob)
    digest = sha256_digest(manifest)
    extra = (
        ("Docker-Content-Digest", digest),
        ("Location", f"http://{REGISTRY_HOSTPORT}{REPO}/manifests/{digest}"),
    )
    return _bearer_exchange(
        conn, t, "PUT", f"{REPO}/manifests/1.1.0", token, "201 Created", "PUT manifest",
        body=manifest, content_type=MANIFEST_TYPE, resp_type=None, extra=extra, proc=9_870 * US,
    )  # fmt: skip


def healthy_push() -> Capture:
    """Realm on the registry's own host:port; one layer (300 KiB) and the manifest pushed."""
    d, conn, t = start_docker(REALM_SAME, close=False)
    token, t = _token_exchange(conn, t + 1_213 * US, REGISTRY_HOSTPORT)
    blob = layer_blob(300 * 1024)
    digest = sha256_digest(blob)
    unknown = json.dumps(
        {
            "errors": [
                {"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": digest}
            ]
        },
        separators=(",", ":"),
    ).encode()
    t = _bearer_exchange(
        conn, t + 18 * MS, "HEAD", f"{REPO}/blobs/{digest}", token, "404 Not Found", "HEAD layer blob",
        resp_length=len(unknown) + 1, resp_type="application/json; charset=utf-8",
    )  # fmt: skip
    uuid = _uuid("upload")
    location = f"{REPO}/blobs/uploads/{uuid}?_state={_state('state 1')}"
    upload = (
        ("Docker-Upload-Uuid", uuid),
        ("Location", f"http://{REGISTRY_HOSTPORT}{location}"),
        ("Range", "0-0"),
    )
    t = _bearer_exchange(
        conn,
        t + 640 * US,
        "POST",
        f"{REPO}/blobs/uploads/",
        token,
        "202 Accepted",
        "POST upload",
        extra=upload,
    )

    # PATCH: chunked body, full-size segments in slow-start flights.
    t_patch = t + 310 * US
    request = docker_request(
        "PATCH", location, REGISTRY_HOSTPORT, auth=f"Bearer {token}", body=blob,
        content_type="application/octet-stream", chunked=True,
    )  # fmt: skip
    conn.cap.mark(
        "PATCH upload (Bearer, chunked) first segment",
        conn.seg(0, t_patch, "A", request[: conn.seg_size]),
    )
    t_last = conn.bulk(
        0, t_patch + 58 * US, request[conn.seg_size :], mark="PATCH upload last segment"
    )
    location2 = f"{REPO}/blobs/uploads/{uuid}?_state={_state('state 2')}"
    accepted = harbor_response(
        "202 Accepted", conn.cap.epoch_ns + t_last, content_type=None,
        extra=(("Docker-Upload-Uuid", uuid), ("Location", f"http://{REGISTRY_HOSTPORT}{location2}"),
               ("Range", f"0-{len(blob) - 1}")),
    )  # fmt: skip
    t = conn.send(1, conn.turn(t_last, 1, 7_420 * US), accepted, mark="PATCH → 202")
    t = conn.turn(t, 0, 45 * US)
    conn.ack(0, t)

    # Meanwhile a second connection checks the config blob (already there).
    conn2 = TcpConn(d.cap, conn.a, conn.b, 52114, PORT, conn.rtt)
    t2 = conn2.connect(t_patch + 2_110 * US)
    t2 = _blob_exists(conn2, t2 + 190 * US, token, CONFIG, "HEAD config blob")

    created = (
        ("Docker-Content-Digest", digest),
        ("Docker-Upload-Uuid", uuid),
        ("Location", f"http://{REGISTRY_HOSTPORT}{REPO}/blobs/{digest}"),
    )
    target = f"{location2}&digest={digest.replace(':', '%3A')}"
    t = _bearer_exchange(
        conn, t + 1_020 * US, "PUT", target, token, "201 Created", "PUT blob ?digest=",
        content_type="application/octet-stream", extra=created, proc=21_300 * US,
    )  # fmt: skip
    _put_manifest(conn2, max(t, t2) + 2_870 * US, token, blob)
    return d.cap


def healthy_push_separate_realm(x5c: bool = False) -> Capture:
    """Realm on another reachable host (180.119.140.231:8201); layer exists, manifest pushed."""
    d, conn, t = start_docker(REALM_SEPARATE, close=False)
    tconn = d.conn(52120, TOKEN_HOST, 8201, 31_240 * US)
    t = tconn.connect(t + 1_304 * US)
    token, t = _token_exchange(tconn, t + 160 * US, "180.119.140.231:8201", x5c=x5c)
    blob = layer_blob(300 * 1024)
    t = _blob_exists(conn, t + 15 * MS, token, blob, "HEAD layer blob")
    t = _blob_exists(conn, t + 410 * US, token, CONFIG, "HEAD config blob")
    _put_manifest(conn, t + 2_870 * US, token, blob)
    return d.cap


def healthy_push_large_token() -> Capture:
    """As healthy_push_separate_realm, with a ~4.6 KB token response (x5c JWT, sent twice)."""
    return healthy_push_separate_realm(x5c=True)


def token_request_denied() -> Capture:
    """The realm (the registry itself) answers the token request 401: wrong password."""
    d, conn, t = start_docker(REALM_SAME, close=False)
    request = docker_request("GET", TOKEN_PATH, REGISTRY_HOSTPORT, auth=BASIC_WRONG)
    response = harbor_response(
        "401 Unauthorized", d.cap.epoch_ns + t, body=INVALID_CREDENTIALS_BODY, registry=False
    )
    conn.exchange(
        t + 1_213 * US, request, response, proc=3_020 * US,
        mark_request="token request (GET realm, wrong password)", mark_response="token response 401",
    )  # fmt: skip
    return d.cap
