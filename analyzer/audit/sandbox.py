"""The parent side: worker processes that one bad file cannot take down with the batch.

How this works: a :class:`Sandbox` is one long-lived child process
(``python -m analyzer.audit.worker``, see there) reached through a socket
pair. It reads one file at a time, so the parent can bound each file on its
own: a file still running at its deadline (``--timeout``) gets its child
killed; a child that dies (a crash, the OOM killer, ``RLIMIT_AS`` from
``--max-memory`` hit outside Python's reach) is seen as end-of-file on the
socket. Either way that file gets an error row, the child is replaced, and
every other file goes on. Children are plain subprocesses, not
``multiprocessing`` ones, so the same sandbox also works inside a Dask
worker (a daemonic process, which multiprocessing forbids to have children);
they run in a session of their own and ignore SIGINT, so Ctrl-C reaches the
parent only, which kills them.

Killing a child kills its whole process group (the child leads it): what the
child started — ``tshark`` and ``capinfos`` with ``--engine tshark`` — dies
with it at the deadline instead of running on, orphaned, to the end of the
file. A child that died by itself has its group swept the same way.

A file's clock starts when its child is ready: a new child says so once its
imports are done, so a loaded machine's slow start-up is not charged to the
first file (up to ``STARTUP_GRACE_S``).

:func:`run_local` keeps ``jobs`` sandboxes busy and yields each row the moment
its file is done (largest files first, so a big one does not start last).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Generator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO

import analyzer
from analyzer.audit.row import AuditRow, AuditSettings, clean_text
from analyzer.audit.worker import EXIT_OUT_OF_MEMORY, IDLE_EXIT_S, MEMORY_HINT, out_of_memory

STARTUP_GRACE_S = 60.0  # a new child's imports, not counted against its first file
MAX_ROW_BYTES = 64 << 20  # a report is a few KiB; anything near this is a broken child
_PACKAGE_ROOT = str(Path(analyzer.__file__).resolve().parent.parent)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _death(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGKILL":
            return "was killed (SIGKILL: out of memory?)"
        return f"crashed ({name})"
    return f"exited unexpectedly (code {returncode})"


class Sandbox:
    """One child process auditing one file at a time, with a deadline per file."""

    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self.path: str | None = None
        self.started = 0.0
        self.deadline: float | None = None
        self.files = 0
        # The child's stderr, read only to explain a child that failed to start.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        ours, theirs = socket.socketpair()
        with theirs:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "analyzer.audit.worker",
                    str(theirs.fileno()),
                    settings.to_json(),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=_child_env(),
                start_new_session=True,
            )
        self.conn = Connection(ours.detach())
        self.alive = True
        self.ready = False  # the child has said it finished starting
        self.last_used = time.monotonic()

    @property
    def busy(self) -> bool:
        return self.path is not None

    def submit(self, path: str) -> bool:
        """Hand ``path`` to the child; False if the child is gone (make another)."""
        try:
            self.conn.send_bytes(json.dumps(path).encode("utf-8", "surrogateescape"))
        except OSError:
            self.close()
            return False
        self.path = path
        self._start_clock(STARTUP_GRACE_S if not self.ready else 0.0)
        return True

    def _start_clock(self, grace: float) -> None:
        self.started = time.monotonic()
        timeout = self.settings.timeout_s
        self.deadline = self.started + timeout + grace if timeout > 0 else None

    def collect(self) -> AuditRow | None:
        """The row of the current file, or None for the child's "ready" (keep waiting).

        Call when the connection is readable.
        """
        assert self.path is not None
        try:
            message = json.loads(self.conn.recv_bytes(MAX_ROW_BYTES))
            if message.get("ready") and not self.ready:
                self.ready = True
                self._start_clock(0.0)  # the file's time starts now, not at the child's start
                return None
            row = AuditRow.from_dict(message["row"])
        except (EOFError, OSError, ValueError, TypeError, KeyError, AttributeError):
            pass
        else:
            self._done()
            if message.get("exiting"):
                self.close(kill=False)
            return row
        path = self.path
        self._done()
        self._sweep()  # it died (or talks nonsense): what it started must not outlive it
        self._stop(kill=False)
        elapsed = round(time.monotonic() - self.started, 6)
        detail = self._last_stderr_line() if self.proc.returncode == 1 else ""
        self.close()
        if detail:
            # An uncaught Python exception outside the per-file guard: almost always the
            # child could not import the analyzer.
            return AuditRow.failed(
                clean_text(path),
                f"the audit worker failed: {detail}",
                "is pushcap installed where this runs? `python -m analyzer.audit.worker` "
                "must import",
                elapsed_s=elapsed,
            )
        shown = clean_text(path)
        if self.proc.returncode == EXIT_OUT_OF_MEMORY:
            text = out_of_memory(shown, self.settings.max_memory_mb)
            return AuditRow.failed(shown, text, MEMORY_HINT, elapsed_s=elapsed)
        return AuditRow.failed(
            shown,
            f"{shown}: the process reading it {_death(self.proc.returncode)}",
            "the file is skipped; `pushcap analyze` on it alone shows whether it is the file",
            elapsed_s=elapsed,
        )

    def _done(self) -> None:
        self.path = None
        self.files += 1
        self.last_used = time.monotonic()

    def timed_out(self) -> AuditRow:
        """Kill the child over its current file and say so."""
        assert self.path is not None
        path, self.path = self.path, None
        elapsed = time.monotonic() - self.started
        self.close()
        return AuditRow.failed(
            clean_text(path),
            f"{clean_text(path)}: still reading after {self.settings.timeout_s:g} s; stopped",
            "raise --timeout (0 = none) if the capture is just big, or run `pushcap analyze` on it",
            elapsed_s=round(elapsed, 6),
        )

    def wait_row(self) -> AuditRow:
        """Block until the submitted file is done or its deadline passes."""
        while True:
            left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            if not wait([self.conn], left):
                return self.timed_out()
            row = self.collect()
            if row is not None:
                return row

    @property
    def stale(self) -> bool:
        """Idle long enough that the child may be about to leave (it exits after IDLE_EXIT_S)."""
        return not self.alive or time.monotonic() - self.last_used > IDLE_EXIT_S / 2

    def close(self, *, kill: bool = True) -> None:
        """End the child: at once when ``kill``, else let it see EOF and exit."""
        self._stop(kill=kill)
        self._stderr.close()

    def kill(self) -> None:
        """SIGKILL the child and everything it started: its process group, which it leads.

        Only while the child is not reaped, so the group id cannot belong to anyone else.
        A child that has exited (a zombie) keeps its exit status.
        """
        if self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:  # no such group (the child could not start): the child alone
            self.proc.kill()

    def _sweep(self, wait_s: float = 2.0) -> None:
        """Once the child has ended by itself, kill what it left in its group (tshark).

        ``waitid(WNOWAIT)`` sees the exit without reaping the child, so the group id
        is still the child's when the group is killed, and the child's exit status
        (a crash, out of memory) is kept. A child still running after ``wait_s`` is
        killed with its group.
        """
        waitid = getattr(os, "waitid", None)
        deadline = time.monotonic() + wait_s
        while waitid is not None and self.proc.returncode is None:
            try:
                if waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG):
                    break
            except ChildProcessError:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        self.kill()

    def _stop(self, *, kill: bool) -> None:
        if not self.alive:
            return
        self.alive = False
        self.conn.close()
        if kill or self.busy:
            self.kill()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()

    def _last_stderr_line(self) -> str:
        try:
            self._stderr.seek(0)
            lines = self._stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1] if lines else ""


def largest_first(paths: Sequence[str]) -> list[str]:
    def size(path: str) -> int:
        try:
            return os.stat(path).st_size
        except (OSError, ValueError):
            return 0

    return sorted(paths, key=size, reverse=True)


def run_local(
    paths: Sequence[str], settings: AuditSettings, jobs: int
) -> Generator[AuditRow, None, None]:
    """Audit ``paths`` in ``jobs`` sandboxes; each row as soon as its file is done.

    Closing the generator (or an exception in it, such as KeyboardInterrupt)
    kills every child.
    """
    pending = deque(largest_first(paths))
    jobs = max(1, min(jobs, len(pending)))
    idle: list[Sandbox] = []
    busy: list[Sandbox] = []
    try:
        while pending or busy:
            while pending and len(busy) < jobs:
                try:
                    box = idle.pop() if idle else Sandbox(settings)
                except OSError as exc:  # no process can be started: out of pids, fds, memory
                    path = clean_text(pending.popleft())
                    yield AuditRow.failed(
                        path, f"{path}: could not start a worker process: {exc.strerror or exc}"
                    )
                    continue
                if box.submit(pending[0]):
                    pending.popleft()
                    busy.append(box)
            deadlines = [b.deadline for b in busy if b.deadline is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = wait([b.conn for b in busy], timeout)
            now = time.monotonic()
            for box in list(busy):
                if box.conn in ready:
                    row = box.collect()
                    if row is None:
                        continue
                elif box.deadline is not None and now >= box.deadline:
                    row = box.timed_out()
                else:
                    continue
                busy.remove(box)
                if box.alive:
                    idle.append(box)
                yield row
    finally:
        close_all(busy, idle)


def close_all(busy: list[Sandbox], idle: list[Sandbox]) -> None:
    """Kill the busy children, let the idle ones see end-of-file; all at once, then reap."""
    for box in busy:
        box.kill()
    for box in busy + idle:
        box.conn.close()
    for box in busy + idle:
        box.close(kill=False)
