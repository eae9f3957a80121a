"""Write captures/secrets/push-with-secrets.pcap: a push over plain HTTP full of credentials.

    python captures/secrets/generate.py [--out DIR] [--check]

Every secret is a distinct, greppable string (listed in ``SECRETS`` with where
it travels), so ``tests/hostile/test_secrets.py`` can check that no output of
any command or format shows one unless ``--show-secrets`` is given. Packets
are built with the damaged corpus's byte-level builders
(``captures/broken/_build.py``); nothing reads a clock or a random source.

The push: ``GET /v2/`` → 401 whose Bearer realm carries a user name and password
(``http://realmbot:…@180.119.140.231:8201/service/token``), with a session
cookie; ``GET /v2/`` again with ``Authorization: Basic`` and the cookie → 401;
the token request to the realm (Basic credentials, cookie, ``account=``,
``password=`` and ``token=`` in the query) → 200 with ``token``,
``access_token`` and ``refresh_token``; then on the registry, with Bearer
tokens: HEAD blob → 200, manifest PUT → 201, and a catalog GET carrying
``token=`` and ``password=`` in its query → 200.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "broken"))

from _build import ACK, FIN, REGISTRY, Conn, Trace, pcap  # noqa: E402

NAME = "push-with-secrets.pcap"
REALM_HOST = "180.119.140.231"
REALM_PORT = 8201

REALM_USER, REALM_PASSWORD = "realmbot", "Realm-Pa55-7f3e9c"
USER, PASSWORD = "ci-robot", "Basic-Pa55-c41d2b"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "eyJhbGciOiJSUzI1NiJ9.VG9rZW4tUGF5bG9hZC0xMTE.U2lnLTExMWFhYWJiYg"
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.QWNjZXNzLVBheWxvYWQtMjIy.U2lnLTIyMmNjY2RkZA"
REFRESH_TOKEN = "Refresh-Tok-1e2f3a4b5c"
SESSION_COOKIE = "Cookie-Sid-0a1b2c3d4e"
XSRF_COOKIE = "Xsrf-Tok-77aa88bb99"
QUERY_PASSWORD = "Query-Pa55-9d8e7f"
QUERY_TOKEN = "Query-Tok-5a6b7c"

REALM = f"http://{REALM_USER}:{REALM_PASSWORD}@{REALM_HOST}:{REALM_PORT}/service/token"
SCOPE = "scope=repository%3Alibrary%2Fweb%3Apull%2Cpush&service=harbor-registry"
TOKEN_TARGET = (
    f"/service/token?account={USER}&{SCOPE}&password={QUERY_PASSWORD}&token={QUERY_TOKEN}"
)
CATALOG_TARGET = f"/v2/_catalog?n=100&token={QUERY_TOKEN}&password={QUERY_PASSWORD}"

# Where each secret travels. "shown": what `--show-secrets` makes visible (pushcap keeps
# URLs with their query and userinfo); the others are never kept by the analyzer at all.
SECRETS: dict[str, tuple[str, bool]] = {
    REALM_PASSWORD: ("password in the realm URL's userinfo, in both 401 challenges", True),
    USER: ("`account=` of the token request (and the Basic credentials' user name)", True),
    QUERY_PASSWORD: ("`password=` in the token request's and the catalog request's query", True),
    QUERY_TOKEN: ("`token=` in the token request's and the catalog request's query", True),
    BASIC: ("`Authorization: Basic` on the registry and the realm", False),
    PASSWORD: ("the password inside the Basic credentials", False),
    TOKEN: ("`token` of the token response; Bearer on the blob HEAD", False),
    ACCESS_TOKEN: ("`access_token` of the token response; Bearer on the manifest PUT", False),
    REFRESH_TOKEN: ("`refresh_token` of the token response", False),
    SESSION_COOKIE: ("Set-Cookie of the registry's 401, Cookie on later requests", False),
    XSRF_COOKIE: ("Set-Cookie of the token response, Cookie on the manifest PUT", False),
}


def request(method: str, target: str, host: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "User-Agent: docker/24.0.7"]
    if body or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode() + body


def response(status: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build() -> bytes:
    trace = Trace()
    registry = f"{REGISTRY}:8200"
    api = "Docker-Distribution-Api-Version: registry/2.0"
    challenge = f'Www-Authenticate: Bearer realm="{REALM}",service="harbor-registry"'
    unauthorized = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'

    reg = Conn(trace, REGISTRY, 8200, 52110)
    reg.handshake()
    reg.request(request("GET", "/v2/", registry))
    reg.respond(response("401 Unauthorized", api, challenge,
                         f"Set-Cookie: sid={SESSION_COOKIE}; Path=/; HttpOnly", body=unauthorized))  # fmt: skip
    reg.request(request("GET", "/v2/", registry, f"Authorization: Basic {BASIC}",
                        f"Cookie: sid={SESSION_COOKIE}"))  # fmt: skip
    reg.respond(response("401 Unauthorized", api, challenge, body=unauthorized))

    realm = Conn(trace, REALM_HOST, REALM_PORT, 40100)
    realm.handshake()
    realm.request(request("GET", TOKEN_TARGET, f"{REALM_HOST}:{REALM_PORT}",
                          f"Authorization: Basic {BASIC}", f"Cookie: sid={SESSION_COOKIE}"))  # fmt: skip
    issued = {"token": TOKEN, "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
              "expires_in": 1800, "issued_at": "2022-06-23T04:12:41Z"}  # fmt: skip
    realm.respond(response("200 OK", "Content-Type: application/json",
                           f"Set-Cookie: _xsrf={XSRF_COOKIE}; Path=/",
                           body=json.dumps(issued).encode()))  # fmt: skip
    realm.close()

    push = Conn(trace, REGISTRY, 8200, 52114)
    push.handshake()
    blob = "/v2/library/web/blobs/sha256:" + "b8" * 32
    push.request(request("HEAD", blob, registry, f"Authorization: Bearer {TOKEN}"))
    push.respond(response("200 OK", api))
    manifest = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}'
    )
    push.request(request("PUT", "/v2/library/web/manifests/1.1.0", registry,
                         f"Authorization: Bearer {ACCESS_TOKEN}",
                         f"Cookie: sid={SESSION_COOKIE}; _xsrf={XSRF_COOKIE}", body=manifest))  # fmt: skip
    push.respond(response("201 Created", api))
    push.request(request("GET", CATALOG_TARGET, registry, f"Authorization: Bearer {TOKEN}"))
    push.respond(response("200 OK", api, body=b'{"repositories":["library/web"]}'))
    push.c(FIN | ACK)
    push.s(FIN | ACK)
    push.c(ACK)
    reg.c(FIN | ACK)
    reg.s(FIN | ACK)
    reg.c(ACK)
    return pcap(trace.frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    data = build()
    path = args.out / NAME
    if args.check:
        same = path.is_file() and path.read_bytes() == data
        if not same:
            print(f"{path} differs from a fresh run of generate.py", file=sys.stderr)
        return 0 if same else 1
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
