"""The command line: thin typer commands over the pipeline.

Exit codes: 0 nothing wrong, 1 findings of warning level or worse, 2 could
not run. Only :class:`~analyzer.errors.AnalyzerError` is caught here: any
other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from analyzer import __version__, cli_audit, cli_sniff
from analyzer.cli_engine import EngineOption, KeylogOption
from analyzer.engines import Engine, check_keylog_engine
from analyzer.errors import AnalyzerError
from analyzer.http.parser import HttpLimits
from analyzer.pipeline import AnalyzerOptions
from analyzer.render.jsonout import render_json
from analyzer.runner import EXIT_OK, analyze_file, exit_code, fail, quiet_stdout

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
    engine: EngineOption = Engine.default,
    tls_keylog: KeylogOption = None,
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
        check_keylog_engine(engine, tls_keylog)
        if engine is Engine.tshark:
            from analyzer.engines.tshark import analyze_with_tshark  # noqa: PLC0415 - its users pay

            report = analyze_with_tshark(capture, options, keylog=tls_keylog)
        else:
            report = analyze_file(capture, options, progress=progress)
    except AnalyzerError as err:
        fail(err)
    try:
        if output_format is OutputFormat.json:
            sys.stdout.write(render_json(report))
        else:
            # rich loads only for text output: JSON needs none of it (~20 ms per start).
            from rich.console import Console  # noqa: PLC0415

            from analyzer.render.text import render_text  # noqa: PLC0415

            console = Console(
                no_color=no_color or None,
                highlight=False,
                width=None if sys.stdout.isatty() else 120,
            )
            render_text(report, console)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): the analysis itself succeeded.
        quiet_stdout()
    raise typer.Exit(exit_code(report))


# Commands that live in their own modules add themselves to the app.
cli_sniff.register(app)
cli_audit.register(app)


def main() -> None:
    app()
