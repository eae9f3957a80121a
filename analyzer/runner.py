"""Running the pipeline over a capture file: the edge shared by every command.

Reads frames from a source, feeds the analyzer, turns "nothing could be read"
into an :class:`~analyzer.errors.AnalyzerError`, and maps a report to an exit
code. Progress goes to stderr only when asked (the CLI asks when stderr is a
terminal).
"""

from __future__ import annotations

import os
import sys
import time
from itertools import islice
from typing import NoReturn

import typer

from analyzer.decode import SUPPORTED_LINKTYPES
from analyzer.errors import AnalyzerError
from analyzer.fastpath import feed_frames
from analyzer.findings import ReadIssue, Report, Severity
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.sources.open import open_capture

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PROGRESS_EVERY = 1 << 16  # frames between progress updates


def fail(err: AnalyzerError) -> NoReturn:
    """Print an error (and its hint) to stderr and exit 2; brackets in the text stay literal."""
    # rich loads only when there is something to print (~20 ms of every start otherwise).
    from rich.console import Console  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    stderr = Console(stderr=True, highlight=False)
    stderr.print(Text.assemble(("pushcap: error: ", "bold red"), err.message), soft_wrap=True)
    if err.hint:
        stderr.print(Text.assemble(("hint: ", "bold"), err.hint), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def quiet_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Progress:
    """Frames and bytes read, on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self.enabled = enabled
        self.total = total
        self.start = time.monotonic()
        self.next_at = self.start + 0.5
        self.shown = False

    def update(self, frames: int, nbytes: int) -> None:
        now = time.monotonic()
        if not self.enabled or now < self.next_at:
            return
        self.next_at = now + 0.2
        rate = frames / max(now - self.start, 1e-9)
        share = f" {100 * nbytes / self.total:5.1f}%" if self.total else ""
        sys.stderr.write(
            f"\rreading:{share} {nbytes / 1e6:,.1f} MB, {frames:,} frames ({rate:,.0f} frames/s) "
        )
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def analyze_file(path: str, options: AnalyzerOptions, *, progress: bool = False) -> Report:
    """Read ``path`` (or stdin for ``-``) through the pipeline; raise AnalyzerError if nothing could be read."""
    reader = open_capture(path)
    total = None
    if path != "-":
        try:
            total = os.path.getsize(path) if reader.compression is None else None
        except OSError:
            total = None
    meter = _Progress(progress, total)
    analyzer = Analyzer(options)
    interrupted = False
    with reader:
        try:
            frames = iter(reader)
            while True:
                # Batches keep the per-frame loop free of progress bookkeeping.
                before = analyzer.frames
                feed_frames(analyzer, islice(frames, PROGRESS_EVERY))
                if analyzer.frames == before:
                    break
                meter.update(analyzer.frames, reader.bytes_read)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            meter.done()
    problems = [ReadIssue(p.offset, p.frame, p.message) for p in reader.problems]
    if interrupted:
        problems.append(
            ReadIssue(
                reader.bytes_read,
                None,
                f"interrupted after {analyzer.frames} frames; the report covers those",
            )
        )
    if analyzer.frames == 0:
        if problems:
            raise AnalyzerError(
                f"{display_name(path)}: no packet could be read: {problems[0].message}",
                hint="the file may be truncated or damaged; `capinfos` or `tshark -r` tell more",
            )
        raise AnalyzerError(
            f"{display_name(path)}: the capture holds no packets",
            hint="check the capture filter and interface (`tcpdump -i any -w FILE port 8200 or "
            "'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'`)",
        )
    if not analyzer.decodable:
        kinds = ", ".join(str(lt) for lt in sorted(analyzer.linktypes))
        raise AnalyzerError(
            f"{display_name(path)}: link type {kinds} is not one pushcap decodes",
            hint="supported: Ethernet, Linux cooked (v1/v2, `tcpdump -i any`), raw IP, BSD loopback; "
            f"convert with `editcap -T ether` or recapture ({sorted(SUPPORTED_LINKTYPES)})",
        )
    source = SourceInfo(
        name=display_name(path),
        format=reader.format,
        compression=reader.compression,
        bytes_read=reader.bytes_read,
        complete=reader.complete and not interrupted,
        problems=tuple(problems),
    )
    return analyzer.finish(source)


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def exit_code(report: Report) -> int:
    worst = report.worst
    return EXIT_FINDINGS if worst is not None and worst >= Severity.WARNING else EXIT_OK
