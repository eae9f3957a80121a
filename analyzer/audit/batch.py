"""One audit from start to end: rows from a backend to a writer, the summary and the progress line.

Ctrl-C: no more files are started, every worker is killed, the rows already
written stay written (jsonl/csv stream them; table/junit are written from
the finished rows), the summary says how many were not audited, and the exit
code is 130.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

from analyzer.audit.discover import Discovery
from analyzer.audit.progress import AuditProgress
from analyzer.audit.row import AuditRow, AuditSettings, clean_text
from analyzer.audit.sandbox import run_local
from analyzer.audit.summary import AuditSummary
from analyzer.render.audit_formats import RowWriter


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


Rows = Generator[AuditRow, None, None]


def _no_rows() -> Rows:
    yield from ()


def backend_rows(
    files: Sequence[str], settings: AuditSettings, *, jobs: int, scheduler: str | None
) -> Rows:
    """Rows as files finish, from local worker processes or a Dask cluster."""
    if not files:
        return _no_rows()
    if scheduler:
        from analyzer.audit.dask_backend import run_dask  # noqa: PLC0415 - optional extra

        return run_dask(files, settings, scheduler)
    return run_local(files, settings, jobs)


@dataclass(slots=True)
class BatchResult:
    rows: list[AuditRow] = field(default_factory=list)
    interrupted: bool = False


def run_batch(
    found: Discovery,
    rows: Rows,
    *,
    writer: RowWriter,
    summary: AuditSummary,
    progress: AuditProgress,
) -> BatchResult:
    """Feed every row to the summary and the writer as it comes; stop cleanly on Ctrl-C."""
    result = BatchResult()

    def take(row: AuditRow) -> None:
        # Only the slim part is kept, so a long audit's memory grows by a few hundred
        # bytes per file, not by its whole report.
        result.rows.append(row.slim())
        summary.add(row)
        progress.clear()
        writer.row(row)
        progress.update(summary)

    for directory, reason in found.unreadable:
        shown = clean_text(directory)
        take(AuditRow.failed(shown, f"{shown}: could not be listed: {reason}"))
    progress.update(summary, force=True)
    try:
        with contextlib.closing(rows):
            for row in rows:
                take(row)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        progress.clear()
    return result
