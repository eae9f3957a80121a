"""Properties the rest of the suite lacked: realm URLs, redaction, TCP options, fragment and
stream bounds, the DNS tracker's bounds, and the damaged corpus mutated further.

Already covered elsewhere (and not repeated): pcap/pcapng readers on any bytes and
at any chunk size (tests/sources), link/IP/transport decoding of arbitrary and cut
frames (tests/core/test_decode.py), HTTP messages split anywhere (tests/http),
WWW-Authenticate on any string and round trips (tests/http/test_auth.py), DNS
messages from any bytes (tests/core/test_dns.py), reassembly of any segment order
(tests/core/test_reassembly.py), the pipeline on any bytes (tests/test_properties.py).
TCP options are not parsed at all: the decoder steps over them by the data offset,
so the property is that no option bytes can change what it reports.
"""

from __future__ import annotations

import io
import struct
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.decode import Decoder, FragmentTable
from analyzer.detectors.evidence import show_challenge, show_target
from analyzer.dns import DnsTracker
from analyzer.errors import AnalyzerError
from analyzer.http.auth import Challenge
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.realm import parse_realm
from analyzer.reassembly import Stream
from analyzer.redact import (
    KNOWN_AUTH_SCHEMES,
    OTHER_SCHEME,
    REDACTED,
    SECRET_PARAMS,
    auth_scheme,
    redact_header,
    redact_url,
)
from analyzer.sources.open import open_capture
from tests.core.test_decode import Recorder
from tests.hostile.conftest import BROKEN, load_broken

b = load_broken("_build")
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- realm URLs ------------------------------------------------------------------------

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_hostname = st.lists(_label, min_size=1, max_size=4).map(".".join)
_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
    lambda g: ":".join(f"{x:x}" for x in g)
)
_path = st.lists(_label, max_size=4).map(lambda parts: "/" + "/".join(parts))


@FAST
@given(st.text(max_size=200))
def test_parse_realm_never_raises(text: str) -> None:
    realm = parse_realm(text)
    if realm is not None:
        assert realm.scheme in ("http", "https")
        assert realm.host
        assert 0 <= realm.port <= 65535


@FAST
@given(
    st.sampled_from(["http", "https", "HTTP"]),
    st.one_of(_hostname, _ipv4, _ipv6),
    st.one_of(st.none(), st.integers(0, 65535)),
    _path,
)
def test_parse_realm_takes_a_url_apart(scheme: str, host: str, port: int | None, path: str) -> None:
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}{'' if port is None else f':{port}'}{path}"
    realm = parse_realm(url)
    assert realm is not None
    assert realm.scheme == scheme.lower()
    assert realm.host == host.lower()
    assert realm.port == (port if port is not None else {"http": 80, "https": 443}[realm.scheme])
    assert realm.path == path
    again = parse_realm(realm.with_hostport(realm.host, realm.port))
    assert again is not None
    assert (again.host, again.port, again.path) == (realm.host, realm.port, realm.path)


# -- redaction -------------------------------------------------------------------------

# What a password or token may look like inside a URL: percent-encoded when it needs to be.
_secret = st.text(min_size=6, max_size=24).map(lambda s: "S3cr" + s)
_url_secret = _secret.map(lambda s: quote(s, safe=""))


@FAST
@given(st.text(max_size=200))
def test_redact_url_never_raises(text: str) -> None:
    assert isinstance(redact_url(text), str)


@FAST
@given(
    st.one_of(_hostname, _ipv4),
    _label,
    _url_secret,
    _path,
    st.lists(st.tuples(st.sampled_from(sorted(SECRET_PARAMS)), _url_secret), max_size=4),
    st.lists(st.tuples(_label, _label), max_size=3),
)
def test_redact_url_hides_passwords_and_secret_parameters(
    host: str,
    user: str,
    password: str,
    path: str,
    secret_params: list[tuple[str, str]],
    plain_params: list[tuple[str, str]],
) -> None:
    pairs = [*secret_params, *plain_params]
    query = "&".join(f"{k}={v}" for k, v in pairs)
    url = f"http://{user}:{password}@{host}{path}" + (f"?{query}" if query else "")
    shown = redact_url(url)
    assert password not in shown
    for _, value in secret_params:
        assert f"={value}" not in shown.replace(REDACTED, "")
    assert f"{user}:{REDACTED}@{host}" in shown
    assert redact_url(shown) == shown  # redacting twice changes nothing


@FAST
@given(st.sampled_from(["Authorization", "proxy-authorization", "Cookie", "Set-Cookie"]), _secret)
def test_redact_header_keeps_at_most_a_known_scheme(name: str, secret: str) -> None:
    for value in (f"Basic {secret}", f"Bearer {secret}", secret, f"  {secret} {secret}"):
        shown = redact_header(name, value)
        assert secret not in shown
        assert shown.replace(REDACTED, "").strip().lower() in ("", "basic", "bearer")


@FAST
@given(st.text(max_size=60))
def test_auth_scheme_is_a_known_name_or_other(value: str) -> None:
    scheme = auth_scheme(value)
    assert scheme is None or scheme in KNOWN_AUTH_SCHEMES or scheme == OTHER_SCHEME
    if scheme not in (None, OTHER_SCHEME):
        assert value.split(maxsplit=1)[0].lower() == scheme


@FAST
@given(st.one_of(_hostname, _ipv4), _url_secret, st.dictionaries(_label, st.text(max_size=30)))
def test_challenges_as_evidence_never_show_a_realm_password(
    host: str, password: str, params: dict[str, str]
) -> None:
    realm = f"http://robot:{password}@{host}:8200/service/token"
    challenge = Challenge("bearer", (("realm", realm), *params.items()))
    assert password not in show_challenge(challenge, show_secrets=False)
    assert password in show_challenge(challenge, show_secrets=True)
    target = f"/service/token?account=robot&password={password}"
    assert password not in show_target(target, show_secrets=False)


# -- TCP options -----------------------------------------------------------------------


@FAST
@given(st.binary(max_size=40).map(lambda o: o[: len(o) - len(o) % 4]), st.binary(max_size=300))
def test_tcp_options_never_change_what_is_decoded(options: bytes, payload: bytes) -> None:
    def decoded(opts: bytes) -> list[tuple[object, ...]]:
        seg = b.tcp(b.CLIENT, b.REGISTRY, 52110, 8200, 7, 9, b.PSH | b.ACK, payload, doff=5 + len(opts) // 4, options=opts)  # fmt: skip
        sink = Recorder()
        Decoder(sink).decode(1, 0, 1, b.ether(b.ipv4(b.CLIENT, b.REGISTRY, 6, seg)))
        return sink.events

    assert decoded(options) == decoded(b"")


# -- bounds of the tables --------------------------------------------------------------


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 8200), st.booleans(), st.integers(0, 3000)),
        max_size=300,
    )
)
def test_fragment_table_stays_bounded(fragments: list[tuple[int, int, bool, int]]) -> None:
    table = FragmentTable(max_datagrams=3, max_fragments=16)
    for ident, off8, more, size in fragments:
        table.add((b"a", b"b", ident, 17), off8 * 8, more, b"x" * size)
        assert len(table) <= 3
        for entry in table._pending.values():
            assert len(entry.pieces) <= 16
            assert entry.held <= 2 * table.max_bytes


@FAST
@given(st.binary(min_size=9, max_size=400), st.data())
def test_fragments_in_any_order_rebuild_the_datagram(data: bytes, draw: st.DataObject) -> None:
    step = draw.draw(st.integers(1, max(1, (len(data) - 1) // 8))) * 8  # two pieces at least
    pieces = [(o, data[o : o + step]) for o in range(0, len(data), step)]
    extra = draw.draw(st.lists(st.sampled_from(pieces), max_size=4))  # duplicates
    order = draw.draw(st.permutations(pieces + extra))
    table = FragmentTable()
    results = [
        table.add((b"a", b"b", 1, 17), off, off + len(chunk) < len(data), chunk)
        for off, chunk in order
    ]
    # A duplicate arriving after the datagram was whole starts a new one, as in a real stack.
    done = [r for r in results if r is not None]
    assert done and all(r == data for r in done)


@FAST
@given(st.lists(st.tuples(st.integers(-3000, 3000), st.integers(1, 700)), max_size=200))
def test_out_of_order_store_stays_bounded(segments: list[tuple[int, int]]) -> None:
    class Null:
        def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None: ...
        def gap(self, nbytes: int, frame: int) -> None: ...
        def midstream(self, frame: int) -> None: ...

    stream = Stream(Null(), max_ooo_bytes=4096, max_ooo_segments=8)
    stream.syn(1000)
    for i, (rel, size) in enumerate(segments):
        stream.segment((1001 + rel) & 0xFFFFFFFF, memoryview(b"s" * size), i, i)
        assert len(stream.ooo) <= 8
        assert stream.ooo_bytes <= 4096
        assert stream.ooo_bytes == sum(len(p) for p, _, _ in stream.ooo.values())


@FAST
@given(st.lists(st.tuples(st.binary(max_size=80), st.booleans(), st.integers(0, 5)), max_size=80))
def test_dns_tracker_stays_bounded(messages: list[tuple[bytes, bool, int]]) -> None:
    tracker = DnsTracker(max_pending=4, max_names=4, per_name=2)
    for i, (noise, response, n) in enumerate(messages):
        name = b"\2n%d\0" % n
        flags = 0x8180 if response else 0x0100
        wire = struct.pack("!HHHHHH", n, flags, 1, 0, 0, 0) + name + b"\0\1\0\1" + noise
        tracker.message(i, i, b"\1" * 4, 5000 + n, b"\2" * 4, 53, wire)
        tracker.message(i, i, b"\1" * 4, 5000, b"\2" * 4, 53, noise)
        assert len(tracker._pending) <= 4
        assert len(tracker.by_name) <= 4
        assert all(len(h) <= 2 for h in tracker.by_name.values())


# -- the damaged corpus, damaged further -----------------------------------------------

CORPUS = sorted(p for p in BROKEN.iterdir() if p.suffix in (".pcap", ".pcapng", ".gz"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CORPUS), st.data())
def test_mutated_corpus_files_give_a_report_or_our_error(path: object, draw: st.DataObject) -> None:
    raw = bytearray(path.read_bytes())  # type: ignore[attr-defined]
    for _ in range(draw.draw(st.integers(0, 6))):
        if raw:
            raw[draw.draw(st.integers(0, len(raw) - 1))] = draw.draw(st.integers(0, 255))
    raw = raw[: draw.draw(st.integers(0, len(raw)))]
    try:
        reader = open_capture("-", stdin=io.BytesIO(bytes(raw)))
    except AnalyzerError:
        return
    analyzer = Analyzer(AnalyzerOptions(max_flows=16, max_ooo_segments=8))
    with reader:
        for frame in reader:
            analyzer.feed(frame)
    report = analyzer.finish(SourceInfo("-", reader.format))
    assert report.summary.frames == analyzer.frames
