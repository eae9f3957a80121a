"""``pushcap audit``: which of many captures show a broken token flow, and why.

A thin declaration: the work is :func:`analyzer.audit.command.run`, imported
when the command runs (discovery, the backend, the writers and the summary
live in :mod:`analyzer.audit` and :mod:`analyzer.render.audit_formats`). Exit codes as
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

from pathlib import Path
from typing import Annotated

import typer

from analyzer.audit.options import DEFAULT_GLOBS, AuditFormat, FailOn
from analyzer.audit.row import AuditSettings
from analyzer.cli_engine import EngineOption, KeylogOption
from analyzer.engines import Engine

_DEFAULTS = AuditSettings()


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
    engine: EngineOption = Engine.default,
    tls_keylog: KeylogOption = None,
) -> None:
    """Audit many captures at once: a row per file, a summary grouping repeated findings."""
    from analyzer.audit.command import run  # noqa: PLC0415 - only audit pays for it

    run(
        paths,
        recursive,
        globs,
        jobs,
        output_format,
        output,
        fail_on,
        timeout,
        max_memory,
        scheduler,
        show_secrets,
        quiet,
        engine,
        tls_keylog,
    )


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
