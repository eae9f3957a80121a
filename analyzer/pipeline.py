"""The analyzer, push style: ``feed`` frames, then ``finish`` for the report.

How this works: :class:`Analyzer` is the decoder's sink. TCP goes to the flow
table, whose streams feed HTTP parsers (or a DNS-over-TCP framer on port 53);
UDP port 53 goes to the DNS tracker; ICMP unreachables are tied to the
connection whose segment they quote. Retired connections and completed HTTP
exchanges land in :class:`~analyzer.observations.Observations`, which the
detectors read. Reading a file, reading stdin and sniffing live are the same
loop at the edge: ``for frame in source: analyzer.feed(frame)``. The core
never looks at the wall clock: all time is the capture's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from analyzer.addr import endpoint
from analyzer.decode import SUPPORTED_LINKTYPES, Decoder
from analyzer.detectors import run_detectors
from analyzer.dns import DnsTracker
from analyzer.exchanges import Exchange, HttpConnection
from analyzer.findings import CaptureSummary, Finding, ReadIssue, Report
from analyzer.flows import DISCARD, Conn, ConsumerFactory, FlowTable
from analyzer.http.parser import HttpLimits
from analyzer.observations import ConnSummary, Observations
from analyzer.reassembly import StreamConsumer
from analyzer.tlsnote import MAX_EXAMPLES as MAX_TLS_EXAMPLES
from analyzer.tlsnote import encrypted_note, looks_like_tls

DNS_PORT = 53
MAX_FINDINGS = 200  # reported per capture, the most severe first
MAX_LINKTYPE_NOTES = 8  # unsupported link types named one by one
MAX_DNS_TCP_MESSAGE = 65535 + 2


@dataclass(frozen=True, slots=True)
class AnalyzerOptions:
    """Limits and choices; every bound on memory is here and documented in the README."""

    show_secrets: bool = False
    max_flows: int = 200_000  # live TCP connections tracked at once
    max_ooo_bytes: int = 1 << 20  # out-of-order bytes held per stream direction
    max_ooo_segments: int = 1024  # out-of-order segments held per stream direction
    max_records: int = 20_000  # kept exchanges, failed connections, endpoints
    http: HttpLimits = field(default_factory=HttpLimits)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the edge knows about where the frames came from."""

    name: str
    format: str
    compression: str | None = None
    bytes_read: int = 0
    complete: bool = True
    problems: tuple[ReadIssue, ...] = ()


class _DnsOverTcp:
    """Splits a TCP stream into length-prefixed DNS messages (RFC 1035 §4.2.2).

    After a gap, or when joined midstream, the framing is lost for good: the
    rest of the stream is ignored rather than parsed as garbage.
    """

    __slots__ = ("buf", "dns", "ends", "lost")

    def __init__(self, dns: DnsTracker, ends: tuple[bytes, int, bytes, int]) -> None:
        self.dns = dns
        self.ends = ends
        self.buf = bytearray()
        self.lost = False

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        if self.lost:
            return
        self.buf += payload
        while len(self.buf) >= 2:
            size = (self.buf[0] << 8) | self.buf[1]
            if len(self.buf) < size + 2:
                if len(self.buf) > MAX_DNS_TCP_MESSAGE:
                    self.buf.clear()
                return
            src, sport, dst, dport = self.ends
            self.dns.message(frame, ts, src, sport, dst, dport, bytes(self.buf[2 : size + 2]))
            del self.buf[: size + 2]

    def gap(self, nbytes: int, frame: int) -> None:
        self.buf.clear()
        self.lost = True

    def midstream(self, frame: int) -> None:
        self.gap(0, frame)


class _FirstByte:
    """Stands in for a stream's consumer until the stream's first byte, gap or midstream join.

    A SYN creates its direction's stream (to learn the ISN), but the SYNs of a
    flood, a scan or an unreachable realm never carry a byte: the consumer (an
    HTTP connection is a few KiB) is only made for a stream that does. It then
    replaces this stand-in on the stream, so later segments go straight to it.
    A stand-in never replaced is a reference cycle with its connection:
    :meth:`forget` breaks it at retirement, so the connection is freed at once.

    A client stream that opens with a TLS handshake record is ciphertext: it gets
    no consumer, and the server's side a :class:`_TlsAnswer` that only notes
    whether the server answered in plain HTTP (``400 Bad Request`` to the HTTPS
    probe a client makes before falling back to HTTP for an insecure registry).
    """

    __slots__ = ("conn", "direction", "make")

    def __init__(self, make: ConsumerFactory, conn: Conn, direction: int) -> None:
        self.make = make
        self.conn: Conn | None = conn
        self.direction = direction

    def forget(self) -> None:
        self.conn = None

    def _real(self) -> StreamConsumer:
        conn = self.conn
        assert conn is not None, "a retired connection's stream got data"
        real = self.make(conn, self.direction) or DISCARD
        stream = conn.streams[self.direction]
        if stream is not None and stream.consumer is self:
            stream.consumer = real
        conn.consumers[self.direction] = real
        return real

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        conn = self.conn
        if self.direction == 0 and conn is not None and looks_like_tls(payload):
            sides: tuple[StreamConsumer, StreamConsumer] = (DISCARD, _TlsAnswer())
            for side, consumer in enumerate(sides):
                stream = conn.streams[side]
                if stream is not None and isinstance(stream.consumer, _FirstByte):
                    stream.consumer = consumer
                conn.consumers[side] = consumer
            return
        self._real().data(payload, frame, ts)

    def gap(self, nbytes: int, frame: int) -> None:
        self._real().gap(nbytes, frame)

    def midstream(self, frame: int) -> None:
        self._real().midstream(frame)


class _TlsAnswer:
    """The server's side of a connection the client opened with TLS."""

    __slots__ = ("plain", "seen")

    def __init__(self) -> None:
        self.seen = False
        self.plain = False  # the server answered in plain HTTP: not encrypted after all

    def data(self, payload: memoryview | bytes, frame: int, ts: int) -> None:
        if not self.seen:
            self.seen = True
            self.plain = bytes(payload[:5]) == b"HTTP/"

    def gap(self, nbytes: int, frame: int) -> None:
        self.seen = True

    def midstream(self, frame: int) -> None:
        self.seen = True


class Analyzer:
    """Feeds frames through decode → flows → HTTP/DNS → observations; detectors at the end."""

    def __init__(self, options: AnalyzerOptions | None = None) -> None:
        self.options = options or AnalyzerOptions()
        self.decoder = Decoder(self)
        self.flows = FlowTable(
            self._retired,
            self._consumer_for,
            max_flows=self.options.max_flows,
            max_ooo_bytes=self.options.max_ooo_bytes,
            max_ooo_segments=self.options.max_ooo_segments,
        )
        self.dns = DnsTracker()
        self.obs = Observations(max_records=self.options.max_records)
        self._http: dict[int, HttpConnection] = {}
        self.frames = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.linktypes: set[int] = set()
        self.udp = 0
        self.http_requests = 0
        self.http_responses = 0
        self.weirds: dict[str, list[int]] = {}  # name -> [count, first frame]
        self.unmatched_icmp = 0
        self.tls_conns = 0  # connections that stayed encrypted (TLS in both directions)
        self.tls_examples: list[str] = []  # their first few servers

    # -- input ----------------------------------------------------------------

    def feed(self, frame: tuple[int, int, int, bytes, int]) -> None:
        number, ts, linktype, data, _wire_len = frame
        self.frames += 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        if linktype not in self.linktypes:
            self.linktypes.add(linktype)
        self.decoder.decode(number, ts, linktype, data)

    # -- PacketSink -------------------------------------------------------------

    def on_tcp(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: memoryview,
        ttl: int,
    ) -> None:
        self.flows.segment(frame, ts, src, dst, sport, dport, seq, flags, payload, ttl)

    def on_udp(
        self,
        frame: int,
        ts: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        payload: memoryview,
    ) -> None:
        self.udp += 1
        if DNS_PORT in (sport, dport):
            self.dns.message(frame, ts, src, sport, dst, dport, bytes(payload))

    def on_unreachable(
        self,
        frame: int,
        ts: int,
        reporter: bytes,
        icmp_type: int,
        code: int,
        version: int,
        orig_src: bytes,
        orig_dst: bytes,
        orig_proto: int,
        orig_sport: int,
        orig_dport: int,
    ) -> None:
        if orig_proto != 6:
            return
        conn = self.flows.find(orig_src, orig_sport, orig_dst, orig_dport)
        if conn is None:
            self.unmatched_icmp += 1
            return
        if conn.icmp is None:
            conn.icmp = (frame, ts, icmp_type, code, reporter)
        conn.mark("I")

    def on_weird(self, frame: int, name: str) -> None:
        entry = self.weirds.get(name)
        if entry is None:
            self.weirds[name] = [1, frame]
        else:
            entry[0] += 1

    # -- wiring -----------------------------------------------------------------

    def _consumer_for(self, conn: Conn, direction: int) -> StreamConsumer | None:
        return _FirstByte(self._make_consumer, conn, direction)

    def _make_consumer(self, conn: Conn, direction: int) -> StreamConsumer | None:
        if DNS_PORT in (conn.resp_port, conn.orig_port):
            ends = (
                (conn.orig, conn.orig_port, conn.resp, conn.resp_port)
                if direction == 0
                else (conn.resp, conn.resp_port, conn.orig, conn.orig_port)
            )
            return _DnsOverTcp(self.dns, ends)
        http = self._http.get(conn.uid)
        if http is None:
            http = HttpConnection(
                conn.uid,
                ((conn.orig, conn.orig_port), (conn.resp, conn.resp_port)),
                self._exchange,
                self.on_weird,
                self.options.http,
            )
            self._http[conn.uid] = http
        return http.side(direction)

    def _exchange(self, ex: Exchange) -> None:
        self.obs.exchange(ex)

    def _retired(self, conn: Conn) -> None:
        http = self._http.pop(conn.uid, None)
        if http is not None:
            for direction in (0, 1):
                if conn.streams[direction] is not None:
                    http.eof(direction, conn.last_frame, conn.last_ts)
            self.http_requests += http.requests
            self.http_responses += http.responses
        self.obs.conn(conn)
        answer = conn.consumers[1]
        if isinstance(answer, _TlsAnswer) and not answer.plain:
            self.tls_conns += 1
            server = endpoint(conn.resp, conn.resp_port)
            if len(self.tls_examples) < MAX_TLS_EXAMPLES and server not in self.tls_examples:
                self.tls_examples.append(server)
        for consumer in conn.consumers:
            if isinstance(consumer, _FirstByte):
                consumer.forget()

    # -- output -----------------------------------------------------------------

    def findings(self) -> list[Finding]:
        """The findings so far, counting connections still open (for live use)."""
        live = [ConnSummary.of(c, live=True) for c in self.flows.live()]
        return run_detectors(self.obs, live, self.dns, self.last_ts, self.options.show_secrets)

    def finish(self, source: SourceInfo) -> Report:
        self.flows.close_all()
        self.dns.finish()
        findings = run_detectors(self.obs, [], self.dns, self.last_ts, self.options.show_secrets)
        summary = self.summary(source)
        if len(findings) > MAX_FINDINGS:
            # Thousands of findings (a crafted capture) would take minutes to render, to no use.
            more = f"{len(findings) - MAX_FINDINGS} more findings are not reported (at most "
            more += f"{MAX_FINDINGS}, the most severe first)"
            summary = replace(summary, notes=(*summary.notes, more))
            findings = findings[:MAX_FINDINGS]
        return Report(summary=summary, findings=tuple(findings))

    def summary(self, source: SourceInfo) -> CaptureSummary:
        notes: list[str] = []
        unsupported = sorted(self.decoder.unsupported_linktypes.items())
        for lt, count in unsupported[:MAX_LINKTYPE_NOTES]:
            notes.append(
                f"{count} frames of link type {lt} were not decoded (unsupported link type)"
            )
        if len(unsupported) > MAX_LINKTYPE_NOTES:
            rest = unsupported[MAX_LINKTYPE_NOTES:]
            notes.append(
                f"{sum(c for _, c in rest)} frames of {len(rest)} more unsupported link types "
                "were not decoded"
            )
        notes.extend(self.obs.limit_notes(self.flows.evicted_early, self.options.max_flows))
        if self.decoder.fragments.evicted:
            notes.append(
                f"{self.decoder.fragments.evicted} IP fragment sets could not be reassembled"
                " (too many at once, too many pieces, or past 64 KiB)"
            )
        if len(self.decoder.fragments):
            notes.append(
                f"{len(self.decoder.fragments)} IP fragment sets were still incomplete "
                "at the end of the capture"
            )
        if self.tls_conns and not self.obs.bearer_challenged:
            notes.append(encrypted_note(self.tls_conns, self.tls_examples))
        weirds = [(name, c, f) for name, (c, f) in sorted(self.weirds.items())]
        if self.dns.malformed:
            weirds.append(("dns_malformed", self.dns.malformed, 0))
        return CaptureSummary(
            source=source.name,
            format=source.format,
            compression=source.compression,
            engine="default",
            frames=self.frames,
            bytes_read=source.bytes_read,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            complete=source.complete,
            linktypes=tuple(sorted(self.linktypes)),
            tcp_connections=self.flows.total,
            udp_datagrams=self.udp,
            http_requests=self.http_requests,
            http_responses=self.http_responses,
            http_exchanges=self.obs.exchanges_total,
            dns_messages=self.dns.messages,
            weirds=tuple(weirds),
            read_problems=source.problems,
            notes=tuple(notes),
        )

    @property
    def decodable(self) -> bool:
        return any(lt in SUPPORTED_LINKTYPES for lt in self.linktypes)
