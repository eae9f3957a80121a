"""Bytes in -> events out, in the style of h11's test_io.py, plus Hypothesis properties."""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.http import (
    HttpEvent,
    HttpLimits,
    HttpStreamParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
    Weird,
)

H = tuple[tuple[str, str], ...]


def req(method: str, target: str, headers: H = (), version: str = "HTTP/1.1") -> RequestHead:
    return RequestHead(method, target, version, headers, 0, 0, 0)


def resp(
    status: int, reason: str, headers: H = (), method: str | None = None, version: str = "HTTP/1.1"
) -> ResponseHead:
    return ResponseHead(status, reason, version, headers, 0, 0, 0, method)


def end(body: bytes = b"", n: int | None = None, complete: bool = True) -> MessageEnd:
    return MessageEnd(0, 0, len(body) if n is None else n, body, complete)


def weird(name: str) -> Weird:
    return Weird(name, "", 0)


def norm(ev: HttpEvent) -> HttpEvent:
    """Drop what depends on segmentation (frames, timestamps) and Weird details."""
    if isinstance(ev, Weird):
        return Weird(ev.name, "", 0)
    if isinstance(ev, MessageEnd):
        return dataclasses.replace(ev, frame=0, ts_ns=0)
    return dataclasses.replace(ev, frame=0, ts_ns=0, first_frame=0)


def run(
    chunks: Iterable[bytes],
    role: str = "auto",
    *,
    methods: Sequence[str] = (),
    eof: bool = True,
    limits: HttpLimits | None = None,
) -> tuple[HttpStreamParser, list[HttpEvent]]:
    p = HttpStreamParser(role, limits or HttpLimits())  # type: ignore[arg-type]
    for m in methods:
        p.expect_response_to(m)
    out: list[HttpEvent] = []
    i = 0
    for i, c in enumerate(chunks, 1):
        out += p.feed(c, i, i * 1000)
    if eof:
        out += p.eof(i + 1, (i + 1) * 1000)
    return p, out


def events(data: bytes, role: str = "auto", **kw: object) -> list[HttpEvent]:
    return [norm(e) for e in run([data], role, **kw)[1]]  # type: ignore[arg-type]


REALM = 'Bearer realm="http://172.16.200.100:8200/service/token",service="harbor-registry"'
# Go's JSON encoder ends the body with a newline: 87 bytes, as the Content-Length says
BODY_401 = (
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n'
)
RESP_401 = (
    b"HTTP/1.1 401 Unauthorized\r\n"
    b"Content-Length: 87\r\n"
    b"Connection: close\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Docker-Distribution-Api-Version: registry/2.0\r\n"
    b"Set-Cookie: sid=abc; Path=/; HttpOnly\r\n"
    b"Set-Cookie: _gorilla_csrf=xyz; Path=/; Secure\r\n"
    b"Www-Authenticate: " + REALM.encode() + b"\r\n"
    b"\r\n" + BODY_401
)
HDRS_401: H = (
    ("content-length", "87"),
    ("connection", "close"),
    ("content-type", "application/json; charset=utf-8"),
    ("docker-distribution-api-version", "registry/2.0"),
    ("set-cookie", "sid=abc; Path=/; HttpOnly"),
    ("set-cookie", "_gorilla_csrf=xyz; Path=/; Secure"),
    ("www-authenticate", REALM),
)
GET_V2 = b"GET /v2/ HTTP/1.1\r\nHost: reg:5000\r\nUser-Agent: docker/24.0\r\n\r\n"
GET_V2_EV = [req("GET", "/v2/", (("host", "reg:5000"), ("user-agent", "docker/24.0"))), end()]
TLS_HELLO = bytes.fromhex("160301020001000200fc0303") + bytes(200)

CASES: list[tuple[str, str, bytes, list[str], list[HttpEvent]]] = [
    ("simple_get", "request", GET_V2, [], GET_V2_EV),
    ("simple_get_auto", "auto", GET_V2, [], GET_V2_EV),
    (
        "founding_401",
        "response",
        RESP_401,
        ["GET"],
        [resp(401, "Unauthorized", HDRS_401, "GET"), end(BODY_401)],
    ),
    ("keep_alive", "request", GET_V2 * 3, [], GET_V2_EV * 3),
    (
        "pipelined_put_with_body",
        "request",
        b"PUT /v2/x/blobs/uploads/1?digest=sha256:ab HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        b"HEAD /v2/x/blobs/sha256:ab HTTP/1.1\r\n\r\n" + GET_V2,
        [],
        [
            req("PUT", "/v2/x/blobs/uploads/1?digest=sha256:ab", (("content-length", "5"),)),
            end(b"hello"),
            req("HEAD", "/v2/x/blobs/sha256:ab"),
            end(),
            *GET_V2_EV,
        ],
    ),
    (
        "head_response_then_another",
        "response",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}",
        ["HEAD", "GET"],
        [
            resp(200, "OK", (("content-length", "1234"),), "HEAD"),
            end(),
            resp(404, "Not Found", (("content-length", "2"),), "GET"),
            end(b"{}"),
        ],
    ),
    (
        "continue_then_201",
        "response",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        ["PUT"],
        [
            resp(100, "Continue", (), "PUT"),
            end(),
            resp(201, "Created", (("content-length", "0"),), "PUT"),
            end(),
        ],
    ),
    (
        "no_body_204_304",
        "response",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n",
        ["DELETE", "GET"],
        [
            resp(204, "No Content", (("content-length", "9"),), "DELETE"),
            end(),
            resp(304, "Not Modified", (), "GET"),
            end(),
        ],
    ),
    (
        "chunked_extensions_trailers",
        "response",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ["GET", "GET"],
        [
            resp(200, "OK", (("transfer-encoding", "gzip, chunked"),), "GET"),
            end(b"hello world"),
            resp(200, "OK", (("content-length", "0"),), "GET"),
            end(),
        ],
    ),
    (
        "chunked_request_bare_lf",
        "request",
        b"PATCH /v2/x/blobs/uploads/u HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
        [],
        [req("PATCH", "/v2/x/blobs/uploads/u", (("transfer-encoding", "chunked"),)), end(b"abc")],
    ),
    (
        "close_delimited",
        "response",
        b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall the rest",
        ["GET"],
        [resp(200, "OK", (("server", "x"),), "GET", "HTTP/1.0"), end(b"all the rest")],
    ),
    (
        "garbage_then_message",
        "request",
        GET_V2 + b"\x00\x01binary junk\r\nmore junk\r\n" + GET_V2,
        [],
        [*GET_V2_EV, weird("garbage_before_message"), *GET_V2_EV],
    ),
    ("tls_client_hello", "auto", TLS_HELLO, [], []),
    ("ssh_banner", "auto", b"SSH-2.0-OpenSSH_9.6\r\n", [], []),
    (
        "400_without_request",
        "response",
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
        [],
        [resp(400, "Bad Request", (("content-length", "3"),)), end(b"bad")],
    ),
    (
        "header_without_colon",
        "request",
        b"GET / HTTP/1.1\r\nHost: a\r\nthis line has no colon\r\nAccept: */*\r\n\r\n",
        [],
        [weird("header_without_colon"), req("GET", "/", (("host", "a"), ("accept", "*/*"))), end()],
    ),
    (
        "obs_fold",
        "request",
        b"GET / HTTP/1.1\r\nX-Long: one\r\n  two\r\n\tthree\r\n\r\n",
        [],
        [req("GET", "/", (("x-long", "one two three"),)), end()],
    ),
    (
        "status_without_reason",
        "response",
        b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
        ["GET"],
        [resp(200, "", (("content-length", "2"),), "GET"), end(b"ok")],
    ),
    (
        "chunk_size_overflow",
        "response",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nxx\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n",
        ["GET", "DELETE"],
        [
            resp(200, "OK", (("transfer-encoding", "chunked"),), "GET"),
            weird("bad_chunk_size"),
            end(complete=False),
            resp(204, "No Content", (), "DELETE"),
            end(),
        ],
    ),
    (
        "content_length_2_64",
        "response",
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n"
        b"xxxx\r\nHTTP/1.1 204 No Content\r\n\r\n",
        ["GET", "DELETE"],
        [
            resp(200, "OK", (("content-length", "18446744073709551616"),), "GET"),
            weird("bad_content_length"),
            end(complete=False),
            resp(204, "No Content", (), "DELETE"),
            end(),
        ],
    ),
    (
        "conflicting_content_length",
        "request",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        [],
        [
            req("POST", "/", (("content-length", "3"), ("content-length", "4"))),
            weird("bad_content_length"),
            end(complete=False),
        ],
    ),
    (
        "equal_duplicate_content_length",
        "request",
        b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc" + GET_V2,
        [],
        [req("POST", "/", (("content-length", "3, 3"),)), end(b"abc"), *GET_V2_EV],
    ),
    (
        "switching_protocols_opaque",
        "response",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        b"\x81\x05hello\nHTTP/1.1 200 OK\r\n",
        ["GET"],
        [resp(101, "Switching Protocols", (("upgrade", "websocket"),), "GET"), end()],
    ),
    (
        "connect_then_tunnel",
        "request",
        b"CONNECT reg:443 HTTP/1.1\r\nHost: reg:443\r\n\r\n" + TLS_HELLO,
        [],
        [req("CONNECT", "reg:443", (("host", "reg:443"),)), end()],
    ),
    (
        "connect_established_response_opaque",
        "response",
        b"HTTP/1.1 200 Connection established\r\n\r\n" + TLS_HELLO,
        ["CONNECT"],
        [resp(200, "Connection established", (), "CONNECT"), end()],
    ),
    (
        "bad_status_code_is_a_bad_start_line",
        "response",
        b"HTTP/1.1 2000 Nope\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        ["GET"],
        [weird("bad_start_line"), resp(204, "No Content", (), "GET"), end()],
    ),
    (
        "leading_blank_lines_between_messages",
        "request",
        GET_V2 + b"\r\n\r\n" + GET_V2,
        [],
        GET_V2_EV * 2,
    ),
    (
        "eof_inside_known_length_body",
        "response",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        ["GET"],
        [resp(200, "OK", (("content-length", "10"),), "GET"), end(b"abc", complete=False)],
    ),
]


@pytest.mark.parametrize(
    ("role", "data", "methods", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(role: str, data: bytes, methods: list[str], expected: list[HttpEvent]) -> None:
    assert events(data, role, methods=methods) == expected
    split = [
        norm(e) for e in run([data[i : i + 1] for i in range(len(data))], role, methods=methods)[1]
    ]
    assert split == expected


def test_founding_case_frames_and_flags() -> None:
    p = HttpStreamParser("auto")
    p.expect_response_to("GET")
    cut = RESP_401.index(b"Docker")
    ev = p.feed(RESP_401[:cut], 7, 700) + p.feed(RESP_401[cut:-10], 8, 800)
    assert p.is_http is True and p.role == "response"
    assert p.skipping_body == 10
    ev += p.feed(RESP_401[-10:], 9, 900)
    head, done = ev
    assert isinstance(head, ResponseHead) and isinstance(done, MessageEnd)
    assert (head.first_frame, head.frame, head.ts_ns) == (7, 8, 800)
    assert (done.frame, done.ts_ns, done.body_bytes) == (9, 900, 87)
    assert p.skipping_body == 0


@pytest.mark.parametrize(
    "data",
    [TLS_HELLO, b"SSH-2.0-x", bytes(range(256)), b"\x16\x03", b"hello", b"PRI * HTTP/2.0\r\n"],
)
def test_not_http(data: bytes) -> None:
    p = HttpStreamParser()
    assert p.feed(data, 1, 1) == []
    assert p.is_http is False
    assert p.feed(GET_V2, 2, 2) == [] and p.eof(3, 3) == []


def test_is_http_decided_early() -> None:
    p = HttpStreamParser()
    assert p.feed(b"GE", 1, 1) == [] and p.is_http is None
    assert p.feed(b"\x16", 2, 2) == [] and p.is_http is False
    p = HttpStreamParser()
    p.feed(b"HTTP/1.1 20", 1, 1)
    assert p.is_http is None
    p.feed(b"0", 2, 2)
    assert p.is_http is True and p.role == "response"


def test_gap_inside_known_length_body_continues() -> None:
    p = HttpStreamParser("request")
    ev = p.feed(b"PUT /b HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789", 1, 1)
    ev += p.gap(80, 2)
    assert p.skipping_body == 10
    ev += p.feed(b"x" * 10 + GET_V2, 3, 3)
    assert [norm(e) for e in ev] == [
        req("PUT", "/b", (("content-length", "100"),)),
        end(b"0123456789", n=20),
        *GET_V2_EV,
    ]


def test_gap_covering_end_of_body_exactly() -> None:
    p = HttpStreamParser("request")
    ev = (
        p.feed(b"PUT /b HTTP/1.1\r\nContent-Length: 10\r\n\r\n01", 1, 1)
        + p.gap(8, 2)
        + p.feed(GET_V2, 3, 3)
    )
    assert [norm(e) for e in ev] == [
        req("PUT", "/b", (("content-length", "10"),)),
        end(b"01"),
        *GET_V2_EV,
    ]


def test_gap_inside_headers_resyncs() -> None:
    p = HttpStreamParser("request")
    ev = p.feed(b"GET /a HTTP/1.1\r\nHost: x\r\nAcc", 1, 1)
    ev += p.gap(50, 2)
    ev += p.feed(b"ept: lost\r\nX: y\r\n\r\n" + GET_V2, 3, 3)
    assert [norm(e) for e in ev] == [weird("gap_in_headers"), *GET_V2_EV]
    assert ev[1].first_frame == 3  # type: ignore[union-attr]


def test_gap_in_chunk_framing_resyncs() -> None:
    p = HttpStreamParser("response")
    p.expect_response_to("GET")
    p.expect_response_to("GET")
    ev = p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 1, 1)
    ev += p.gap(2, 2)  # inside chunk data: just counted
    ev += p.feed(b"e\r\n", 3, 3)
    ev += p.gap(30, 4)  # a chunk-size line is lost
    ev += p.feed(b"lost\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 5, 5)
    assert [norm(e) for e in ev] == [
        resp(200, "OK", (("transfer-encoding", "chunked"),), "GET"),
        weird("gap_in_chunked_body"),
        end(b"ab", n=3, complete=False),
        resp(204, "No Content", (), "GET"),
        end(),
    ]


def test_gap_before_any_data_does_not_declare_not_http() -> None:
    p = HttpStreamParser()
    ev = p.gap(1000, 1) + p.feed(b"\x00\x01 tail of a blob\nHTTP/1.1 200 OK\r\n\r\n", 2, 2)
    ev += p.eof(3, 3)
    assert p.is_http is True and p.role == "response"
    assert [norm(e) for e in ev] == [resp(200, "OK"), end()]


def test_body_prefix_bounded_and_counted() -> None:
    lim = HttpLimits(body_prefix=4)
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
    assert events(data, "request", limits=lim)[-1] == end(b"abcd", n=6)


def test_too_many_headers() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5)) + b"\r\n" + GET_V2
    assert events(data, "request", limits=HttpLimits(max_headers=4)) == [
        weird("too_many_headers"),
        *GET_V2_EV,
    ]


def test_queue_overflow_reported() -> None:
    p = HttpStreamParser("response")
    for _ in range(1005):
        p.expect_response_to("GET")
    ev = p.feed(b"HTTP/1.1 204 No Content\r\n\r\n", 1, 1)
    assert [norm(e) for e in ev] == [
        weird("request_queue_overflow"),
        resp(204, "No Content", (), "GET"),
        end(),
    ]


def test_weird_details_never_carry_header_values() -> None:
    secret = b"Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.secret"
    data = (
        b"GET / HTTP/1.1\r\nAuthorization "
        + secret
        + b"\r\nContent-Length: "
        + secret
        + b"\r\n\r\n"
    )
    ev = run([data], "request")[1]
    weirds = [e for e in ev if isinstance(e, Weird)]
    assert {w.name for w in weirds} == {"header_without_colon", "bad_content_length"}
    assert all(b"secret" not in w.detail.encode() and len(w.detail) <= 80 for w in weirds)


def _big_header_segments(total: int) -> Iterable[bytes]:
    yield b"HTTP/1.1 200 OK\r\nX-Big: "
    seg = b"a" * 1448
    for _ in range(total // 1448):
        yield seg
    yield b"\r\n\r\n"


def test_10mb_header_block_is_bounded() -> None:
    lim = HttpLimits()
    p = HttpStreamParser("response", lim)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        ev: list[HttpEvent] = []
        high = 0
        for i, seg in enumerate(_big_header_segments(10 * 1024 * 1024)):
            ev += p.feed(seg, i, i)
            high = max(high, p.buffered_bytes)
        ev += p.feed(b"HTTP/1.1 204 No Content\r\n\r\n", 10**6, 0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert high <= lim.max_header_bytes
    assert peak < 4 * lim.max_header_bytes
    assert [norm(e) for e in ev] == [
        weird("header_block_too_large"),
        resp(204, "No Content"),
        end(),
    ]


def test_known_length_body_fast_path_is_arithmetic() -> None:
    p = HttpStreamParser("request")
    p.feed(b"PUT /blob HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", 1, 1)
    seg = memoryview(bytes(1448))
    n = 0
    while p.skipping_body > 1448:
        assert p.feed(seg, 2, 2) == []
        n += 1448
    assert p.buffered_bytes == 4096
    last = p.feed(bytes(p.skipping_body), 3, 3)
    assert last == [MessageEnd(3, 3, 1000000, bytes(4096), True)]


# ---------------------------------------------------------------- properties

_chunks = st.lists(st.binary(max_size=64), max_size=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["auto", "request", "response"]),
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [GET_V2, RESP_401, b"HTTP/1.1 200 OK\r\n", b"\r\n\r\n", b"0\r\n", b"5;x\r\n"]
            ),
            st.integers(min_value=-3, max_value=200),
        ),
        max_size=30,
    ),
)
def test_any_input_never_raises(role: str, ops: list[bytes | int]) -> None:
    p = HttpStreamParser(role, HttpLimits(max_header_bytes=200, max_headers=4, body_prefix=8))  # type: ignore[arg-type]
    for i, op in enumerate(ops):
        if isinstance(op, int):
            out = p.gap(op, i) if op % 7 else p.eof(i, i)
            if op % 5 == 0:
                p.expect_response_to("HEAD" if op % 2 else "GET")
        else:
            out = p.feed(op, i, i)
        assert all(isinstance(e, (RequestHead, ResponseHead, MessageEnd, Weird)) for e in out)
        assert p.buffered_bytes <= 200 + 8 + 4096


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10)
_value = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@st.composite
def _message(draw: st.DrawFn, role: str) -> tuple[bytes, bool]:
    """One valid message, and whether it is delimited (not ended by close)."""
    headers = draw(st.lists(st.tuples(_token, _value), max_size=4))
    lines = [f"{k}: {v}".encode() for k, v in headers]
    body = draw(st.binary(max_size=30))
    framing = draw(st.sampled_from(["length", "chunked", "none"]))
    delimited = True
    if framing == "length" or (framing == "none" and role == "request" and body):
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    elif framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        ext = draw(st.sampled_from([b"", b";a=b", b" ;x"]))
        payload = (
            b"".join(b"%x%s\r\n%s\r\n" % (len(x), ext, x) for x in parts) + b"0\r\nT: 1\r\n\r\n"
        )
    else:  # request without body, or a close-delimited response
        payload = b"" if role == "request" else body
        delimited = role == "request"
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    start = (
        b"POST /v2/%s HTTP/1.1" % draw(_token).encode() if role == "request" else b"HTTP/1.1 200 OK"
    )
    return eol.join([start, *lines, b"", b""]) + payload, delimited


@st.composite
def _stream_and_cuts(draw: st.DrawFn) -> tuple[str, bytes, list[int]]:
    role = draw(st.sampled_from(["request", "response"]))
    msgs = draw(st.lists(_message(role), min_size=1, max_size=4))
    # only the last message may be close-delimited
    data = b"".join([m for m, delimited in msgs[:-1] if delimited] + [msgs[-1][0]])
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    return role, data, cuts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stream_and_cuts(), st.booleans())
def test_split_anywhere_same_events(case: tuple[str, bytes, list[int]], bytewise: bool) -> None:
    role, data, cuts = case
    methods = ["POST"] * 8
    whole = [norm(e) for e in run([data], role, methods=methods)[1]]
    if bytewise:
        pieces = [data[i : i + 1] for i in range(len(data))]
    else:
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    split = [norm(e) for e in run(pieces, role, methods=methods)[1]]
    assert split == whole
    assert not any(isinstance(e, Weird) for e in whole)
    assert sum(isinstance(e, MessageEnd) for e in whole) == sum(
        isinstance(e, (RequestHead, ResponseHead)) for e in whole
    )


_PIECES = st.one_of(
    st.binary(max_size=20),
    st.sampled_from(
        [
            GET_V2,
            RESP_401,
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"\nHTTP/1.1 100 Continue\n\n",
            b"GET / HTTP/1.1\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 3\r\n",
            b"X: y\r\n",
            b" fold\r\n",
            b"\r\n\r\n",
            b"0\r\n",
            b"5;x\r\n",
            b"abc\n",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["auto", "request", "response"]), st.lists(_PIECES, max_size=15), st.data())
def test_split_anywhere_same_events_even_for_garbage(
    role: str, parts: list[bytes], data: st.DataObject
) -> None:
    blob = b"".join(parts)
    lim = HttpLimits(max_header_bytes=120, max_headers=3, body_prefix=5)
    methods = ["GET", "HEAD", "PUT", "GET"] * 3

    def go(chunks: list[bytes]) -> tuple[list[HttpEvent], bool | None, str]:
        p, out = run(chunks, role, methods=methods, limits=lim)
        return [norm(e) for e in out], p.is_http, p.role

    whole = go([blob])
    assert go([blob[i : i + 1] for i in range(len(blob))]) == whole
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=8)))
    assert go([blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]) == whole


def test_not_http_and_opaque_streams_take_the_fast_path() -> None:
    p = HttpStreamParser()
    p.feed(TLS_HELLO, 1, 1)
    assert p.countdown > 0 and p.feed(b"\x17\x03\x03" * 1000, 2, 2) == []
    p = HttpStreamParser("response")
    p.expect_response_to("GET")
    p.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 1, 1)
    assert (
        p.countdown > 0 and p.feed(b"HTTP/1.1 200 OK\r\n\r\n", 2, 2) == [] and p.skipping_body == 0
    )
    assert p.eof(3, 3) == []
