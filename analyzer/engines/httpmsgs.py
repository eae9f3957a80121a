"""HTTP/1.x and HTTP/2 messages from tshark's fields, paired into :class:`Exchange` records.

How this works: tshark runs with ``http.desegment_body:FALSE``, so a message is
reported at the frame that completes its header block (as the default engine
does) and a blob body is never reassembled. A response's first body bytes come
with it (``http.file_data``); when the body goes on in later segments, those
continuation segments (the display filter keeps the first
:data:`~analyzer.engines.fields.BODY_WINDOW` bytes of each direction) are
appended in sequence order until :data:`BODY_PREFIX` bytes are kept or the body
ends. A response is paired with the request tshark names (``http.request_in``),
else with the oldest request waiting on that connection. Over TLS the
continuation bytes are ciphertext, so an HTTP/1.x body is read only as far as
the record that carried its header.

One tshark 4.0 behaviour is worked around: without body reassembly, it takes
the segments that continue a body for the start of a header block and
reassembles them until it meets a blank line, which belongs to the *next*
message on the connection. That message is then shown as a "Continuation" and
lost to tshark (for instance the registry's answer to the first request
carrying the token, after a token response of three segments). Such a frame
carries the reassembled bytes; the message's head is read back from their
end (:func:`~analyzer.engines.httpfields.recover_head`) and counted in
:attr:`HttpMessages.recovered`.

HTTP/2 (decrypted TLS) is read frame by frame: HEADERS blocks are split by
``http2.header.count``, a request and its response share a stream id, and DATA
frames are the body until END_STREAM. HTTP/2 has no reason phrase; the
standard one is shown.

Only what the detectors need is kept, as :mod:`analyzer.exchanges` does: the
challenge, the *scheme* of an Authorization header, and the token response's
facts (issued or not, ``expires_in``) — never a header value or a token.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from analyzer.engines.fields import Layers, first, flag, hex_bytes, to_int
from analyzer.engines.httpfields import (
    auth_scheme,
    dechunk,
    header_line,
    nth,
    reason_phrase,
    recover_head,
)
from analyzer.exchanges import MAX_PENDING_REQUESTS, Exchange, body_facts
from analyzer.http.auth import parse_challenges

BODY_PREFIX = 4096  # as the default engine's HttpLimits.body_prefix
MAX_H2_OPEN = 10_000  # HTTP/2 requests awaiting a response, and bodies still arriving, in all
_NO_BODY_STATUSES = frozenset({204, 304})

Endpoint = tuple[bytes, int]


@dataclass(slots=True)
class _Request:
    frame: int
    ts: int
    method: str
    target: str
    host: str | None
    auth_scheme: str | None


@dataclass(slots=True)
class _Response:
    stream: int
    frame: int
    ts: int
    status: int
    reason: str
    server: Endpoint
    client: Endpoint
    request: _Request | None
    challenges: list[str]
    api_version: str | None
    server_software: str | None
    location: str | None
    length: int | None = None  # Content-Length, when given
    chunked: bool = False
    body: bytearray = field(default_factory=bytearray)
    next_seq: int | None = None  # where the next continuation segment must start
    received: int = 0  # HTTP/2 body bytes, kept or not


class HttpMessages:
    """Requests and responses of every live stream; completed exchanges go to ``on_exchange``."""

    def __init__(self, on_exchange: Callable[[Exchange], None]) -> None:
        self.on_exchange = on_exchange
        self.requests = 0
        self.responses = 0
        self.recovered = 0  # message heads tshark swallowed, read back from its reassembly
        self.http_streams: set[int] = set()
        self._waiting: dict[int, deque[_Request]] = {}  # HTTP/1: requests awaiting a response
        self._bodies: dict[tuple[int, bytes, int], _Response] = {}  # HTTP/1: bodies still arriving
        self._h2_requests: dict[tuple[int, int], _Request] = {}
        self._h2_bodies: dict[tuple[int, int], _Response] = {}

    # -- HTTP/1.x ---------------------------------------------------------------

    def http1(
        self,
        stream: int,
        frame: int,
        ts: int,
        src: Endpoint,
        dst: Endpoint,
        layers: Layers,
        seq: int,
        tls: bool,
    ) -> None:
        methods = layers.get("http_request_method", [])
        codes = layers.get("http_response_code", [])
        key = (stream, *src)
        open_body = self._bodies.get(key)
        if not (methods or codes or tls) and to_int(first(layers, "tcp_segment_count")) > 1:
            head = recover_head(hex_bytes(first(layers, "tcp_reassembled_data")))
            if head is not None:
                self.recovered += 1
                layers = {**layers, **head}
                methods = layers.get("http_request_method", [])
                codes = layers.get("http_response_code", [])
        if not methods and not codes:
            if open_body is not None and not tls:
                self._continue(key, open_body, hex_bytes(first(layers, "tcp_payload")), seq)
            return
        self.http_streams.add(stream)
        if open_body is not None:  # a new message in this direction ends the previous body
            self._finish(self._bodies.pop(key))
        for i, method in enumerate(methods):
            self._request(stream, frame, ts, layers, i, len(methods), method)
        for i, code in enumerate(codes):
            self._response(stream, frame, ts, src, dst, layers, i, len(codes), to_int(code), seq)

    def _request(
        self, stream: int, frame: int, ts: int, layers: Layers, i: int, n: int, method: str
    ) -> None:
        self.requests += 1
        queue = self._waiting.setdefault(stream, deque())
        if len(queue) >= MAX_PENDING_REQUESTS:
            queue.popleft()
        uris = layers.get("http_request_uri", [])
        queue.append(
            _Request(
                frame,
                ts,
                method,
                uris[i] if i < len(uris) else "",
                nth(layers, "http_host", i, n),
                auth_scheme(nth(layers, "http_authorization", i, n)),
            )
        )

    def _response(
        self,
        stream: int,
        frame: int,
        ts: int,
        src: Endpoint,
        dst: Endpoint,
        layers: Layers,
        i: int,
        n: int,
        status: int,
        seq: int,
    ) -> None:
        if status < 200 and status != 101:
            return  # interim (100 Continue): the final response follows
        self.responses += 1
        request = self._pop_request(stream, to_int(nth(layers, "http_request_in", i, n), -1))
        lines = layers.get("http_response_line", []) if n == 1 else []
        phrases = layers.get("http_response_phrase", [])
        resp = _Response(
            stream=stream,
            frame=frame,
            ts=ts,
            status=status,
            reason=phrases[i] if len(phrases) == n else "",
            server=src,
            client=dst,
            request=request,
            challenges=layers.get("http_www_authenticate", []) if n == 1 else [],
            api_version=header_line(lines, "docker-distribution-api-version"),
            server_software=nth(layers, "http_server", i, n),
            location=nth(layers, "http_location", i, n),
        )
        if (request is not None and request.method == "HEAD") or status in _NO_BODY_STATUSES:
            self._finish(resp)
            return
        length = nth(layers, "http_content_length_header", i, n)
        resp.length = to_int(length) if length is not None else None
        encoding = nth(layers, "http_transfer_encoding", i, n) or ""
        resp.chunked = "chunked" in encoding.lower()
        data = nth(layers, "http_file_data", i, n)
        if data:
            resp.body += data.encode("utf-8", "replace")
        payload_len = to_int(first(layers, "tcp_len"))
        resp.next_seq = seq + payload_len if i == n - 1 else None
        if self._complete(resp) or i < n - 1:
            self._finish(resp)
        else:
            self._bodies[(stream, *src)] = resp

    def _pop_request(self, stream: int, request_frame: int) -> _Request | None:
        queue = self._waiting.get(stream)
        if not queue:
            return None
        for req in queue:
            if req.frame == request_frame:
                queue.remove(req)
                return req
        return queue.popleft()

    def _continue(
        self, key: tuple[int, bytes, int], resp: _Response, payload: bytes, seq: int
    ) -> None:
        if resp.next_seq is None or not payload:
            return
        if seq > resp.next_seq:
            self._finish(self._bodies.pop(key))  # a hole: keep what was read
            return
        end = seq + len(payload)
        if end <= resp.next_seq:
            return  # a retransmission of bytes already read
        resp.body += payload[resp.next_seq - seq :]
        resp.next_seq = end
        if self._complete(resp):
            self._finish(self._bodies.pop(key))

    @staticmethod
    def _complete(resp: _Response) -> bool:
        if resp.chunked:
            return dechunk(bytes(resp.body))[1] or len(resp.body) >= 2 * BODY_PREFIX
        if resp.length is not None:
            return len(resp.body) >= min(resp.length, BODY_PREFIX)
        return len(resp.body) >= BODY_PREFIX  # delimited by the connection's end

    # -- HTTP/2 -----------------------------------------------------------------

    def http2(
        self, stream: int, frame: int, ts: int, src: Endpoint, dst: Endpoint, layers: Layers
    ) -> None:
        types = layers.get("http2_type", [])
        ids = layers.get("http2_streamid", [])
        lengths = layers.get("http2_length", [])
        ends = iter(layers.get("http2_flags_end_stream", []))
        counts = iter(layers.get("http2_header_count", []))
        datas = iter(layers.get("http2_data_data", []))
        names = layers.get("http2_header_name", [])
        values = layers.get("http2_header_value", [])
        pos = 0
        for i, kind in enumerate(types):
            sid = to_int(ids[i]) if i < len(ids) else 0
            if kind == "1":
                count = to_int(next(counts, "0"))
                headers = list(
                    zip(names[pos : pos + count], values[pos : pos + count], strict=False)
                )
                pos += count
                end = flag(next(ends, "0"))
                self.http_streams.add(stream)
                self._h2_headers(stream, sid, frame, ts, src, dst, headers, end)
            elif kind == "0":
                size = to_int(lengths[i]) if i < len(lengths) else 0
                data = hex_bytes(next(datas, "")) if size else b""
                end = flag(next(ends, "0"))
                self._h2_data(stream, sid, data, end)

    def _h2_headers(
        self,
        stream: int,
        sid: int,
        frame: int,
        ts: int,
        src: Endpoint,
        dst: Endpoint,
        headers: list[tuple[str, str]],
        end: bool,
    ) -> None:
        get = {k.lower(): v for k, v in reversed(headers)}.get
        method, status = get(":method"), get(":status")
        if method is not None:
            self.requests += 1
            if len(self._h2_requests) >= MAX_H2_OPEN:
                del self._h2_requests[next(iter(self._h2_requests))]
            self._h2_requests[(stream, sid)] = _Request(
                frame, ts, method, get(":path") or "", get(":authority") or get("host"),
                auth_scheme(get("authorization")),
            )  # fmt: skip
            return
        if status is None:
            return  # trailers
        code = to_int(status)
        if code < 200 and code != 101:
            return
        self.responses += 1
        resp = _Response(
            stream=stream,
            frame=frame,
            ts=ts,
            status=code,
            reason=reason_phrase(code),
            server=src,
            client=dst,
            request=self._h2_requests.pop((stream, sid), None),
            challenges=[v for k, v in headers if k.lower() == "www-authenticate"],
            api_version=get("docker-distribution-api-version"),
            server_software=get("server"),
            location=get("location"),
        )
        length = get("content-length")
        resp.length = to_int(length) if length is not None else None
        if end:
            self._finish(resp)
            return
        if len(self._h2_bodies) >= MAX_H2_OPEN:
            self._finish(self._h2_bodies.pop(next(iter(self._h2_bodies))))
        self._h2_bodies[(stream, sid)] = resp

    def _h2_data(self, stream: int, sid: int, data: bytes, end: bool) -> None:
        resp = self._h2_bodies.get((stream, sid))
        if resp is None:
            return
        resp.received += len(data)
        if len(resp.body) < BODY_PREFIX:
            resp.body += data[: BODY_PREFIX - len(resp.body)]
        if end:
            self._finish(self._h2_bodies.pop((stream, sid)))

    # -- ends -------------------------------------------------------------------

    def _finish(self, resp: _Response) -> None:
        raw = bytes(resp.body)
        body = dechunk(raw)[0] if resp.chunked else raw
        prefix = body[:BODY_PREFIX]
        size = resp.length if resp.length is not None else max(len(body), resp.received)
        issued, expires, message = body_facts(prefix, truncated=size > len(prefix))
        values = resp.challenges
        challenges, _problems = parse_challenges(values) if values else ([], [])
        req = resp.request
        self.on_exchange(
            Exchange(
                conn_uid=resp.stream + 1,
                client=resp.client[0],
                client_port=resp.client[1],
                server=resp.server[0],
                server_port=resp.server[1],
                method=req.method if req else None,
                target=req.target if req else None,
                host=req.host if req else None,
                auth_scheme=req.auth_scheme if req else None,
                req_frame=req.frame if req else None,
                req_ts=req.ts if req else None,
                status=resp.status,
                reason=resp.reason,
                resp_frame=resp.frame,
                resp_ts=resp.ts,
                challenges=tuple(challenges),
                challenge_header=", ".join(values) if values else None,
                api_version=resp.api_version,
                server_software=resp.server_software,
                location=resp.location,
                token_issued=issued,
                expires_in=expires,
                error_message=message,
                complete=resp.length is None or len(body) >= resp.length,
            )
        )

    def close_stream(self, stream: int) -> None:
        """The connection ended: bodies still open end with it."""
        for key in [k for k in self._bodies if k[0] == stream]:
            self._finish(self._bodies.pop(key))
        for key2 in [k for k in self._h2_bodies if k[0] == stream]:
            self._finish(self._h2_bodies.pop(key2))
        for key2 in [k for k in self._h2_requests if k[0] == stream]:
            del self._h2_requests[key2]
        self._waiting.pop(stream, None)

    def close_all(self) -> None:
        streams = {k[0] for k in self._bodies} | {k[0] for k in self._h2_bodies}
        for stream in sorted(streams):
            self.close_stream(stream)
