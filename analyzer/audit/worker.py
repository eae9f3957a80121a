"""The child side of an audit: one process that reads capture files one at a time.

How this works: :class:`analyzer.audit.sandbox.Sandbox` starts
``python -m analyzer.audit.worker FD SETTINGS`` with one end of a socket pair
as ``FD``. The child first bounds itself (``RLIMIT_AS`` from
``max_memory_mb``), ignores SIGINT (the parent decides what Ctrl-C means) and
asks the kernel to kill it if its parent goes away (Linux), and says it is
ready. Then it loops:
receive a path (JSON), audit it with the chosen engine, send the row (JSON).
Everything a file can do to the analyzer in Python becomes an error row here; after a MemoryError the
child also exits, so the next file starts in a fresh process. What cannot be
caught in Python — a hang, a crash of the interpreter, the kernel's OOM killer
— is the parent's business: it kills the child at the deadline or sees it die,
writes the error row and starts another child.

With ``--engine tshark`` the child runs ``tshark`` as a child of its own (see
:mod:`analyzer.engines.tshark`): tshark inherits the ``RLIMIT_AS`` bound (each
process has it: the worker and its tshark), stays in the worker's process
group, which the parent kills whole at the deadline, and dies with the worker
(``PR_SET_PDEATHSIG``). tshark running out of memory is the same error row as
the worker running out, and ``peak_rss_kb`` is tshark's when it is the larger.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from analyzer.audit.row import STATUS_OK, AuditRow, AuditSettings, clean_data, clean_text
from analyzer.engines import Engine
from analyzer.engines.tshark import TsharkMemoryError, analyze_with_tshark
from analyzer.errors import AnalyzerError
from analyzer.findings import Report
from analyzer.pipeline import AnalyzerOptions
from analyzer.render.jsonout import report_dict
from analyzer.runner import analyze_file

AnalyzeFunction = Callable[[str, AnalyzerOptions], Report]
MB = 1 << 20
PR_SET_PDEATHSIG = 1
IDLE_EXIT_S = 600.0  # a child nobody gave work for this long exits (parents reuse it for half)
READY = b'{"ready": true}'  # sent once, when the child can take files
EXIT_OUT_OF_MEMORY = 86  # the child's exit code when even reporting ran out of memory
MEMORY_HINT = (
    "raise --max-memory (0: no limit), or read it alone with lower limits: "
    "`pushcap analyze FILE --max-flows N --max-records N`"
)
BUG_HINT = "this is a bug in pushcap: please report it, with the capture if you can share it"


def audit_one(path: str, settings: AuditSettings) -> AuditRow:
    """Audit one file in this process: a row whatever the file holds (short of a hang or crash)."""
    return _audit(path, settings)[0]


def _audit(path: str, settings: AuditSettings) -> tuple[AuditRow, bool]:
    """The row, and whether this process should be replaced before the next file."""
    shown = clean_text(path)
    measured = reset_peak_rss()
    start = time.monotonic()
    row: AuditRow | None = None
    children: list[int] = []  # peak RSS (KiB) of tshark, when it ran
    try:
        analyze = _analyze_function(settings, children.append)
        options = AnalyzerOptions(show_secrets=settings.show_secrets)
        with _local_copy(path) as local:
            size = _size(local)
            report = _utf8_safe(report_dict(analyze(local, options)))
        if local != path:
            report["capture"]["source"] = shown
        row = AuditRow(path=shown, status=STATUS_OK, report=report, size=size)
    except TsharkMemoryError as err:
        text = f"{out_of_memory(shown, settings.max_memory_mb)} (tshark: {err.detail})"
        row = AuditRow.failed(shown, text, err.hint)
    except AnalyzerError as err:
        row = AuditRow.failed(shown, err.message, err.hint)
    except MemoryError:
        pass  # the row is made below, once the traceback (and what it holds) is released
    except Exception as exc:
        # A bug, not the file's fault; name where it happened, never the exception's text
        # (it could quote bytes of the capture, credentials included).
        row = AuditRow.failed(shown, f"{shown}: internal error: {_where(exc)}", BUG_HINT)
    recycle = row is None
    if row is None:
        row = AuditRow.failed(shown, out_of_memory(shown, settings.max_memory_mb), MEMORY_HINT)
    own = peak_rss_kb() if measured else None
    peak = max([p for p in (own, *children) if p is not None], default=None)
    row = replace(row, elapsed_s=round(time.monotonic() - start, 6), peak_rss_kb=peak)
    return row, recycle


def out_of_memory(shown: str, max_memory_mb: int) -> str:
    limit = f"{max_memory_mb} MB" if max_memory_mb else "the memory available"
    return f"{shown}: reading it needed more than {limit}"


def _utf8_safe(report: dict[str, Any]) -> dict[str, Any]:
    """The report, with strings made encodable when a file name carried undecodable bytes."""
    try:
        json.dumps(report, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        cleaned: dict[str, Any] = clean_data(report)
        return cleaned
    return report


def _analyze_function(
    settings: AuditSettings, on_tshark_exit: Callable[[int], None]
) -> AnalyzeFunction:
    hook = settings.analyze_hook
    if hook is not None:
        module, _, name = hook.partition(":")
        func: AnalyzeFunction = getattr(importlib.import_module(module), name)
        return func
    if settings.engine == Engine.tshark:
        return functools.partial(
            analyze_with_tshark, keylog=settings.tls_keylog, on_exit=on_tshark_exit
        )
    return analyze_file


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} ({last.name})"


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def is_url(path: str) -> bool:
    """An fsspec URL (``s3://bucket/key``), not a local path (``file://`` is local too)."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.isidentifier() and scheme != "file"


@contextlib.contextmanager
def _local_copy(path: str) -> Iterator[str]:
    """``path`` itself, or for an object-store URL a temporary local copy of it."""
    if path.startswith("file://"):
        yield path.removeprefix("file://")
        return
    if not is_url(path):
        yield path
        return
    try:
        fsspec: Any = importlib.import_module("fsspec")  # optional: pushcap[dask]
    except ImportError as exc:
        raise AnalyzerError(
            f"{clean_text(path)}: reading URLs needs fsspec",
            hint="pip install 'pushcap[dask]' (or fsspec and the backend for this URL)",
        ) from exc
    with tempfile.NamedTemporaryFile(prefix="pushcap-", suffix=".cap") as tmp:
        try:
            with fsspec.open(path, "rb") as src:
                shutil.copyfileobj(src, tmp, 1 << 20)
        except (OSError, ValueError, ImportError) as exc:
            raise AnalyzerError(
                f"{clean_text(path)}: could not be fetched: {type(exc).__name__}",
                hint="check the URL, the credentials of the storage, and that its fsspec backend "
                "is installed",
            ) from exc
        tmp.flush()
        yield tmp.name


def reset_peak_rss() -> bool:
    """Start a new high-water mark of resident memory; False where it cannot be done.

    Linux (>= 4.0) resets VmHWM when "5" is written to /proc/self/clear_refs.
    Elsewhere, or where /proc is read-only, no per-file peak can be told from
    the process's lifetime one, and the row says none rather than a wrong one.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_kb() -> int | None:
    """Peak resident memory in KiB since the last reset (VmHWM), None if /proc cannot tell.

    Not ``ru_maxrss``: it never drops below the resident size this process had
    when it replaced the one forked from its parent (exec), and clear_refs does
    not reset it, so a worker started by a 300 MB process would report 300 MB
    for every file.
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as status,
    ):
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def limit_memory(max_memory_mb: int) -> None:
    if max_memory_mb <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = max_memory_mb * MB
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes  # noqa: PLC0415 - Linux only

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def serve(fd: int, settings: AuditSettings) -> int:
    """The child's loop: a path in, a row out, until the parent closes its end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    parent = os.getppid()
    limit_memory(settings.max_memory_mb)
    conn = Connection(fd)
    # Imports are done: from here on the parent's clock for a file is the file's own.
    conn.send_bytes(READY)
    while True:
        try:
            if not conn.poll(IDLE_EXIT_S):
                return 0
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return 0
        path = json.loads(message)
        if not isinstance(path, str):
            return 0
        try:
            row, recycle = _audit(path, settings)
        except MemoryError:
            return EXIT_OUT_OF_MEMORY
        # "exiting" tells the parent not to hand this process another file.
        reply = {"row": row.to_dict(), "exiting": recycle}
        try:
            conn.send_bytes(json.dumps(reply, ensure_ascii=False).encode("utf-8"))
        except (OSError, ValueError):
            return 0
        if recycle or os.getppid() != parent:
            return 0


def main(argv: list[str]) -> int:
    fd, settings = int(argv[0]), AuditSettings.from_json(argv[1])
    return serve(fd, settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
