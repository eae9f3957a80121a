"""The sniff session: capture, stream verdicts, report (``pushcap sniff``'s body).

How this works: the capture socket (``analyzer.sources.live``, imported only
here and only when a capture starts, so the rest of pushcap never needs scapy)
hands over raw frames in batches; each batch is written to ``-w FILE`` if asked
and fed through the same fast path and :class:`~analyzer.pipeline.Analyzer` as
``analyze``. Every half second of wall time with new packets,
``Analyzer.findings()`` goes through a :class:`~analyzer.live.VerdictTracker`,
whose events are shown at once: on stderr for ``text`` and ``json`` (stdout
then carries only the final report), as JSON lines on stdout for ``jsonl``.
Ctrl-C, SIGTERM, SIGHUP, ``--duration``, ``--count`` and ``--until-diagnosis``
all end the loop the same way: the socket and the file are closed and the
final report is printed, with the exit code of ``analyze``.

:mod:`analyzer.cli_sniff` declares the command and imports this module only
when the command runs, so that other commands do not load rich's console or
the capture machinery.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from analyzer.cli_sniff import SniffConfig, SniffFormat, no_scapy
from analyzer.errors import AnalyzerError
from analyzer.fastpath import feed_frames
from analyzer.findings import ReadIssue, Report
from analyzer.live import EventKind, LiveEvent, VerdictTracker, event_dict, event_line
from analyzer.pipeline import Analyzer, SourceInfo
from analyzer.render.jsonout import report_dict
from analyzer.render.text import render_finding, render_text
from analyzer.runner import exit_code
from analyzer.sources.pcapwriter import PcapWriter

if TYPE_CHECKING:
    from analyzer.sources.live import InterfaceInfo, LiveCapture

CHECK_EVERY_S = 0.5  # wall time between two looks at the findings
STATUS_EVERY_S = 0.5  # redraw of the status line
WAKE_EVERY_S = 0.1  # longest sleep: how fast a signal or a deadline is noticed
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Session:
    """One capture from open to report; the only place that knows about time and signals."""

    def __init__(
        self, cfg: SniffConfig, expr: str, iface: InterfaceInfo, capture: LiveCapture
    ) -> None:
        self.cfg = cfg
        self.expr = expr
        self.iface = iface
        self.capture = capture
        self.writer: PcapWriter | None = None
        self.analyzer = Analyzer(cfg.options)
        self.tracker = VerdictTracker()
        self.stderr = Console(
            stderr=True,
            highlight=False,
            no_color=cfg.no_color or None,
            width=None if sys.stderr.isatty() else 120,
        )
        self.status_shown = False
        self.next_status = 0.0
        self.show_status = not cfg.quiet and sys.stderr.isatty()
        self.stop_reason: str | None = None
        self.started = time.monotonic()
        self.bytes_read = 0

    # -- the loop ------------------------------------------------------------

    def run(self) -> None:
        cfg, capture = self.cfg, self.capture
        deadline = self.started + cfg.duration if cfg.duration is not None else None
        last_check = self.started
        unchecked = False
        while self.stop_reason is None:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.stop_reason = f"--duration {cfg.duration:g}"
                break
            timeout = WAKE_EVERY_S if deadline is None else min(WAKE_EVERY_S, deadline - now)
            if capture.wait(max(timeout, 0.0)):
                limit = 4096 if cfg.count is None else cfg.count - capture.frames
                frames = capture.read(limit)
                for frame in frames:
                    self.bytes_read += len(frame[3])
                    if self.writer is not None:
                        self.writer.write(frame[1], frame[3], frame[4])
                # The fast path, as for a file: a blob upload at link speed must keep up.
                feed_frames(self.analyzer, frames)
                if frames:
                    unchecked = True
                    if self.writer is not None:
                        self.writer.flush()
            if capture.error is not None:
                self.stop_reason = f"an error ({capture.error})"
            elif cfg.count is not None and capture.frames >= cfg.count:
                self.stop_reason = f"--count {cfg.count}"
            now = time.monotonic()
            if unchecked and (now - last_check >= CHECK_EVERY_S or self.stop_reason):
                last_check, unchecked = now, False
                self.emit(self.tracker.observe(self.analyzer.findings()))
                if cfg.until_diagnosis and self.tracker.announced:
                    self.stop_reason = self.stop_reason or "--until-diagnosis: diagnosis found"
            self.status(now)
        if unchecked:
            self.emit(self.tracker.observe(self.analyzer.findings()))

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_reason = self.stop_reason or signal.Signals(signum).name

    # -- what the user sees while it runs ---------------------------------------

    def banner(self) -> None:
        if self.cfg.quiet:
            return
        kind = "Linux cooked v2" if self.capture.linktype == 276 else "Ethernet"
        saved = f", saving to {self.cfg.write}" if self.cfg.write else ""
        self.stderr.print(
            Text(
                f"pushcap: listening on {self.iface.name} ({kind}{saved}); filter: "
                f"{self.expr}\npushcap: start or retry the push now; stop with Ctrl-C",
                style="dim",
            ),
            soft_wrap=True,
        )
        if not self.iface.up:
            self.stderr.print(
                f"pushcap: warning: {self.iface.name} is down: nothing will be captured on it"
            )

    def emit(self, events: list[LiveEvent]) -> None:
        if not events:
            return
        self.clear_status()
        first_ts = self.analyzer.first_ts
        for ev in events:
            if self.cfg.output is SniffFormat.jsonl:
                line = json.dumps(event_dict(ev, first_ts), ensure_ascii=False)
                sys.stdout.write(line + "\n")
            elif ev.kind is EventKind.FINDING:
                self.stderr.print(
                    Text(
                        "── diagnosis while the push runs (the full report follows when the "
                        "capture stops) ──",
                        style="bold",
                    ),
                    soft_wrap=True,
                )
                render_finding(self.stderr, ev.finding, first_ts)
            else:
                mark = "↻" if ev.kind is EventKind.UPDATE else "↺"
                self.stderr.print(Text(f"{mark} {event_line(ev)}"), soft_wrap=True)
        sys.stdout.flush()

    def status(self, now: float) -> None:
        if not self.show_status or now < self.next_status:
            return
        self.next_status = now + STATUS_EVERY_S
        a = self.analyzer
        line = (
            f"sniffing {self.iface.name}: {a.frames:,} packets, {a.flows.total:,} flows, "
            f"{a.obs.exchanges_total:,} HTTP exchanges, {now - self.started:,.0f} s"
        )
        sys.stderr.write("\r\033[K" + line)
        sys.stderr.flush()
        self.status_shown = True

    def clear_status(self) -> None:
        if self.status_shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.status_shown = False
            self.next_status = 0.0  # redraw at once under what was printed

    # -- the end ----------------------------------------------------------------

    def report(self) -> tuple[Report, int | None]:
        capture = self.capture
        drops = capture.dropped()
        problems: list[ReadIssue] = []
        if capture.error is not None:
            problems.append(ReadIssue(0, None, capture.error))
        if drops:
            problems.append(
                ReadIssue(
                    0,
                    None,
                    f"the kernel dropped {drops} packets (capture buffer full): the analysis "
                    "may miss some of what happened",
                )
            )
        if self.analyzer.frames == 0:
            elapsed = time.monotonic() - self.started
            raise AnalyzerError(
                f"no packet was captured on {self.iface.name} in {elapsed:.1f} s "
                f"(stopped by {self.stop_reason})",
                hint="run the push (or `docker login`) while pushcap sniffs; check the interface "
                "(`pushcap interfaces`, `-i any`) and the registry port (`--port`)",
            )
        name = f"interface {self.iface.name}" + (
            f", saved to {self.cfg.write}" if self.cfg.write else ""
        )
        source = SourceInfo(
            name=name,
            format="live",
            bytes_read=self.bytes_read,
            complete=capture.error is None,
            problems=tuple(problems),
        )
        report = self.analyzer.finish(source)
        notes = [f"capture stopped by {self.stop_reason}"]
        if drops is None:
            notes.append("packets dropped by the kernel: unknown (the socket does not say)")
        summary = replace(report.summary, notes=report.summary.notes + tuple(notes))
        return replace(report, summary=summary), drops

    def print_report(self, report: Report, drops: int | None) -> None:
        self.clear_status()
        out = self.cfg.output
        if out is SniffFormat.text:
            console = Console(
                no_color=self.cfg.no_color or None,
                highlight=False,
                width=None if sys.stdout.isatty() else 120,
            )
            render_text(report, console)
        else:
            doc: dict[str, Any] = report_dict(report)
            doc["capture"].update(
                interface=self.iface.name,
                filter=self.expr,
                linktype=self.capture.linktype,
                kernel_drops=drops,
                stopped_by=self.stop_reason,
                saved_to=self.cfg.write,
            )
            if out is SniffFormat.jsonl:
                sys.stdout.write(json.dumps({"event": "report", **doc}, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if not self.cfg.quiet:
            dropped = "unknown" if drops is None else str(drops)
            self.stderr.print(
                Text(
                    f"pushcap: {self.capture.frames} packets captured on {self.iface.name}; "
                    f"dropped by the kernel: {dropped}",
                    style="dim",
                )
            )


def run_sniff(cfg: SniffConfig) -> int:
    """Capture, stream verdicts, print the report; the exit code. Raises AnalyzerError."""
    try:
        from analyzer.sources import live  # noqa: PLC0415 - scapy loads only to capture
    except ImportError as exc:
        raise no_scapy(exc) from exc
    iface = live.resolve_interface(cfg.iface)
    expr = cfg.bpf if cfg.bpf is not None else live.default_filter(cfg.ports)
    program = live.compile_filter(expr, iface)
    capture = live.open_live(iface, program, expr)
    session = Session(cfg, expr, iface, capture)
    previous: dict[int, Any] = {}
    try:
        if cfg.write is not None:
            session.writer = PcapWriter.create(cfg.write, capture.linktype)
        for name in _STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None:
                # Outside the main thread (embedding) signals cannot be caught: defaults stay.
                with contextlib.suppress(ValueError):
                    previous[signum] = signal.signal(signum, session.on_signal)
        session.banner()
        try:
            session.run()
        except KeyboardInterrupt:
            session.stop_reason = session.stop_reason or "SIGINT"
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        session.clear_status()
        capture.close()
        if session.writer is not None:
            session.writer.close()
    report, drops = session.report()
    session.print_report(report, drops)
    return exit_code(report)
