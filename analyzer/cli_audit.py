"""``pushcap audit``: which of many captures show a broken token flow, and why.

A thin command: discovery, the backend, the writers and the summary live in
:mod:`analyzer.audit` and :mod:`analyzer.render.audit_formats`. Exit codes as
for ``analyze``: 1 when a file has a finding at or above ``--fail-on``, 2 for
wrong arguments or when no file at all could be read, 130 when interrupted,
otherwise 0. Unreadable files do not change the code by themselves: they get
an error row and are listed in the summary.

``--engine tshark`` (with ``--tls-keylog KEYLOG`` for every file) reads each
file through tshark in the worker; a missing tshark or an unreadable key log
stops the audit with exit 2 before any file is read (with ``--scheduler`` the
workers' own tshark is used, and a worker without it gives error rows).
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console

from analyzer.audit.batch import backend_rows, default_jobs, run_batch
from analyzer.audit.discover import DEFAULT_GLOBS, discover
from analyzer.audit.progress import AuditProgress
from analyzer.audit.row import AuditSettings
from analyzer.audit.summary import AuditSummary
from analyzer.engines import Engine
from analyzer.engines.tshark import check_keylog, find_tshark
from analyzer.errors import AnalyzerError, UsageError
from analyzer.findings import Severity
from analyzer.render.audit_formats import AuditFormat, make_writer
from analyzer.runner import EXIT_ERROR, EXIT_OK, fail, quiet_stdout

_DEFAULTS = AuditSettings()


class FailOn(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


def audit(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH...",
            help="Capture files (any name: formats are known by content) and directories; "
            "fsspec URLs such as s3://bucket/prefix when fsspec is installed.",
        ),
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into subdirectories.")
    ] = False,
    globs: Annotated[
        list[str] | None,
        typer.Option(
            "--glob",
            "-g",
            metavar="PATTERN",
            help="File name pattern for directories, case-insensitive; repeatable; replaces the "
            f"defaults ({' '.join(DEFAULT_GLOBS)}).",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Files read at once (default: the number of cores; with --scheduler the "
            "cluster decides).",
        ),
    ] = None,
    output_format: Annotated[
        AuditFormat,
        typer.Option(
            "--format",
            "-f",
            help="table: for people; jsonl: a JSON report per file as it finishes; csv: a row "
            "per finding; junit: JUnit XML for CI.",
        ),
    ] = AuditFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write there instead of stdout."),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a file has a finding this severe.")
    ] = FailOn.warning,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0,
            metavar="S",
            help="Wall-clock seconds per file, then it is "
            "stopped and gets an error row (0: no limit).",
        ),
    ] = _DEFAULTS.timeout_s,
    max_memory: Annotated[
        int,
        typer.Option(
            "--max-memory",
            min=0,
            metavar="MB",
            help="Address space of each worker process (RLIMIT_AS); a file needing more gets "
            "an error row (0: no limit).",
        ),
    ] = _DEFAULTS.max_memory_mb,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="tcp://HOST:PORT",
            help="Run on this Dask distributed cluster (needs the dask extra of pushcap); "
            "the workers must be able to read the paths.",
        ),
    ] = None,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help="Show credentials, tokens and cookies found in captures (redacted by default).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display on stderr.")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            help="What reads each capture: pushcap's own decoder, or Wireshark's dissectors "
            "through tshark (slower; decrypts TLS with --tls-keylog, decodes HTTP/2).",
        ),
    ] = Engine.default,
    tls_keylog: Annotated[
        str | None,
        typer.Option(
            "--tls-keylog",
            metavar="KEYLOG",
            help="TLS key log (SSLKEYLOGFILE format) for every capture; needs --engine tshark.",
        ),
    ] = None,
) -> None:
    """Audit many captures at once: a row per file, a summary grouping repeated findings."""
    try:
        settings = _settings(
            engine,
            tls_keylog,
            local=scheduler is None,
            show_secrets=show_secrets,
            timeout_s=timeout,
            max_memory_mb=max_memory,
        )
        found = discover(paths, recursive=recursive, globs=tuple(globs or DEFAULT_GLOBS))
        if not found.files and not found.unreadable:
            raise UsageError(
                f"no capture files in {', '.join(paths)}",
                hint=f"directories are searched for {' '.join(globs or DEFAULT_GLOBS)}"
                + ("" if recursive else "; add --recursive for subdirectories")
                + "; --glob PATTERN for other names",
            )
        out: TextIO = _open_output(output)
        rows = backend_rows(found.files, settings, jobs=jobs or default_jobs(), scheduler=scheduler)
    except AnalyzerError as err:
        # fail() prints with rich markup: keep "[dask]" and bracketed paths as they are.
        fail(err)
    summary = AuditSummary(Severity.parse(fail_on.value))
    total = len(found.files) + len(found.unreadable)
    progress = AuditProgress(total, enabled=not quiet and sys.stderr.isatty())
    writer = make_writer(output_format, out, summary.fail_on, rich=out.isatty())
    try:
        result = run_batch(found, rows, writer=writer, summary=summary, progress=progress)
        text = summary.text(total, interrupted=result.interrupted)
        writer.finish(result.rows, text)
    except BrokenPipeError:
        # The reader went away (`| head`): the workers are gone already.
        quiet_stdout()
        raise typer.Exit(EXIT_OK) from None
    finally:
        if out is not sys.stdout:
            out.close()
    if output_format is not AuditFormat.table:
        sys.stderr.write(text)
    code = summary.exit_code(interrupted=result.interrupted)
    if code == EXIT_ERROR:
        Console(stderr=True, highlight=False).print(
            f"[bold red]pushcap: error:[/] none of the {total} files could be read", markup=True
        )
    raise typer.Exit(code)


def _settings(
    engine: Engine,
    keylog: str | None,
    *,
    local: bool,
    show_secrets: bool,
    timeout_s: float,
    max_memory_mb: int,
) -> AuditSettings:
    """The workers' settings; raise before any work if the engine cannot run here."""
    if engine is Engine.tshark:
        if keylog is not None:
            keylog = os.path.abspath(keylog)  # the workers need not share our directory
        if local:  # a cluster's workers have their own tshark and files
            find_tshark()
            if keylog is not None:
                check_keylog(keylog)
    elif keylog is not None:
        raise UsageError("--tls-keylog needs the tshark engine", hint="add --engine tshark")
    return AuditSettings(
        show_secrets=show_secrets,
        timeout_s=timeout_s,
        max_memory_mb=max_memory_mb,
        engine=engine.value,
        tls_keylog=keylog,
    )


def _open_output(output: Path | None) -> TextIO:
    if output is None:
        return sys.stdout
    try:
        return output.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(
            f"{output}: cannot write the output: {exc.strerror or exc}",
            hint="check the directory exists and is writable",
        ) from exc


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
