"""The command line: thin typer commands over the pipeline.

Exit codes: 0 nothing wrong, 1 findings of warning level or worse, 2 could
not run. Only :class:`~analyzer.errors.AnalyzerError` is caught here: any
other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from analyzer import __version__
from analyzer.decode import SUPPORTED_LINKTYPES
from analyzer.errors import AnalyzerError
from analyzer.findings import ReadIssue, Report, Severity
from analyzer.http.parser import HttpLimits
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.render.jsonout import render_json
from analyzer.render.text import render_text
from analyzer.sources.open import open_capture

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
_DEFAULTS = AnalyzerOptions()

app = typer.Typer(
    name="pushcap",
    help=(
        "Explain why a docker push or pull to a private registry hangs or fails, from a packet "
        "capture: finds each 401 challenge and its token realm, follows the client's attempts "
        "to reach the realm, and names the failure with evidence and the fix."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def _fail(err: AnalyzerError) -> NoReturn:
    stderr = Console(stderr=True, highlight=False)
    stderr.print(f"[bold red]pushcap: error:[/] {err.message}", markup=True, soft_wrap=True)
    if err.hint:
        stderr.print(f"[bold]hint:[/] {err.hint}", markup=True, soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pushcap {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """pushcap: diagnose registry token-flow failures from a capture."""


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
            for n, frame in enumerate(reader, 1):
                analyzer.feed(frame)
                if not n & 0x3FFF:
                    meter.update(n, reader.bytes_read)
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
                f"{_name(path)}: no packet could be read: {problems[0].message}",
                hint="the file may be truncated or damaged; `capinfos` or `tshark -r` tell more",
            )
        raise AnalyzerError(
            f"{_name(path)}: the capture holds no packets",
            hint="check the capture filter and interface (`tcpdump -i any -w FILE port 8200 or "
            "'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'`)",
        )
    if not analyzer.decodable:
        kinds = ", ".join(str(lt) for lt in sorted(analyzer.linktypes))
        raise AnalyzerError(
            f"{_name(path)}: link type {kinds} is not one pushcap decodes",
            hint="supported: Ethernet, Linux cooked (v1/v2, `tcpdump -i any`), raw IP, BSD loopback; "
            f"convert with `editcap -T ether` or recapture ({sorted(SUPPORTED_LINKTYPES)})",
        )
    source = SourceInfo(
        name=_name(path),
        format=reader.format,
        compression=reader.compression,
        bytes_read=reader.bytes_read,
        complete=reader.complete and not interrupted,
        problems=tuple(problems),
    )
    return analyzer.finish(source)


def _name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def exit_code(report: Report) -> int:
    worst = report.worst
    return EXIT_FINDINGS if worst is not None and worst >= Severity.WARNING else EXIT_OK


@app.command()
def analyze(
    capture: Annotated[
        str,
        typer.Argument(
            metavar="CAPTURE",
            help="pcap or pcapng file, optionally gzip-compressed; `-` reads standard input "
            "(tcpdump -w - … | pushcap analyze -).",
        ),
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Report format.")
    ] = OutputFormat.text,
    no_color: Annotated[bool, typer.Option("--no-color", help="Never colour the output.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display on stderr.")
    ] = False,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help="Show credentials, tokens and cookies found in the capture (redacted by default).",
        ),
    ] = False,
    max_flows: Annotated[
        int, typer.Option(help="TCP connections tracked at once (memory bound).", min=16)
    ] = _DEFAULTS.max_flows,
    max_records: Annotated[
        int,
        typer.Option(
            help="Exchanges, failed connections and endpoints kept for the detectors.", min=16
        ),
    ] = _DEFAULTS.max_records,
    max_header_bytes: Annotated[
        int, typer.Option(help="Bytes of one HTTP header block before it is dropped.", min=256)
    ] = _DEFAULTS.http.max_header_bytes,
    max_reassembly_bytes: Annotated[
        int,
        typer.Option(help="Out-of-order bytes held per TCP stream direction.", min=4096),
    ] = _DEFAULTS.max_ooo_bytes,
) -> None:
    """Read a capture and diagnose the registry token flow."""
    options = AnalyzerOptions(
        show_secrets=show_secrets,
        max_flows=max_flows,
        max_records=max_records,
        max_ooo_bytes=max_reassembly_bytes,
        http=HttpLimits(max_header_bytes=max_header_bytes),
    )
    progress = not quiet and sys.stderr.isatty()
    try:
        report = analyze_file(capture, options, progress=progress)
    except AnalyzerError as err:
        _fail(err)
    if output_format is OutputFormat.json:
        sys.stdout.write(render_json(report))
    else:
        console = Console(
            no_color=no_color or None,
            highlight=False,
            width=None if sys.stdout.isatty() else 120,
        )
        render_text(report, console)
    sys.stdout.flush()
    raise typer.Exit(exit_code(report))


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
