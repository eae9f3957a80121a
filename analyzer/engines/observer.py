"""The tshark engine's core: tshark's per-packet fields in, the pipeline's report out.

How this works: :meth:`TsharkObserver.packet` takes one packet's fields (see
:mod:`analyzer.engines.fields`) and hands them on: TCP segments to the
:class:`~analyzer.engines.tcpconns.ConnTracker`, ICMP and ICMPv6 destination
unreachable to the connection they quote, HTTP/1.x and HTTP/2 to
:class:`~analyzer.engines.httpmsgs.HttpMessages`, DNS to the tracker. Retired
connections and completed exchanges land in the same
:class:`~analyzer.observations.Observations` the default engine fills, and
:meth:`finish` runs the same detectors and builds the same
:class:`~analyzer.findings.Report` as :meth:`analyzer.pipeline.Analyzer.finish`.
Like the rest of the core, it is pure: no I/O, the capture's time only.

TLS: a stream that began with a ClientHello and never showed HTTP or HTTP/2
stayed encrypted; the report's notes say how many and what would reveal them.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.addr import endpoint
from analyzer.detectors import run_detectors
from analyzer.dns import DnsTracker
from analyzer.engines.dnsmsgs import message_from_fields
from analyzer.engines.fields import Layers, addresses, epoch_ns, first, packed, to_int
from analyzer.engines.httpmsgs import HttpMessages
from analyzer.engines.tcpconns import ConnTracker
from analyzer.findings import CaptureSummary, Report
from analyzer.flows import Conn
from analyzer.observations import Observations
from analyzer.pipeline import AnalyzerOptions, SourceInfo
from analyzer.tlsnote import MAX_EXAMPLES, encrypted_note

_CLIENT_HELLO = "1"


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What is known of the whole file, beyond the packets the display filter let through."""

    frames: int | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    linktypes: tuple[int, ...] = ()


class TsharkObserver:
    """Builds observations from tshark's fields; ``finish`` gives the report."""

    def __init__(self, options: AnalyzerOptions | None = None, *, keylog: bool = False) -> None:
        self.options = options or AnalyzerOptions()
        self.keylog = keylog
        self.obs = Observations(max_records=self.options.max_records)
        self.dns = DnsTracker()
        self.http = HttpMessages(self.obs.exchange)
        self.conns = ConnTracker(self._retired, max_flows=self.options.max_flows)
        self.frames = 0  # packets tshark printed (those the display filter kept)
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.udp = 0
        self._tls: dict[
            int, str
        ] = {}  # live streams that began with a ClientHello: what they reach
        self.tls_total = 0
        self.encrypted = 0
        self.encrypted_examples: list[str] = []

    def packet(self, layers: Layers) -> None:
        stamp = first(layers, "frame_time_epoch")
        if stamp is None:
            return
        frame, ts = to_int(first(layers, "frame_number")), epoch_ns(stamp)
        self.frames += 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        srcs, dsts, ttls = addresses(layers)
        if not srcs or len(dsts) != len(srcs):
            return
        icmp4, icmp6 = first(layers, "icmp_type"), first(layers, "icmpv6_type")
        if icmp4 == "3" or icmp6 == "1":
            self._unreachable(frame, ts, layers, srcs, dsts, 4 if icmp4 == "3" else 6)
            return
        src, dst = packed(srcs[-1]), packed(dsts[-1])
        stream = first(layers, "tcp_stream")
        if stream is not None:
            ttl = to_int(ttls[-1]) if ttls else 0
            self._tcp(to_int(stream), frame, ts, src, dst, ttl, layers)
        elif "udp_srcport" in layers:
            self.udp += 1
            if "dns_id" in layers:
                sport, dport = (
                    to_int(first(layers, "udp_srcport")),
                    to_int(first(layers, "udp_dstport")),
                )
                self.dns.add(frame, ts, src, sport, dst, dport, message_from_fields(layers))

    def _unreachable(
        self, frame: int, ts: int, layers: Layers, srcs: list[str], dsts: list[str], version: int
    ) -> None:
        if "tcp_srcport" not in layers or len(srcs) < 2:
            return  # quoting UDP, or too little of the offending packet
        kind = "icmp" if version == 4 else "icmpv6"
        self.conns.unreachable(
            frame,
            ts,
            packed(srcs[-2]),
            to_int(first(layers, f"{kind}_type")),
            to_int(first(layers, f"{kind}_code")),
            packed(srcs[-1]),
            to_int(first(layers, "tcp_srcport")),
            packed(dsts[-1]),
            to_int(first(layers, "tcp_dstport")),
        )

    def _tcp(
        self, stream: int, frame: int, ts: int, src: bytes, dst: bytes, ttl: int, layers: Layers
    ) -> None:
        sport, dport = to_int(first(layers, "tcp_srcport")), to_int(first(layers, "tcp_dstport"))
        self.conns.segment(
            stream,
            frame,
            ts,
            src,
            sport,
            dst,
            dport,
            to_int(first(layers, "tcp_flags")),
            to_int(first(layers, "tcp_seq_raw")),
            to_int(first(layers, "tcp_len")),
            ttl,
        )
        if _CLIENT_HELLO in layers.get("tls_handshake_type", ()) and stream not in self._tls:
            self.tls_total += 1
            sni = first(layers, "tls_handshake_extensions_server_name")
            self._tls[stream] = endpoint(dst, dport) + (f" (SNI {sni})" if sni else "")
        if "dns_id" in layers:
            self.dns.add(frame, ts, src, sport, dst, dport, message_from_fields(layers))
            return
        if "http2_type" in layers:
            self.http.http2(stream, frame, ts, (src, sport), (dst, dport), layers)
        self.http.http1(
            stream,
            frame,
            ts,
            (src, sport),
            (dst, dport),
            layers,
            to_int(first(layers, "tcp_seq")),
            "tls_record_content_type" in layers,
        )

    def _retired(self, stream: int, conn: Conn) -> None:
        self.obs.conn(conn)
        self.http.close_stream(stream)
        reached = self._tls.pop(stream, None)
        if reached is not None and stream not in self.http.http_streams:
            self.encrypted += 1
            if len(self.encrypted_examples) < MAX_EXAMPLES:
                self.encrypted_examples.append(reached)
        self.http.http_streams.discard(stream)

    # -- output -----------------------------------------------------------------

    def finish(self, source: SourceInfo, facts: FileFacts | None = None) -> Report:
        facts = facts or FileFacts()
        self.conns.close_all()
        self.http.close_all()
        self.dns.finish()
        last_ts = facts.last_ts if facts.last_ts is not None else self.last_ts
        findings = run_detectors(self.obs, [], self.dns, last_ts, self.options.show_secrets)
        first_ts = facts.first_ts if facts.first_ts is not None else self.first_ts
        summary = CaptureSummary(
            source=source.name,
            format=source.format,
            compression=source.compression,
            frames=facts.frames if facts.frames is not None else self.frames,
            bytes_read=source.bytes_read,
            first_ts=first_ts,
            last_ts=last_ts,
            complete=source.complete,
            linktypes=facts.linktypes,
            tcp_connections=self.conns.total,
            udp_datagrams=self.udp,
            http_requests=self.http.requests,
            http_responses=self.http.responses,
            http_exchanges=self.obs.exchanges_total,
            dns_messages=self.dns.messages,
            weirds=(("dns_malformed", self.dns.malformed, 0),) if self.dns.malformed else (),
            read_problems=source.problems,
            notes=tuple(self.notes(facts)),
            engine="tshark",
        )
        return Report(summary=summary, findings=tuple(findings))

    def notes(self, facts: FileFacts) -> list[str]:
        notes = ["read by Wireshark's dissectors (--engine tshark); frame numbers are tshark's"]
        if facts.frames is None:
            notes.append(
                "the frame count and end time are those of the frames tshark reported (capinfos "
                "could not read the input)"
            )
        notes.extend(self._tls_notes())
        if self.http.recovered:
            notes.append(
                f"{self.http.recovered} HTTP message heads were read back from bytes tshark had "
                "reassembled as the continuation of a previous body (a tshark 4.0 quirk)"
            )
        notes.extend(self.obs.limit_notes(self.conns.evicted_early, self.options.max_flows))
        return notes

    def _tls_notes(self) -> list[str]:
        if not self.encrypted:
            return []
        examples = ", ".join(self.encrypted_examples)
        many = "s" if self.encrypted != 1 else ""
        if self.keylog:
            return [
                f"{self.encrypted} of {self.tls_total} TLS connection{many} could not be decrypted "
                f"with the key log given ({examples}): it holds no secrets for those sessions; "
                "record it with the capture, from the client that made them"
            ]
        if self.obs.bearer_challenged:
            return []
        return [encrypted_note(self.encrypted, self.encrypted_examples)]
