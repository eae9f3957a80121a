"""Run many ``pushcap`` commands cheaply: import once, fork a child per command.

    python -m tests.hostile._forkserver   # reads JSON requests on stdin, one per line

Each request is ``{"args": [...], "timeout": s, "stdout": path, "stderr": path}``;
each answer (one JSON line on stdout) gives the exit code, the child's own peak
RSS (``os.wait4``), the time taken and whether it was killed at the timeout.
The child runs :func:`analyzer.cli.main` exactly as the console script does, in
a process of its own, so a crash, a hang or a memory blow-up is its alone; what
it saves is the interpreter start and the imports (0.3 s of CPU per command),
which matters for a corpus of sixty files on two cores.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

from analyzer.cli import main as pushcap_main


def _child(args: list[str], stdout: str, stderr: str) -> None:
    code = 1
    try:
        os.dup2(os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.dup2(os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        sys.argv = ["pushcap", *args]
        try:
            pushcap_main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:  # an escaping exception is a bug: show it as Python would
            traceback.print_exc()
            code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(request: dict[str, object]) -> dict[str, object]:
    args = [str(a) for a in request["args"]]  # type: ignore[attr-defined]
    timeout = float(request.get("timeout", 20.0))  # type: ignore[arg-type]
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(args, str(request["stdout"]), str(request["stderr"]))
    killed = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > timeout and not killed:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)
    return {
        "code": os.waitstatus_to_exitcode(status),
        "peak_rss_kb": usage.ru_maxrss,
        "seconds": time.monotonic() - start,
        "timed_out": killed,
    }


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
