"""Run pushcap in a child process with a time limit and measure its peak memory.

Children are forked by a small server (``_forkserver.py``) that has imported
the analyzer once, and reaped with ``os.wait4`` for their own peak RSS. Not
spawned from pytest directly: Linux carries the RSS high-water mark of the
process image an ``exec`` replaces into the new program's ``ru_maxrss``, so a
child spawned from a 120 MB pytest reports at least 120 MB whatever it does
(``RUSAGE_CHILDREN`` has the same flaw, and is a maximum over all children).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MB = 1024  # ru_maxrss is in KiB on Linux


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    peak_rss_kb: int
    seconds: float
    timed_out: bool

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / MB


def pushcap(*args: str, timeout: float = 20.0) -> Run:
    """``pushcap ARGS`` in a child process of its own; killed after ``timeout`` seconds."""
    return pushcap_many([tuple(args)], timeout, workers=1)[0]


def pushcap_many(
    argvs: list[tuple[str, ...]], timeout: float = 20.0, workers: int = 2
) -> list[Run]:
    """Many runs through ``workers`` fork servers (CI has two cores); results in order."""
    with tempfile.TemporaryDirectory() as tmp:
        servers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.hostile._forkserver"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
                env={**os.environ, "COLUMNS": "120", "PYTHONDONTWRITEBYTECODE": "1"},
                text=True,
            )
            for _ in range(workers)
        ]

        def serve(index: int) -> list[tuple[int, Run]]:
            server = servers[index]
            assert server.stdin is not None and server.stdout is not None
            done = []
            for i in range(index, len(argvs), workers):
                out, err = Path(tmp, f"{i}.out"), Path(tmp, f"{i}.err")
                request = {
                    "args": argvs[i],
                    "timeout": timeout,
                    "stdout": str(out),
                    "stderr": str(err),
                }
                server.stdin.write(json.dumps(request) + "\n")
                server.stdin.flush()
                answer = json.loads(server.stdout.readline())
                done.append((i, Run(
                    tuple(argvs[i]),
                    answer["code"],
                    out.read_text("utf-8", "replace"),
                    err.read_text("utf-8", "replace"),
                    answer["peak_rss_kb"],
                    answer["seconds"],
                    answer["timed_out"],
                )))  # fmt: skip
            server.stdin.close()
            server.wait(timeout=30)
            return done

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = [r for part in pool.map(serve, range(workers)) for r in part]
    return [run for _, run in sorted(results, key=lambda r: r[0])]
