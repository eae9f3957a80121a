"""One bad file never takes the batch down: hangs, crashes, memory blow-ups, bugs, Ctrl-C.

The misbehaving analyze functions are in ``tests/audit/__init__.py`` and run
inside the worker processes through ``AuditSettings.analyze_hook``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.audit import worker
from analyzer.audit.row import AuditSettings
from analyzer.audit.sandbox import Sandbox, run_local
from analyzer.audit.worker import audit_one
from analyzer.cli import app
from tests.audit import BASIC, founding

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stuck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return founding(tmp_path_factory.mktemp("one") / "stuck.pcap")


def test_misbehaving_files_get_error_rows_and_the_rest_goes_on(stuck: Path, tmp_path: Path) -> None:
    names = ["crash.pcap", "hog.pcap", "exit.pcap", "bug.pcap", "slow-60.pcap"]
    names += [f"good-{i}.pcap" for i in range(4)]
    for name in names:
        shutil.copy(stuck, tmp_path / name)
    settings = AuditSettings(timeout_s=2, max_memory_mb=512, analyze_hook="tests.audit:misbehave")
    start = time.monotonic()
    rows = {
        Path(r.path).name: r for r in run_local([str(tmp_path / n) for n in names], settings, 2)
    }
    assert time.monotonic() - start < 45  # the 60 s sleeper was cut off
    assert set(rows) == set(names)
    for i in range(4):
        good = rows[f"good-{i}.pcap"]
        assert good.ok and good.worst is not None and good.report is not None
    assert "crashed (SIGSEGV)" in str(rows["crash.pcap"].error)
    assert "needed more than 512 MB" in str(rows["hog.pcap"].error)
    assert "exited unexpectedly (code 3)" in str(rows["exit.pcap"].error)
    assert "still reading after 2 s" in str(rows["slow-60.pcap"].error)
    assert 1.9 < rows["slow-60.pcap"].elapsed_s < 10
    bug = rows["bug.pcap"]
    assert "internal error: KeyError at __init__.py:" in str(bug.error)
    assert BASIC not in str(bug.error) and "pushcap" in str(bug.hint)
    assert all(not r.ok for n, r in rows.items() if not n.startswith("good"))


def test_worker_is_reused_and_peak_rss_is_per_file(stuck: Path) -> None:
    box = Sandbox(AuditSettings(timeout_s=30))
    try:
        pids = set()
        for _ in range(3):
            assert box.submit(str(stuck))
            row = box.wait_row()
            assert row.ok and row.peak_rss_kb and 5_000 < row.peak_rss_kb < 500_000
            pids.add(box.proc.pid)
        assert len(pids) == 1 and box.files == 3
    finally:
        box.close(kill=False)
    assert box.proc.returncode == 0


def test_peak_rss_is_the_worker_s_own_not_its_parent_s(stuck: Path) -> None:
    """A worker inherits its parent's resident size in ru_maxrss (fork, then exec).

    The row must show what the worker needed for the file, not how big the
    process that started it was (pushcap audit inside a big program, or pytest).
    """
    ballast = bytearray(300 << 20)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))  # make it resident
    box = Sandbox(AuditSettings(timeout_s=30))
    try:
        assert box.submit(str(stuck))
        row = box.wait_row()
    finally:
        box.close(kill=False)
        del ballast
    assert row.ok and row.peak_rss_kb is not None
    assert 5_000 < row.peak_rss_kb < 150_000, row.peak_rss_kb


def test_no_peak_rss_where_it_cannot_be_reset(stuck: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without clear_refs (old kernel, read-only /proc) a lifetime peak is not the file's."""
    monkeypatch.setattr(worker, "reset_peak_rss", lambda: False)
    row = audit_one(str(stuck), AuditSettings())
    assert row.ok and row.peak_rss_kb is None
    monkeypatch.undo()  # on this Linux the real reset works, and the peak is read back
    assert worker.reset_peak_rss() and (worker.peak_rss_kb() or 0) > 5_000


def test_timeout_on_a_capture_that_never_ends(stuck: Path, tmp_path: Path) -> None:
    """A FIFO nobody writes to: the reader blocks forever, as on a hung network share."""
    fifo = tmp_path / "hung.pcap"
    os.mkfifo(fifo)
    result = runner.invoke(
        app, ["audit", str(fifo), str(stuck), "--timeout", "1", "-f", "jsonl", "-j", "2"]
    )
    assert result.exit_code == 1, result.output
    rows = {Path(json.loads(x)["path"]).name: json.loads(x) for x in result.stdout.splitlines()}
    assert rows["hung.pcap"]["status"] == "error"
    assert "still reading after 1 s" in rows["hung.pcap"]["error"]["message"]
    assert rows["stuck.pcap"]["status"] == "ok"


def test_in_process_audit_one_turns_errors_into_rows(tmp_path: Path) -> None:
    (tmp_path / "empty.pcap").write_bytes(b"")
    row = audit_one(str(tmp_path / "empty.pcap"), AuditSettings())
    assert not row.ok and row.error and row.hint
    missing = audit_one(str(tmp_path / "gone.pcap"), AuditSettings())
    assert not missing.ok and "gone.pcap" in str(missing.error)


def _cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "analyzer", "audit", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_rows_stream_before_the_last_file_finishes(stuck: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "hung.pcap"
    os.mkfifo(fifo)
    proc = _cli(str(stuck), str(fifo), "--timeout", "3", "-f", "jsonl", "-j", "2")
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    still_running = proc.poll() is None  # the FIFO holds the batch for 3 s
    rest = proc.stdout.read().decode().splitlines()
    proc.wait(timeout=30)
    assert still_running
    assert Path(first["path"]).name == "stuck.pcap" and first["status"] == "ok"
    assert [Path(json.loads(x)["path"]).name for x in rest] == ["hung.pcap"]
    assert proc.returncode == 1


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_ctrl_c_kills_workers_and_summarises_what_finished(stuck: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "hung.pcap"
    os.mkfifo(fifo)
    proc = _cli(str(stuck), str(fifo), "--timeout", "0", "-f", "jsonl", "-j", "2")
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    workers = _children(proc.pid)
    assert workers
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert Path(first["path"]).name == "stuck.pcap" and out == b""
    summary = err.decode()
    assert "interrupted: 1 of 2 not audited; this covers the 1 that finished" in summary
    assert "Traceback" not in summary
    time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert alive == []


def test_a_worker_out_of_memory_is_replaced_before_the_next_file(
    stuck: Path, tmp_path: Path
) -> None:
    files = [tmp_path / "hog.pcap", tmp_path / "good-1.pcap", tmp_path / "good-2.pcap"]
    for path in files:
        shutil.copy(stuck, path)
    settings = AuditSettings(max_memory_mb=512, analyze_hook="tests.audit:misbehave")
    rows = list(run_local([str(p) for p in files], settings, 1))
    assert [r.ok for r in rows] == [False, True, True]


def test_a_worker_that_cannot_start_says_why(
    stuck: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'analyzer'\" >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    (row,) = run_local([str(stuck)], AuditSettings(), 1)
    assert row.error == "the audit worker failed: ModuleNotFoundError: No module named 'analyzer'"
    assert "installed" in str(row.hint)


def test_an_object_store_url_is_fetched_then_read(stuck: Path) -> None:
    fsspec = pytest.importorskip("fsspec", reason="fsspec comes with pushcap[dask]")
    fsspec.filesystem("memory").pipe("/bucket/ci/stuck.pcap", stuck.read_bytes())
    row = audit_one("memory://bucket/ci/stuck.pcap", AuditSettings())
    assert row.ok and row.report is not None, row.error
    assert row.report["capture"]["source"] == "memory://bucket/ci/stuck.pcap"
    assert row.findings[0]["rule"] == "token-service-unreachable"
    gone = audit_one("memory://bucket/ci/gone.pcap", AuditSettings())
    assert not gone.ok and "could not be fetched: FileNotFoundError" in str(gone.error)


def test_a_reader_that_goes_away_ends_the_audit_quietly(stuck: Path, tmp_path: Path) -> None:
    for i in range(80):  # more rows than a pipe buffer holds
        shutil.copy(stuck, tmp_path / f"s{i:02d}.pcap")
    proc = _cli(str(tmp_path), "-f", "jsonl", "-j", "2")
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["status"] == "ok"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in err
