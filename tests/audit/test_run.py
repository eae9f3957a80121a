"""A mixed batch through `pushcap audit`: a row per file, exit codes, every format, the summary."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from analyzer.cli import app
from tests.audit import REALM, clean, founding, healthy

runner = CliRunner()
SYNTHETIC = Path(__file__).resolve().parents[2] / "captures" / "synthetic"
GROUP = f"token-service-unreachable (error) — 180.119.140.230:8200 → realm {REALM} — 3 files"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three captures of one problem, another registry, healthy, clean, and four bad files."""
    root = tmp_path_factory.mktemp("batch")
    stuck = founding(root / "stuck-1.pcap")
    shutil.copy(stuck, root / "stuck-2.pcap")
    (root / "stuck-3.cap.gz").write_bytes(gzip.compress(stuck.read_bytes(), mtime=0))
    founding(root / "other.pcap", registry="203.0.113.10")
    healthy(root / "healthy.pcap")
    clean(root / "clean.pcap")
    (root / "truncated.pcap").write_bytes(stuck.read_bytes()[:300])
    (root / "header-only.pcap").write_bytes(stuck.read_bytes()[:10])
    (root / "text.pcap").write_text("this is not a capture\n" * 4)
    (root / "empty.pcap").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The token service refuses the credentials: warnings, no error."""
    path = healthy(tmp_path_factory.mktemp("denied") / "denied.pcap", token_status=401)
    alone = json.loads(runner.invoke(app, ["analyze", str(path), "-f", "json"]).stdout)
    assert alone["verdict"] == "warning"
    return path


BAD = {"header-only.pcap", "text.pcap", "empty.pcap"}


def audit(*args: str) -> Result:
    return runner.invoke(app, ["audit", "--jobs", "2", *args])


def by_name(lines: str) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in lines.splitlines()]
    out = {Path(str(r["path"])).name: r for r in rows}
    assert len(out) == len(rows)
    return out


@pytest.fixture(scope="module")
def jsonl(batch: Path) -> Result:
    return audit(str(batch), "--format", "jsonl")


def test_every_file_gets_its_own_row(batch: Path, jsonl: Result) -> None:
    assert jsonl.exit_code == 1, jsonl.output
    rows = by_name(jsonl.stdout)
    assert set(rows) == {p.name for p in batch.iterdir()}
    for name, row in rows.items():
        assert row["status"] == ("error" if name in BAD else "ok"), name
        assert row["schema"] == 1
        if name in BAD:
            assert row["verdict"] is None and row["findings"] == []
            error = row["error"]
            assert isinstance(error, dict) and error["message"] and "hint" in error
        else:
            assert row["error"] is None
    assert rows["truncated.pcap"]["capture"]["complete"] is False  # type: ignore[index]
    assert rows["stuck-3.cap.gz"]["capture"]["compression"] == "gzip"  # type: ignore[index]
    assert "token-flow-ok" in [f["rule"] for f in rows["healthy.pcap"]["findings"]]  # type: ignore[attr-defined]


def test_rows_use_the_analyze_json_schema(batch: Path, jsonl: Result) -> None:
    alone = json.loads(
        runner.invoke(app, ["analyze", str(batch / "stuck-1.pcap"), "-f", "json"]).stdout
    )
    row = by_name(jsonl.stdout)["stuck-1.pcap"]
    assert set(alone) <= set(row)
    assert row["findings"] == alone["findings"]
    assert row["capture"] == alone["capture"]
    assert {"path", "status", "error", "audit"} <= set(row)


def test_summary_groups_the_same_problem(jsonl: Result) -> None:
    summary = jsonl.stderr
    assert GROUP in summary
    assert "203.0.113.10:8200 → realm" in summary and "— 1 file (" in summary
    assert "10 files: 7 read (1 only in part), 3 could not be read" in summary
    assert "worst: ERROR token-service-unreachable in " in summary
    assert "error    token-service-unreachable  4 files" in summary
    assert "truncated.pcap" in summary.split("read only in part")[1]
    unreadable = summary.split("could not be read:")[1]
    assert all(name in unreadable for name in BAD)


@pytest.mark.parametrize(
    ("files", "fail_on", "code"),
    [
        (["stuck-1.pcap", "clean.pcap", "empty.pcap"], "error", 1),
        (["stuck-1.pcap", "clean.pcap"], "warning", 1),
        (["denied.pcap", "clean.pcap", "empty.pcap"], "error", 0),
        (["denied.pcap", "clean.pcap", "empty.pcap"], "warning", 1),
        (["clean.pcap", "empty.pcap"], "info", 0),
        (["healthy.pcap", "clean.pcap"], "info", 1),
        (["empty.pcap", "text.pcap"], "warning", 2),
    ],
)
def test_exit_codes(batch: Path, denied: Path, files: list[str], fail_on: str, code: int) -> None:
    paths = [str(denied if f == "denied.pcap" else batch / f) for f in files]
    result = audit(*paths, "--fail-on", fail_on, "-f", "jsonl")
    assert result.exit_code == code, result.output
    assert len(result.stdout.splitlines()) == len(files)
    if code == 2:
        assert "none of the 2 files could be read" in result.stderr


def test_csv(batch: Path) -> None:
    result = audit(str(batch), "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "path",
        "status",
        "rule",
        "severity",
        "confidence",
        "client",
        "registry",
        "realm",
        "summary",
        "first_frame",
    ]
    status = {(Path(r["path"]).name, r["status"], r["rule"]) for r in rows}
    assert ("stuck-2.pcap", "finding", "token-service-unreachable") in status
    assert ("clean.pcap", "clean", "") in status
    assert {n for n, s, _ in status if s == "error"} == BAD
    stuck = next(r for r in rows if r["path"].endswith("stuck-1.pcap"))
    assert stuck["realm"] == REALM and stuck["registry"] == "180.119.140.230:8200"
    assert stuck["first_frame"].isdigit() and stuck["severity"] == "error"
    assert GROUP in result.stderr


def test_junit(batch: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.xml"
    result = audit(str(batch), "--format", "junit", "--output", str(out), "--fail-on", "error")
    assert result.exit_code == 1
    assert result.stdout == ""
    suites = ET.parse(out).getroot()
    suite = suites.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 10 == int(suite.get("tests", "0"))
    assert {c.get("classname") for c in cases} == {"pushcap.audit"}
    failed = {Path(str(c.get("name"))).name for c in cases if c.find("failure") is not None}
    errored = {Path(str(c.get("name"))).name for c in cases if c.find("error") is not None}
    assert failed == {"stuck-1.pcap", "stuck-2.pcap", "stuck-3.cap.gz", "other.pcap"}
    assert errored == BAD
    assert suite.get("failures") == "4" and suite.get("errors") == "3"
    summary = suite.find("system-out")
    assert summary is not None and GROUP in (summary.text or "")
    # findings below --fail-on are not failures, but are shown
    healthy_case = next(c for c in cases if str(c.get("name")).endswith("healthy.pcap"))
    assert "token-flow-ok" in (healthy_case.findtext("system-out") or "")
    info = audit(str(batch / "healthy.pcap"), "-f", "junit", "--fail-on", "info")
    assert ET.fromstring(info.stdout).find("testsuite/testcase/failure") is not None


def test_table_when_piped_is_plain_text(batch: Path) -> None:
    result = audit(str(batch))
    assert result.exit_code == 1
    assert "\x1b[" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["path", "verdict", "findings", "/", "error", "frames"]
    table = lines[1:11]
    assert all(str(batch) in line for line in table)
    assert any(
        "stuck-1.pcap" in ln and "error" in ln and "token-service-unreachable" in ln for ln in table
    )
    assert any("empty.pcap" in ln and "unreadable" in ln for ln in table)
    assert GROUP in result.stdout  # the summary is the table format's own output
    assert result.stderr == ""


@pytest.mark.skipif(not list(SYNTHETIC.glob("*.pcap*")), reason="no synthetic captures generated")
def test_shipped_synthetic_captures(tmp_path: Path) -> None:
    for capture in sorted(SYNTHETIC.glob("*.pcap*"))[:4]:
        shutil.copy(capture, tmp_path)
    result = audit(str(tmp_path), "-f", "jsonl", "--fail-on", "error")
    assert result.exit_code in (0, 1)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(list(tmp_path.iterdir()))
    assert all(r["status"] == "ok" for r in rows)
