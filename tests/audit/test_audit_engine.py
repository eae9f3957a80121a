"""`pushcap audit --engine tshark`: the same rows and summary as the default engine, TLS, errors, bounds.

Real tshark on the captures in captures/: every plaintext capture gets the
same row (verdict, findings with their evidence and facts) and the same
summary from both engines; the TLS founding case with its key log gives
token-service-unreachable. tshark missing (simulated through PATH) stops the
audit before any file is read. tshark runs as a child of the worker, so the
per-file bounds must reach it: at the deadline it is killed with the worker,
a worker that dies (as under the OOM killer) takes it along, and
``--max-memory`` bounds it too (an error row, not a report cut short).

The hook :func:`die_once_tshark_runs` runs inside a worker process (through
``AuditSettings.analyze_hook``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from analyzer.audit.row import AuditSettings
from analyzer.audit.sandbox import Sandbox, run_local
from analyzer.cli import app
from analyzer.engines.tshark import analyze_with_tshark
from analyzer.findings import Report
from analyzer.pipeline import AnalyzerOptions
from tests.golden_update import ROOT, captures

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        shutil.which("tshark") is None,
        reason="tshark is not installed (make system-deps installs it)",
    ),
]

runner = CliRunner()
REAL = ROOT / "captures" / "real"
FOUNDING = ROOT / "captures" / "synthetic" / "founding-case.pcap"
PLAINTEXT = [str(p.relative_to(ROOT)) for p in captures() if not p.name.startswith("tls-")]
TLS = ["tls-founding-case", "tls-founding-case-http1"]


def audit(*args: str) -> Result:
    return runner.invoke(app, ["audit", "--jobs", "4", *args])


def rows(result: Result) -> dict[str, dict[str, Any]]:
    out = {}
    for line in result.stdout.splitlines():
        row = json.loads(line)
        out[row["path"]] = row
    return out


@pytest.fixture(scope="module", autouse=True)
def _at_root() -> Iterator[None]:
    """Paths relative to the repository, as the rows and the summary name them."""
    before = Path.cwd()
    os.chdir(ROOT)
    yield
    os.chdir(before)


@pytest.fixture(scope="module")
def both() -> dict[str, Result]:
    """Every plaintext capture audited by each engine, as jsonl."""
    return {e: audit("--engine", e, "-f", "jsonl", *PLAINTEXT) for e in ("default", "tshark")}


def test_there_are_plaintext_captures() -> None:
    assert len(PLAINTEXT) >= 20


def test_every_plaintext_capture_gets_the_same_row_from_both_engines(
    both: dict[str, Result],
) -> None:
    ours, theirs = rows(both["default"]), rows(both["tshark"])
    assert sorted(theirs) == sorted(ours) == sorted(PLAINTEXT)
    for path, mine in ours.items():
        row = theirs[path]
        assert (row["status"], row["error"]) == ("ok", None), path
        assert row["verdict"] == mine["verdict"], path
        # Rule ids, severity, addresses, facts, every evidence row (tshark's frame numbers).
        assert row["findings"] == mine["findings"], path
        assert row["capture"]["frames"] == mine["capture"]["frames"], path
        # Each row says which engine read its file.
        assert (mine["capture"]["engine"], row["capture"]["engine"]) == ("default", "tshark")
    # The same summary (stderr with jsonl) and exit code.
    assert both["tshark"].stderr == both["default"].stderr
    assert both["tshark"].exit_code == both["default"].exit_code == 1


def test_peak_rss_counts_tshark(both: dict[str, Result]) -> None:
    """The worker alone stays small; tshark (its child) is what the row must show."""
    ours, theirs = rows(both["default"]), rows(both["tshark"])
    for path, mine in ours.items():
        assert theirs[path]["audit"]["peak_rss_kb"] > mine["audit"]["peak_rss_kb"], path


def test_the_table_and_its_summary_are_the_same() -> None:
    default, tshark = audit(*PLAINTEXT), audit("--engine", "tshark", *PLAINTEXT)
    assert tshark.exit_code == default.exit_code == 1
    assert "token-service-unreachable (error) — 180.119.140.230:8200" in tshark.stdout
    assert tshark.stdout == default.stdout


def test_tls_captures_with_their_key_log(tmp_path: Path) -> None:
    """One key log serves the whole batch: the clients' logs, concatenated."""
    keylog = tmp_path / "all.keylog"
    keylog.write_bytes(b"".join((REAL / f"{name}.keylog").read_bytes() for name in TLS))
    pcaps = [str(REAL / f"{name}.pcap") for name in TLS]
    result = audit("--engine", "tshark", "--tls-keylog", str(keylog), "-f", "jsonl", *pcaps)
    assert result.exit_code == 1, result.output
    found = rows(result)
    assert sorted(found) == sorted(pcaps)
    for row in found.values():
        assert row["status"] == "ok"
        [finding] = row["findings"]
        assert finding["rule"] == "token-service-unreachable"
        assert finding["registry"] == "203.0.113.230:8200"
        assert finding["realm"] == "http://172.16.200.100:8200/service/token"
        assert finding["facts"]["attempts"] == 3
    assert "token-service-unreachable (error) — 203.0.113.230:8200" in result.stderr
    assert "2 files" in result.stderr


def test_tls_captures_without_a_key_log_say_what_stayed_encrypted() -> None:
    pcaps = [str(REAL / f"{name}.pcap") for name in TLS]
    result = audit("--engine", "tshark", "-f", "jsonl", *pcaps)
    assert result.exit_code == 0, result.output
    for row in rows(result).values():
        assert row["status"] == "ok" and row["verdict"] == "clean"
        assert any("stayed encrypted" in note for note in row["capture"]["notes"])


def test_missing_tshark_stops_the_audit_before_any_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tshark there
    result = audit("--engine", "tshark", "-f", "jsonl", *PLAINTEXT)
    assert result.exit_code == 2
    assert result.stdout == ""  # not a single row: no worker started
    assert "needs `tshark`, which is not installed" in result.stderr
    assert "apt-get install tshark" in result.stderr


def test_a_worker_without_tshark_gives_error_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a Dask worker that lacks it: each file an error row saying how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path))  # the worker inherits it
    settings = AuditSettings(engine="tshark", timeout_s=60)
    found = list(run_local([str(FOUNDING), str(FOUNDING) + ".gz"], settings, 2))
    assert len(found) == 2
    for row in found:
        assert not row.ok
        assert "needs `tshark`, which is not installed" in str(row.error)
        assert "apt-get install tshark" in str(row.hint)


def test_key_log_errors_exit_2(tmp_path: Path) -> None:
    plain = audit("--tls-keylog", str(REAL / "tls-founding-case.keylog"), str(FOUNDING))
    assert plain.exit_code == 2 and "--engine tshark" in plain.stderr
    missing = audit(
        "--engine", "tshark", "--tls-keylog", str(tmp_path / "no.keylog"), str(FOUNDING)
    )
    assert missing.exit_code == 2 and "cannot read the TLS key log" in missing.stderr
    assert missing.stdout == ""


def test_unreadable_files_get_the_same_rows(tmp_path: Path) -> None:
    data = FOUNDING.read_bytes()
    (tmp_path / "truncated.pcap").write_bytes(data[:300])  # two whole frames, then cut
    (tmp_path / "header-only.pcap").write_bytes(data[:10])
    (tmp_path / "no-packets.pcap").write_bytes(data[:24])
    (tmp_path / "text.pcap").write_text("this is not a capture\n" * 4)
    (tmp_path / "empty.pcap").write_bytes(b"")
    shutil.copy(FOUNDING, tmp_path / "good.pcap")
    by_engine = {
        engine: {
            Path(p).name: r
            for p, r in rows(audit("--engine", engine, "-f", "jsonl", str(tmp_path))).items()
        }
        for engine in ("default", "tshark")
    }
    ours, theirs = by_engine["default"], by_engine["tshark"]
    assert set(theirs) == set(ours) == {p.name for p in tmp_path.iterdir()}
    for name, mine in ours.items():
        row = theirs[name]
        assert row["status"] == mine["status"], name
        # Error rows have no report: the audit section says which engine failed.
        assert (mine["audit"]["engine"], row["audit"]["engine"]) == ("default", "tshark"), name
        if row["status"] == "error":
            assert row["error"]["message"].startswith(str(tmp_path / name)), name
            assert row["error"]["hint"], name
            assert row["verdict"] is None and row["findings"] == []
    assert {n for n, r in theirs.items() if r["status"] == "error"} == {
        "header-only.pcap",
        "no-packets.pcap",
        "text.pcap",
        "empty.pcap",
    }
    cut = theirs["truncated.pcap"]["capture"]
    assert cut["complete"] is False and cut["frames"] == 2
    assert "cut short" in cut["read_problems"][0]["message"]
    assert theirs["good.pcap"]["findings"] == ours["good.pcap"]["findings"]


def test_max_memory_bounds_tshark_too() -> None:
    """128 MB is plenty for the worker (the default engine reads the file) but not for tshark."""
    default = audit("--max-memory", "128", "-f", "jsonl", str(FOUNDING))
    assert rows(default)[str(FOUNDING)]["status"] == "ok"
    result = audit("--engine", "tshark", "--max-memory", "128", "-f", "jsonl", str(FOUNDING))
    row = rows(result)[str(FOUNDING)]
    assert row["status"] == "error"
    assert "reading it needed more than 128 MB (tshark: " in row["error"]["message"]
    assert "--max-memory" in row["error"]["hint"]
    assert result.exit_code == 2  # nothing could be read


# --- tshark must not outlive its worker ----------------------------------------------------


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaps has ended: in a container PID 1 may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tsharks(marker: str, parent: int | None = None) -> list[int]:
    """Live tshark processes whose command line holds ``marker`` (and with that parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if Path(argv[0].decode(errors="replace")).name != "tshark" or marker.encode() not in argv:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if (parent is None or ppid == parent) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _wait_for(marker: str, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = _tsharks(marker)
        if pids:
            return pids[0]
        time.sleep(0.02)
    raise AssertionError(f"tshark on {marker} never started")


def _gone(pid: int, seconds: float = 10) -> bool:
    """Whether tshark ``pid`` ends within ``seconds``; if not, it is killed (nothing left behind)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return False


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A capture nobody ever writes: tshark blocks on it, as on a hung network share."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("finds processes through /proc")
    path = tmp_path / "hung.pcap"
    os.mkfifo(path)
    return path


def test_the_deadline_kills_tshark_with_the_worker(fifo: Path) -> None:
    box = Sandbox(AuditSettings(engine="tshark", timeout_s=2))
    try:
        assert box.submit(str(fifo))
        pid = _wait_for(str(fifo))  # the worker really started tshark on it
        row = box.wait_row()
    finally:
        box.close()
    assert not row.ok and "still reading after 2 s" in str(row.error)
    assert _gone(pid), f"tshark {pid} outlived its worker"


def die_once_tshark_runs(path: str, options: AnalyzerOptions) -> Report:
    """In the worker: SIGKILL this process once its tshark runs, as the OOM killer would."""

    seen: list[float] = []

    def check(_signum: int, _frame: FrameType | None) -> None:
        if not _tsharks(path, parent=os.getpid()):
            return
        seen.append(time.monotonic())
        if seen[-1] - seen[0] > 1.0:  # the test has had time to see it too
            os.kill(os.getpid(), signal.SIGKILL)

    signal.signal(signal.SIGALRM, check)
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    return analyze_with_tshark(path, options)


def test_a_worker_that_dies_takes_tshark_along(fifo: Path) -> None:
    hook = f"{__name__}:die_once_tshark_runs"
    settings = AuditSettings(engine="tshark", timeout_s=60, analyze_hook=hook)
    box = Sandbox(settings)
    try:
        assert box.submit(str(fifo))
        pid = _wait_for(str(fifo))
        row = box.wait_row()
    finally:
        box.close()
    assert not row.ok and "was killed (SIGKILL" in str(row.error), row.error
    assert _gone(pid), f"tshark {pid} outlived its worker"
