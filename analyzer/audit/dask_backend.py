"""The same per-file work on a Dask distributed cluster (``--scheduler tcp://HOST:PORT``).

How this works: every file is one task, :func:`audit_task`, submitted by
path; the workers must be able to read that path (shared storage mounted at
the same place) or fetch it (an fsspec URL such as ``s3://bucket/key``, with
its backend installed on the workers). On the worker, the task hands the
file to a :class:`~analyzer.audit.sandbox.Sandbox` kept per worker thread,
so ``--timeout`` and ``--max-memory`` hold there as they do locally, and a
file that hangs or blows up kills only that child, never the Dask worker
(whose nanny would otherwise restart it and retry the task elsewhere). Rows
come back as plain dicts and are yielded as tasks complete.

Dask is an optional extra (``pushcap[dask]``), imported only here and only
when ``--scheduler`` is given; this module imports nothing from it at the top
so the task function unpickles on workers without the client side.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import Generator, Sequence
from typing import Any

from analyzer.audit.row import AuditRow, AuditSettings, clean_text
from analyzer.audit.sandbox import Sandbox, largest_first
from analyzer.errors import UsageError

INSTALL_HINT = "pip install 'pushcap[dask]'"
CONNECT_TIMEOUT_S = 20
_per_thread = threading.local()


def audit_task(path: str, settings_json: str) -> dict[str, Any]:
    """Runs on a Dask worker: one file, in this thread's sandbox."""
    settings = AuditSettings.from_json(settings_json)
    for _ in range(2):  # a sandbox that left while idle is replaced once
        box: Sandbox | None = getattr(_per_thread, "sandbox", None)
        if box is None or box.stale or box.settings != settings:
            if box is not None:
                box.close(kill=False)
            box = _per_thread.sandbox = Sandbox(settings)
        if box.submit(path):
            return box.wait_row().to_dict()
    return AuditRow.failed(clean_text(path), "could not start an audit worker process").to_dict()


def run_dask(
    paths: Sequence[str], settings: AuditSettings, scheduler: str
) -> Generator[AuditRow, None, None]:
    """Connect (or raise UsageError, exit 2) now; then a generator of rows as tasks finish."""
    try:
        distributed: Any = importlib.import_module("distributed")  # optional extra
    except ImportError as exc:
        raise UsageError(
            f"--scheduler needs Dask distributed, which is not installed: {INSTALL_HINT}"
        ) from exc
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"could not reach the Dask scheduler at {scheduler}: {type(exc).__name__}: {exc}"
        ) from exc
    return _rows(client, largest_first(paths), settings)


def _rows(
    client: Any, paths: Sequence[str], settings: AuditSettings
) -> Generator[AuditRow, None, None]:
    as_completed = importlib.import_module("distributed").as_completed

    batch = uuid.uuid4().hex[:12]
    payload = settings.to_json()
    futures = {
        client.submit(
            audit_task, path, payload, key=f"pushcap-audit-{batch}-{i}", pure=False, retries=0
        ): path
        for i, path in enumerate(paths)
    }
    try:
        for future in as_completed(futures, loop=client.loop):
            path = futures[future]
            try:
                row = AuditRow.from_dict(future.result())
            except Exception as exc:  # anything the cluster raises is this file's error row
                row = AuditRow.failed(
                    clean_text(path),
                    f"{clean_text(path)}: the Dask task failed: {type(exc).__name__}",
                    "check the workers' logs; can they read this path?",
                )
            yield row
    finally:
        client.cancel([f for f in futures if not f.done()], force=True)
        client.close()
