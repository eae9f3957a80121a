"""The work of ``pushcap audit`` (its options are declared in :mod:`analyzer.cli_audit`).

Imported only when ``audit`` runs, so ``pushcap analyze`` does not pay for the
batch machinery (worker processes, the tshark engine, the writers) at startup.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn, TextIO

import typer
from rich.console import Console

from analyzer.audit.batch import backend_rows, default_jobs, run_batch
from analyzer.audit.discover import discover
from analyzer.audit.options import DEFAULT_GLOBS, AuditFormat, FailOn
from analyzer.audit.progress import AuditProgress
from analyzer.audit.row import AuditSettings
from analyzer.audit.summary import AuditSummary
from analyzer.engines import Engine, check_keylog_engine
from analyzer.engines.tshark import check_keylog, find_tshark
from analyzer.errors import AnalyzerError, UsageError
from analyzer.findings import Severity
from analyzer.render.audit_formats import make_writer
from analyzer.runner import EXIT_ERROR, EXIT_OK, fail, quiet_stdout


def run(
    paths: list[str],
    recursive: bool,
    globs: list[str] | None,
    jobs: int | None,
    output_format: AuditFormat,
    output: Path | None,
    fail_on: FailOn,
    timeout: float,
    max_memory: int,
    scheduler: str | None,
    show_secrets: bool,
    quiet: bool,
    engine: Engine,
    tls_keylog: str | None,
) -> NoReturn:
    """Audit ``paths``; end with ``typer.Exit`` carrying the exit code."""
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
    writer = make_writer(
        output_format, out, summary.fail_on, rich=out.isatty(), engine=settings.engine
    )
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
    check_keylog_engine(engine, keylog)
    if engine is Engine.tshark:
        if keylog is not None:
            keylog = os.path.abspath(keylog)  # the workers need not share our directory
        if local:  # a cluster's workers have their own tshark and files
            find_tshark()
            if keylog is not None:
                check_keylog(keylog)
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
