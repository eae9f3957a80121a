"""HTTP exchanges on a TCP connection: requests paired with their responses.

How this works: each direction of a connection gets an
:class:`~analyzer.http.parser.HttpStreamParser` in "auto" role, fed by the
reassembler. Requests seen in one direction queue up (bounded) and tell the
other direction's parser which method each response answers, so a response to
HEAD is framed without a body. A final response pops the oldest request; when
its body ends, the pair becomes an :class:`Exchange`. Only facts the detectors
need are kept: the challenge, the scheme of any Authorization header (never
its value), whether a token came back and its lifetime (never the token).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from analyzer.http.auth import Challenge, parse_challenges
from analyzer.http.parser import (
    HttpLimits,
    HttpStreamParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
    Weird,
)
from analyzer.redact import auth_scheme

MAX_PENDING_REQUESTS = 256


@dataclass(frozen=True, slots=True)
class Exchange:
    conn_uid: int
    client: bytes
    client_port: int
    server: bytes
    server_port: int
    method: str | None  # None: the request was not seen
    target: str | None
    host: str | None  # the request's Host header
    auth_scheme: str | None  # lower-cased scheme of the request's Authorization header
    req_frame: int | None
    req_ts: int | None
    status: int
    reason: str
    resp_frame: int
    resp_ts: int
    challenges: tuple[Challenge, ...]
    challenge_header: str | None  # the raw WWW-Authenticate value(s), joined
    api_version: str | None  # Docker-Distribution-Api-Version
    server_software: str | None
    location: str | None
    token_issued: bool  # the response body is JSON with "token" or "access_token"
    expires_in: int | None
    error_message: str | None  # the registry's JSON errors[0].message, if any
    complete: bool

    @property
    def bearer(self) -> Challenge | None:
        return next((c for c in self.challenges if c.scheme == "bearer"), None)


ExchangeCallback = Callable[[Exchange], None]
WeirdCallback = Callable[[int, str], None]


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    return next((v for k, v in headers if k == name), None)


# A token response longer than the kept prefix cannot be parsed whole: a JWT that carries
# its certificate in x5c is ~2 KB, and token services send it twice (token, access_token).
# Its leading member still says a token was issued.
_TOKEN_MEMBER = re.compile(rb'^\{\s*"(?:access_)?token"\s*:\s*"[A-Za-z0-9_\-.]{16}')


def body_facts(prefix: bytes, truncated: bool = False) -> tuple[bool, int | None, str | None]:
    """(token issued, expires_in, error message) from a JSON body prefix; never keeps secrets."""
    text = prefix.lstrip()
    if not text.startswith(b"{"):
        return False, None, None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return (truncated and _TOKEN_MEMBER.match(text) is not None), None, None
    if not isinstance(doc, dict):
        return False, None, None
    issued = any(isinstance(doc.get(k), str) and doc.get(k) for k in ("token", "access_token"))
    exp = doc.get("expires_in")
    expires = exp if isinstance(exp, int) and not isinstance(exp, bool) else None
    message = None
    errors = doc.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        msg = errors[0].get("message")
        if isinstance(msg, str):
            message = msg[:200]
    return issued, expires, message


class HttpConnection:
    """Both directions of one connection's HTTP, pairing requests and responses."""

    __slots__ = (
        "client_dir",
        "conn_uid",
        "ends",
        "limits",
        "on_exchange",
        "on_weird",
        "parsers",
        "pending",
        "requests",
        "response_head",
        "responses",
    )

    def __init__(
        self,
        conn_uid: int,
        ends: tuple[tuple[bytes, int], tuple[bytes, int]],
        on_exchange: ExchangeCallback,
        on_weird: WeirdCallback,
        limits: HttpLimits,
    ) -> None:
        self.conn_uid = conn_uid
        self.ends = ends  # (sender of direction 0, sender of direction 1)
        self.on_exchange = on_exchange
        self.on_weird = on_weird
        self.limits = limits
        self.parsers = [HttpStreamParser("auto", limits), HttpStreamParser("auto", limits)]
        self.pending: list[deque[RequestHead]] = [deque(), deque()]  # requests sent by dir i
        self.response_head: list[ResponseHead | None] = [None, None]
        self.client_dir: int | None = None
        self.requests = 0
        self.responses = 0

    def side(self, direction: int) -> HttpSide:
        return HttpSide(self, direction)

    def is_http(self, direction: int) -> bool | None:
        return self.parsers[direction].is_http

    def handle(self, direction: int, events: list[object]) -> None:
        for ev in events:
            if isinstance(ev, RequestHead):
                self.requests += 1
                queue = self.pending[direction]
                if len(queue) >= MAX_PENDING_REQUESTS:
                    queue.popleft()
                    self.on_weird(ev.frame, "http_too_many_pending_requests")
                queue.append(ev)
                self.client_dir = direction
                self.parsers[1 - direction].expect_response_to(ev.method)
            elif isinstance(ev, ResponseHead):
                if ev.status >= 200 or ev.status == 101:
                    self.responses += 1
                    self.response_head[direction] = ev
            elif isinstance(ev, MessageEnd):
                head = self.response_head[direction]
                if head is not None:
                    self.response_head[direction] = None
                    self._pair(direction, head, ev)
            elif isinstance(ev, Weird):
                self.on_weird(ev.frame, f"http_{ev.name}")

    def _pair(self, direction: int, head: ResponseHead, end: MessageEnd) -> None:
        queue = self.pending[1 - direction]
        req = queue.popleft() if queue else None
        if req is None:
            self.on_weird(head.frame, "http_response_without_request")
        server, sport = self.ends[direction]
        client, cport = self.ends[1 - direction]
        values = [v for k, v in head.headers if k == "www-authenticate"]
        challenges, _problems = parse_challenges(values) if values else ([], [])
        issued, expires, message = body_facts(
            end.body_prefix, truncated=end.body_bytes > len(end.body_prefix)
        )
        auth = _header(req.headers, "authorization") if req is not None else None
        self.on_exchange(
            Exchange(
                conn_uid=self.conn_uid,
                client=client,
                client_port=cport,
                server=server,
                server_port=sport,
                method=req.method if req else None,
                target=req.target if req else None,
                host=_header(req.headers, "host") if req else None,
                auth_scheme=auth_scheme(auth) if auth else None,
                req_frame=req.frame if req else None,
                req_ts=req.ts_ns if req else None,
                status=head.status,
                reason=head.reason,
                resp_frame=head.frame,
                resp_ts=head.ts_ns,
                challenges=tuple(challenges),
                challenge_header=", ".join(values) if values else None,
                api_version=_header(head.headers, "docker-distribution-api-version"),
                server_software=_header(head.headers, "server"),
                location=_header(head.headers, "location"),
                token_issued=issued,
                expires_in=expires,
                error_message=message,
                complete=end.complete,
            )
        )

    def eof(self, direction: int, frame: int, ts: int) -> None:
        self.handle(direction, list(self.parsers[direction].eof(frame, ts)))


class HttpSide:
    """The reassembler's consumer for one direction: bytes in, parser events to the connection."""

    __slots__ = ("conn", "direction", "parser")

    def __init__(self, conn: HttpConnection, direction: int) -> None:
        self.conn = conn
        self.direction = direction
        self.parser = conn.parsers[direction]

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        events = self.parser.feed(payload, frame, ts)
        if events:
            self.conn.handle(self.direction, list(events))

    def gap(self, nbytes: int, frame: int) -> None:
        events = self.parser.gap(nbytes, frame)
        if events:
            self.conn.handle(self.direction, list(events))

    def midstream(self, frame: int) -> None:
        self.parser.midstream()
