"""DNS messages in -> parsed messages and transactions out, plus Hypothesis properties."""

from __future__ import annotations

import logging
import struct

import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from analyzer.dns import DnsMessage, DnsTracker, parse_dns  # noqa: E402
from analyzer.pipeline import Analyzer  # noqa: E402

NAME = "registry.example.com"
CLIENT, RESOLVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 53])
QID = 0x1234


def query(name: str = NAME, rdtype: str = "A", qid: int = QID) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    q.id = qid
    return q


def answer(
    q: dns.message.Message,
    records: tuple[tuple[str, str, str], ...] = (),
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
) -> bytes:
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for owner, rdtype, value in records:
        r.answer.append(dns.rrset.from_text(owner, 300, "IN", rdtype, value))
    return r.to_wire()


Q = query()
CHAIN = (
    (NAME + ".", "CNAME", "lb.example.com."),
    ("lb.example.com.", "CNAME", "edge.CDN.example.net."),
    ("edge.cdn.example.net.", "A", "10.9.9.9"),
    ("edge.cdn.example.net.", "A", "10.9.9.8"),
    ("unrelated.example.org.", "A", "192.0.2.1"),
)
A_IN = answer(Q, ((NAME + ".", "A", "10.1.2.3"),))
# The same answer with its record's class changed from IN (1) to an unknown class (257).
A_CLASS_257 = A_IN.replace(b"\xc0\x0c\x00\x01\x00\x01", b"\xc0\x0c\x00\x01\x01\x01")
HEADER = struct.pack("!HHHHHH", QID, 0x0100, 1, 0, 0, 0)

# (name, wire bytes, expected parse)
PARSE_CASES: list[tuple[str, bytes, DnsMessage | None]] = [
    ("query", Q.to_wire(), DnsMessage(QID, False, 0, NAME, "A", (), ())),
    (
        "a_answer",
        answer(Q, ((NAME + ".", "A", "10.1.2.3"),)),
        DnsMessage(QID, True, 0, NAME, "A", ((NAME, "10.1.2.3"),), ()),
    ),
    (
        "aaaa_answer",
        answer(query(rdtype="AAAA"), ((NAME + ".", "AAAA", "2001:db8::5"),)),
        DnsMessage(QID, True, 0, NAME, "AAAA", ((NAME, "2001:db8::5"),), ()),
    ),
    (
        "cname_chain",
        answer(Q, CHAIN),
        DnsMessage(
            QID,
            True,
            0,
            NAME,
            "A",
            (
                ("edge.cdn.example.net", "10.9.9.9"),
                ("edge.cdn.example.net", "10.9.9.8"),
                ("unrelated.example.org", "192.0.2.1"),
            ),
            ((NAME, "lb.example.com"), ("lb.example.com", "edge.cdn.example.net")),
        ),
    ),
    (
        "upper_case_name_is_lowered",
        query("Registry.EXAMPLE.com.").to_wire(),
        DnsMessage(QID, False, 0, NAME, "A", (), ()),
    ),
    ("a_record_outside_class_in", A_CLASS_257, DnsMessage(QID, True, 0, NAME, "A", (), ())),
    ("nxdomain", answer(Q, rcode=dns.rcode.NXDOMAIN), DnsMessage(QID, True, 3, NAME, "A", (), ())),
    ("servfail", answer(Q, rcode=dns.rcode.SERVFAIL), DnsMessage(QID, True, 2, NAME, "A", (), ())),
    (
        "trailing_garbage_ignored",
        Q.to_wire() + b"\x00junk",
        DnsMessage(QID, False, 0, NAME, "A", (), ()),
    ),
    ("empty", b"", None),
    ("header_only_no_question", struct.pack("!HHHHHH", QID, 0x8180, 0, 0, 0, 0), None),
    ("truncated_header", HEADER[:7], None),
    ("truncated_question", Q.to_wire()[:-3], None),
    ("compression_loop", HEADER + b"\xc0\x0c\x00\x01\x00\x01", None),
    ("compression_pointer_past_end", HEADER + b"\xc0\xff\x00\x01\x00\x01", None),
    ("label_past_end", HEADER + b"\x3fabc", None),
    (
        "qdcount_more_than_present",
        struct.pack("!HHHHHH", QID, 0x0100, 3, 0, 0, 0) + Q.to_wire()[12:],
        None,
    ),
]


@pytest.mark.parametrize(
    ("wire", "expected"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES]
)
def test_parse_dns(wire: bytes, expected: DnsMessage | None) -> None:
    assert parse_dns(wire) == expected


# -- the tracker -----------------------------------------------------------------------


def ask(t: DnsTracker, frame: int, wire: bytes, sport: int = 33333) -> None:
    t.message(frame, frame * 1000, CLIENT, sport, RESOLVER, 53, wire)


def reply(t: DnsTracker, frame: int, wire: bytes, dport: int = 33333) -> None:
    t.message(frame, frame * 1000, RESOLVER, 53, CLIENT, dport, wire)


# (name, response wire or None, rcode, rcode name, addresses, cname chain)
TRACK_CASES: list[tuple[str, bytes | None, int | None, str, tuple[str, ...], tuple[str, ...]]] = [
    ("a", answer(Q, ((NAME + ".", "A", "10.1.2.3"),)), 0, "NOERROR", ("10.1.2.3",), ()),
    (
        "cname_chain_to_final_name",
        answer(Q, CHAIN),
        0,
        "NOERROR",
        ("10.9.9.9", "10.9.9.8"),
        ("lb.example.com", "edge.cdn.example.net"),
    ),
    ("nxdomain", answer(Q, rcode=dns.rcode.NXDOMAIN), 3, "NXDOMAIN", (), ()),
    ("servfail", answer(Q, rcode=dns.rcode.SERVFAIL), 2, "SERVFAIL", (), ()),
    ("refused", answer(Q, rcode=dns.rcode.REFUSED), 5, "REFUSED", (), ()),
    ("never_answered", None, None, "no answer", (), ()),
]


@pytest.mark.parametrize(
    ("wire", "rcode", "rcode_name", "addresses", "chain"),
    [c[1:] for c in TRACK_CASES],
    ids=[c[0] for c in TRACK_CASES],
)
def test_transactions(
    wire: bytes | None,
    rcode: int | None,
    rcode_name: str,
    addresses: tuple[str, ...],
    chain: tuple[str, ...],
) -> None:
    t = DnsTracker()
    ask(t, 1, Q.to_wire())
    if wire is not None:
        reply(t, 2, wire)
    t.finish()
    [tx] = t.lookups(NAME)
    assert (tx.name, tx.qtype, tx.client, tx.server) == (NAME, "A", CLIENT, RESOLVER)
    assert (tx.query_frame, tx.query_ts) == (1, 1000)
    assert tx.rcode == rcode
    assert tx.rcode_name == rcode_name
    assert tx.addresses == addresses
    assert tx.cname_chain == chain
    if wire is None:
        assert (tx.response_frame, tx.response_ts) == (None, None)
    else:
        assert (tx.response_frame, tx.response_ts) == (2, 2000)
    assert t.malformed == 0
    assert t.messages == (1 if wire is None else 2)


def test_unanswered_query_is_visible_before_finish() -> None:
    t = DnsTracker()
    ask(t, 1, Q.to_wire())
    [tx] = t.lookups(NAME.upper() + ".")
    assert tx.rcode is None
    assert t.by_name == {}
    t.finish()
    t.finish()
    assert len(t.lookups(NAME)) == 1


def test_response_without_captured_query() -> None:
    t = DnsTracker()
    reply(t, 5, answer(Q, ((NAME + ".", "A", "10.1.2.3"),)))
    [tx] = t.lookups(NAME)
    assert (tx.query_frame, tx.response_frame) == (5, 5)
    assert (tx.client, tx.server) == (CLIENT, RESOLVER)
    assert tx.addresses == ("10.1.2.3",)
    assert t.names_resolving_to("10.1.2.3") == [NAME]


def test_response_pairs_only_with_its_own_query() -> None:
    t = DnsTracker()
    ask(t, 1, Q.to_wire(), sport=1111)
    ask(t, 2, query(qid=QID + 1).to_wire(), sport=2222)
    reply(t, 3, answer(query(qid=QID + 1), ((NAME + ".", "A", "10.1.2.3"),)), dport=2222)
    t.finish()
    txs = t.lookups(NAME)
    assert [(tx.query_frame, tx.response_frame, tx.rcode) for tx in txs] == [
        (1, None, None),
        (2, 3, 0),
    ]


@pytest.mark.parametrize(
    "wire",
    [HEADER + b"\xc0\x0c\x00\x01\x00\x01", HEADER + b"\xc0\xff\x00\x01\x00\x01", b"\x00"],
    ids=["compression_loop", "pointer_past_end", "one_byte"],
)
def test_malformed_is_counted(wire: bytes) -> None:
    t = DnsTracker()
    ask(t, 1, wire)
    reply(t, 2, wire)
    assert t.malformed == 2
    assert t.messages == 0
    t.finish()
    assert t.by_name == {}


def test_tracker_bounds() -> None:
    t = DnsTracker(max_pending=3, max_names=2, per_name=2)
    for i in range(5):
        ask(t, i, query(f"n{i}.example", qid=i).to_wire())
    assert len(t._pending) == 3
    # The two oldest were expired as unanswered; a third name would exceed max_names.
    assert sorted(t.by_name) == ["n0.example", "n1.example"]
    for i in range(5):
        reply(t, 10 + i, answer(query("n0.example", qid=100 + i)))
    assert len(t.by_name["n0.example"]) == 2  # per_name keeps the latest
    t.finish()
    assert t._pending == {}
    assert t.dropped == 3  # n2..n4 expired at the end, with no room for their names


# -- properties -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_none(data: bytes) -> None:
    result = parse_dns(data)
    assert result is None or isinstance(result, DnsMessage)


VALID = answer(Q, CHAIN)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, len(VALID)),
)
def test_damaged_answers_parse_or_none(flips: list[tuple[int, int]], cut: int) -> None:
    wire = bytearray(VALID)
    for pos, value in flips:
        wire[pos] = value
    t = DnsTracker()
    reply(t, 1, bytes(wire[:cut]))
    assert t.messages + t.malformed == 1


# -- DNS over TCP through the whole pipeline ---------------------------------------------


def test_dns_over_tcp_through_the_pipeline() -> None:
    cli, srv = "10.0.0.1", "10.0.0.53"
    q = query()
    qwire = q.to_wire()
    rwire = answer(q, ((NAME + ".", "A", "10.1.2.3"),))
    c2s = struct.pack("!H", len(qwire)) + qwire
    s2c = struct.pack("!H", len(rwire)) + rwire
    cseq, sseq = 1000, 9000

    frames: list[bytes] = []

    def add(from_client: bool, flags: str, seq: int, payload: bytes = b"") -> None:
        ip = IP(src=cli, dst=srv) if from_client else IP(src=srv, dst=cli)
        sp, dp = (45678, 53) if from_client else (53, 45678)
        pkt = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / ip
            / TCP(sport=sp, dport=dp, seq=seq, flags=flags)
        )
        frames.append(bytes(pkt / Raw(payload) if payload else pkt))

    add(True, "S", cseq)
    add(False, "SA", sseq)
    add(True, "A", cseq + 1)
    # The query: length prefix split from its body, body in two pieces.
    add(True, "PA", cseq + 1, c2s[:1])
    add(True, "PA", cseq + 2, c2s[1:10])
    add(True, "PA", cseq + 11, c2s[10:])
    # The answer: out of order, the second half first.
    half = len(s2c) // 2
    add(False, "PA", sseq + 1 + half, s2c[half:])
    add(False, "PA", sseq + 1, s2c[:half])
    add(True, "FA", cseq + 1 + len(c2s))
    add(False, "FA", sseq + 1 + len(s2c))

    an = Analyzer()
    for i, data in enumerate(frames, 1):
        an.feed((i, 1_000_000_000 + i * 1_000_000, 1, data, len(data)))
    [tx] = an.dns.lookups(NAME)
    assert tx.rcode == 0
    assert tx.addresses == ("10.1.2.3",)
    # The answer is attributed to the frame that carried its last bytes.
    assert (tx.query_frame, tx.response_frame) == (6, 7)
    assert tx.client == bytes([10, 0, 0, 1])
    assert tx.server == bytes([10, 0, 0, 53])
    assert an.dns.malformed == 0
    assert an.dns.messages == 2


# The struct reader for common messages must agree with dnspython wherever it answers.
_label = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=20,
)
_names = st.lists(_label, min_size=1, max_size=5).map(".".join)


@settings(max_examples=300, deadline=None)
@given(
    name=_names,
    qtype=st.sampled_from(["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "HTTPS"]),
    rcode=st.sampled_from([0, 2, 3, 5]),
    response=st.booleans(),
    ident=st.integers(0, 0xFFFF),
    edns=st.booleans(),
)
def test_question_only_reader_agrees_with_dnspython(
    name: str, qtype: str, rcode: int, response: bool, ident: int, edns: bool
) -> None:
    from analyzer.dns import _parse_common, _parse_full

    query = dns.message.make_query(name, qtype, use_edns=edns)
    query.id = ident
    msg = dns.message.make_response(query) if response else query
    if response:
        msg.set_rcode(rcode)
    wire = msg.to_wire()
    quick = _parse_common(wire)
    assert quick is not None
    assert quick == _parse_full(wire)


def _uncompressed(msg: dns.message.Message) -> bytes:
    """The message without name compression (and without EDNS), which dnspython never writes."""
    q = msg.question[0]
    rrs = [(rrset, rd) for rrset in msg.answer for rd in rrset]
    wire = struct.pack("!HHHHHH", msg.id, msg.flags, 1, len(rrs), 0, 0)
    wire += q.name.to_wire() + struct.pack("!HH", q.rdtype, q.rdclass)
    for rrset, rd in rrs:
        rdata = rd.to_wire()
        wire += rrset.name.to_wire() + struct.pack("!HHIH", rd.rdtype, rd.rdclass, 300, len(rdata))
        wire += rdata
    return wire


_answer = st.one_of(
    st.tuples(st.just("A"), st.ip_addresses(v=4).map(str)),
    st.tuples(st.just("AAAA"), st.ip_addresses(v=6).map(str)),
    st.tuples(st.just("CNAME"), _names.map(lambda n: n + ".")),
)


@settings(max_examples=300, deadline=None)
@given(
    name=_names,
    answers=st.lists(st.tuples(st.booleans(), _answer), min_size=1, max_size=6),
    edns=st.booleans(),
    compress=st.booleans(),
)
def test_answer_reader_agrees_with_dnspython(
    name: str, answers: list[tuple[bool, tuple[str, str]]], edns: bool, compress: bool
) -> None:
    """A, AAAA and CNAME answers, owners the query name or another, names compressed or not."""
    import dns.rrset

    from analyzer.dns import _parse_common, _parse_full

    query = dns.message.make_query(name, "A", use_edns=edns)
    msg = dns.message.make_response(query)
    for on_qname, (rtype, value) in answers:
        owner = name if on_qname else f"alias.{name}"
        msg.answer.append(dns.rrset.from_text(owner + ".", 300, "IN", rtype, value))
    wire = msg.to_wire() if compress else _uncompressed(msg)
    quick = _parse_common(wire)
    assert quick is not None
    assert quick == _parse_full(wire)


@settings(max_examples=500, deadline=None)
@given(
    answers=st.lists(_answer, min_size=0, max_size=4),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 400),
)
def test_struct_reader_never_disagrees_on_damaged_messages(
    answers: list[tuple[str, str]], flips: list[tuple[int, int]], cut: int
) -> None:
    """Bytes changed or cut anywhere: the struct reader defers or gives dnspython's answer."""
    import dns.rrset

    from analyzer.dns import _parse_common, _parse_full

    msg = dns.message.make_response(dns.message.make_query("registry.example.com", "A"))
    for rtype, value in answers:
        msg.answer.append(dns.rrset.from_text("registry.example.com.", 60, "IN", rtype, value))
    wire = bytearray(msg.to_wire())
    for at, value in flips:
        if at < len(wire):
            wire[at] = value
    damaged = bytes(wire[: max(cut, 12)])
    quick = _parse_common(damaged)
    if quick is not None:
        assert quick == _parse_full(damaged)
