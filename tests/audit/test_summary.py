"""The summary, the writers and the progress line, from rows made by hand (no processes)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from analyzer.audit.progress import AuditProgress
from analyzer.audit.row import STATUS_OK, AuditRow, clean_data, clean_text
from analyzer.audit.summary import MAX_LISTED, AuditSummary
from analyzer.findings import Severity
from analyzer.render.audit_formats import (
    AuditFormat,
    CsvWriter,
    TableWriter,
    junit_xml,
    make_writer,
    row_json,
)

REALM = "http://172.16.200.100:8200/service/token"


def finding(
    rule: str, severity: str, registry: str = "180.119.140.230:8200", **kw: Any
) -> dict[str, Any]:
    return {
        "rule": rule,
        "severity": severity,
        "confidence": kw.get("confidence", "high"),
        "summary": kw.get("summary", f"{rule} happened"),
        "client": "192.168.1.100",
        "registry": registry,
        "realm": kw.get("realm", REALM),
        "evidence": [{"frame": 20}],
        "remediation": [{"title": "Fix the realm"}],
    }


def ok(path: str, *findings: dict[str, Any], complete: bool = True) -> AuditRow:
    worst = max((Severity.parse(f["severity"]) for f in findings), default=None)
    report = {
        "schema": 1,
        "capture": {"frames": 12, "complete": complete, "read_problems": [{"message": "cut"}]},
        "verdict": worst.label if worst else "clean",
        "findings": list(findings),
    }
    return AuditRow(path=path, status=STATUS_OK, report=report, size=100, elapsed_s=0.01)


def test_repeated_findings_are_grouped_with_a_count() -> None:
    summary = AuditSummary()
    for i in range(37):
        summary.add(ok(f"ci/run-{i:02d}.pcap", finding("token-service-unreachable", "error")))
    summary.add(ok("lab.pcap", finding("token-service-unreachable", "error", "10.0.0.1:5000")))
    summary.add(ok("fine.pcap", finding("token-flow-ok", "info")))
    summary.add(ok("nothing.pcap"))
    summary.add(AuditRow.failed("bad.pcap", "bad.pcap: empty file"))
    text = summary.text(41)
    assert (
        f"token-service-unreachable (error) — 180.119.140.230:8200 → realm {REALM} — 37 files "
        "(ci/run-00.pcap, ci/run-01.pcap, ci/run-02.pcap, …)"
    ) in text
    assert "10.0.0.1:5000 → realm" in text and "— 1 file (lab.pcap)" in text
    assert text.count("token-service-unreachable (error)") == 2
    assert (
        "41 files: 40 read, 1 could not be read; 38 with findings at or above warning, 1 clean"
        in text
    )
    assert "error    token-service-unreachable  38 files" in text
    assert "info     token-flow-ok              1 file" in text
    assert "worst: ERROR token-service-unreachable in ci/run-00.pcap" in text
    assert "  bad.pcap: empty file" in text
    assert summary.exit_code() == 1


def test_worst_prefers_severity_then_confidence_then_path() -> None:
    summary = AuditSummary()
    summary.add(ok("z.pcap", finding("realm-internal-address", "warning")))
    summary.add(ok("y.pcap", finding("token-rejected", "error", confidence="medium")))
    summary.add(ok("x.pcap", finding("token-service-refused", "error", confidence="medium")))
    assert summary.worst is not None and summary.worst.path == "x.pcap"
    summary.add(ok("w.pcap", finding("token-service-unreachable", "error")))
    assert summary.worst.path == "w.pcap"


@pytest.mark.parametrize(
    ("rows", "fail_on", "interrupted", "code"),
    [
        ([ok("a", finding("r", "warning"))], Severity.WARNING, False, 1),
        ([ok("a", finding("r", "warning"))], Severity.ERROR, False, 0),
        ([ok("a", finding("r", "info"))], Severity.INFO, False, 1),
        ([ok("a"), AuditRow.failed("b", "x")], Severity.WARNING, False, 0),
        ([AuditRow.failed("b", "x")], Severity.WARNING, False, 2),
        ([ok("a")], Severity.WARNING, True, 130),
    ],
)
def test_exit_code(rows: list[AuditRow], fail_on: Severity, interrupted: bool, code: int) -> None:
    summary = AuditSummary(fail_on)
    for row in rows:
        summary.add(row)
    assert summary.exit_code(interrupted=interrupted) == code


def test_long_lists_are_cut() -> None:
    summary = AuditSummary()
    for i in range(MAX_LISTED + 5):
        summary.add(AuditRow.failed(f"bad-{i:02d}", f"bad-{i:02d}: empty file"))
        summary.add(ok(f"cut-{i:02d}", complete=False))
    text = summary.text(2 * MAX_LISTED + 10)
    assert text.count("… and 5 more (see the rows)") == 2
    assert "read only in part" in text and "(25 only in part)" in text


def test_hostile_names_stay_valid_in_every_format() -> None:
    weird = clean_text('cap\udcff\x01<&>"].pcap')
    rows = [
        ok(weird, finding("token-service-unreachable", "error", summary="a\x00b")),
        AuditRow.failed(weird + "2", "bad\x07 [bold]not markup[/]"),
    ]
    assert clean_data({"k": ["\udcff"]}) == {"k": ["\\xff"]}
    doc = ET.fromstring(junit_xml(rows, Severity.WARNING, "summary \x1b[0m"))
    assert len(doc.findall("testsuite/testcase")) == 2
    for fmt in AuditFormat:
        out = io.StringIO()
        writer = make_writer(fmt, out, Severity.WARNING, rich=fmt is AuditFormat.table)
        for row in rows:
            writer.row(row)
        writer.finish(rows, "summary\n")
        out.getvalue().encode("utf-8")  # no lone surrogates
    table = io.StringIO()
    TableWriter(table, rich=True).finish(rows, "")
    assert "[bold]not markup[/]" in table.getvalue()


def test_jsonl_row_of_an_unreadable_file() -> None:
    row = row_json(AuditRow.failed("x.pcap", "x.pcap: empty file", "capture again"))
    assert row["status"] == "error" and row["error"] == {
        "message": "x.pcap: empty file",
        "hint": "capture again",
    }
    assert row["schema"] == 1 and row["findings"] == [] and row["capture"] is None
    assert row["audit"]["engine"] == "default"
    assert json.loads(json.dumps(row)) == row
    failed = row_json(AuditRow.failed("x.pcap", "x.pcap: tshark died"), engine="tshark")
    assert failed["audit"]["engine"] == "tshark"


def test_csv_has_a_line_per_finding() -> None:
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.row(ok("two.pcap", finding("a", "error"), finding("b", "warning")))
    writer.row(ok("none.pcap"))
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["path"], r["status"], r["rule"], r["first_frame"]) for r in lines] == [
        ("two.pcap", "finding", "a", "20"),
        ("two.pcap", "finding", "b", "20"),
        ("none.pcap", "clean", "", ""),
    ]


def test_progress_only_when_enabled() -> None:
    summary = AuditSummary()
    summary.add(ok("a", finding("r", "error")))
    quiet = io.StringIO()
    AuditProgress(4, enabled=False, stream=quiet).update(summary, force=True)
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    meter = AuditProgress(4, enabled=True, stream=shown)
    meter.update(summary, force=True)
    meter.clear()
    assert "1/4 files · 1 findings in 1 failing · 0 unreadable" in shown.getvalue()
    assert shown.getvalue().endswith("\r\x1b[K")


def test_slim_rows_render_the_same() -> None:
    rows = [
        ok("a.pcap", finding("token-service-unreachable", "error"), complete=False),
        ok("b.pcap", finding("token-flow-ok", "info")),
        AuditRow.failed("c.pcap", "c.pcap: empty file", "capture again"),
    ]
    slim = [r.slim() for r in rows]
    assert junit_xml(slim, Severity.INFO, "s") == junit_xml(rows, Severity.INFO, "s")
    for full, small in zip(rows, slim, strict=True):
        assert (full.worst, full.cut_short, full.ok) == (small.worst, small.cut_short, small.ok)
