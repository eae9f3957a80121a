"""The lab's token service: what Harbor core does at /service/token, and the ways it fails.

    python -m lab.token_service --listen 172.16.200.100:8200 --key K --cert C \\
        --issuer ISS --service harbor-registry --account admin --password PW \\
        [--fail 401|403|500] [--key-id x5c|libtrust|rfc7638]

``GET /service/token?service=…&scope=…&account=…`` with ``Authorization:
Basic`` answers 200 with ``{"token","access_token","expires_in","issued_at"}``
granting every scope asked for, when the credentials match; a wrong password
gets 401 with Harbor's JSON error. ``--fail`` answers every token request
with that status instead (a broken or overloaded token service). One JSON
line per request on stdout, for the lab's logs.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab.jwt import LIFETIME_S, Access, Signer

TOKEN_PATH = "/service/token"
ERROR_BODIES = {
    401: ("UNAUTHORIZED", "authentication required"),
    403: ("DENIED", "requested access to the resource is denied"),
    500: ("UNKNOWN", "internal server error"),
}


@dataclass(frozen=True, slots=True)
class Policy:
    signer: Signer
    service: str
    account: str
    password: str
    fail: int | None = None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def answer(policy: Policy, path: str, authorization: str | None, now: float) -> tuple[int, Any]:
    """Status and JSON body for one token request (pure, so tests call it directly)."""
    url = urlsplit(path)
    if url.path != TOKEN_PATH:
        return 404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]}
    if policy.fail is not None:
        code, message = ERROR_BODIES.get(policy.fail, ("UNKNOWN", "error"))
        return policy.fail, {"errors": [{"code": code, "message": message}]}
    query = parse_qs(url.query)
    if query.get("service", [""])[0] != policy.service:
        return 400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]}
    if basic_credentials(authorization) != (policy.account, policy.password):
        code, message = ERROR_BODIES[401]
        return 401, {"errors": [{"code": code, "message": message}]}
    access = [
        a for s in query.get("scope", []) for part in s.split(" ") if (a := Access.from_scope(part))
    ]
    token = policy.signer.issue(policy.account, policy.service, access, int(now))
    issued = datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return 200, {
        "token": token,
        "access_token": token,
        "expires_in": LIFETIME_S,
        "issued_at": issued,
    }


def handler_for(policy: Policy) -> type[BaseHTTPRequestHandler]:
    class TokenHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Harbor's core speaks it
        server_version = "pushcap-lab-token"
        sys_version = ""

        def do_GET(self) -> None:
            status, body = answer(policy, self.path, self.headers.get("Authorization"), time.time())
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("Www-Authenticate", 'Basic realm="pushcap-lab"')
            self.end_headers()
            self.wfile.write(data)
            _say(event="token_request", path=urlsplit(self.path).path, status=status)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # do_GET writes one JSON line per request instead

    return TokenHandler


def _say(**fields: Any) -> None:
    print(json.dumps({"t": round(time.time(), 6), **fields}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.token_service", description=__doc__)
    parser.add_argument("--listen", required=True, help="ADDR:PORT")
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--account", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--fail", type=int, choices=sorted(ERROR_BODIES))
    parser.add_argument("--key-id", choices=("x5c", "libtrust", "rfc7638"), default="x5c")
    args = parser.parse_args(argv)
    addr, _, port = args.listen.rpartition(":")
    signer = Signer(args.key, args.cert, args.issuer, args.key_id)
    policy = Policy(signer, args.service, args.account, args.password, args.fail)
    server = ThreadingHTTPServer((addr, int(port)), handler_for(policy))
    server.daemon_threads = True
    _say(event="ready", listen=args.listen, fail=args.fail, key_id=args.key_id)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
