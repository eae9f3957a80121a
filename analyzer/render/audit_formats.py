"""Audit output formats: one writer per format, rows in as files finish.

``jsonl`` and ``csv`` write each row as it arrives (and flush), so a long
audit can be followed and an interrupted one still leaves every finished row;
``table`` and ``junit`` need every row and write at :meth:`finish`, sorted by
path. Every field comes from the row's report, which the analyzer already
redacted (unless ``--show-secrets``): nothing here reads the capture again.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from analyzer import __version__
from analyzer.audit.options import AuditFormat
from analyzer.audit.row import AuditRow
from analyzer.findings import SCHEMA_VERSION, Severity

CSV_COLUMNS = (
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
)
_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan", "clean": "green"}
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class RowWriter(Protocol):
    def row(self, row: AuditRow) -> None: ...

    def finish(self, rows: Sequence[AuditRow], summary: str) -> None: ...


def row_json(row: AuditRow, engine: str = "default") -> dict[str, Any]:
    """``analyze --format json``'s report plus path, status, error and the audit's measures.

    ``engine`` is the batch's ``--engine``, in the ``audit`` section of every row: a
    row with an error has no report (``capture`` null) to say which engine failed.
    """
    report = row.report or {
        "schema": SCHEMA_VERSION,
        "tool": {"name": "pushcap", "version": __version__},
        "capture": None,
        "verdict": None,
        "findings": [],
    }
    error = {"message": row.error, "hint": row.hint} if not row.ok else None
    return {
        "path": row.path,
        "status": row.status,
        "error": error,
        **report,
        "audit": {
            "engine": engine,
            "elapsed_s": row.elapsed_s,
            "peak_rss_kb": row.peak_rss_kb,
            "bytes": row.size,
        },
    }


def finding_line(f: dict[str, Any]) -> str:
    evidence = f.get("evidence") or []
    frame = f" (frame {evidence[0].get('frame')})" if evidence else ""
    return f"{str(f.get('severity')).upper()} {f.get('rule')}: {f.get('summary')}{frame}"


def verdict(row: AuditRow) -> str:
    if not row.ok:
        return "unreadable"
    return str((row.report or {}).get("verdict") or "clean")


class JsonlWriter:
    def __init__(self, out: TextIO, engine: str = "default") -> None:
        self.out = out
        self.engine = engine

    def row(self, row: AuditRow) -> None:
        self.out.write(json.dumps(row_json(row, self.engine), ensure_ascii=False) + "\n")
        self.out.flush()

    def finish(self, rows: Sequence[AuditRow], summary: str) -> None:
        self.out.flush()


class CsvWriter:
    """One line per finding, one per clean file, one per unreadable file."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.writer = csv.writer(out)
        self.writer.writerow(CSV_COLUMNS)
        out.flush()

    def row(self, row: AuditRow) -> None:
        if not row.ok:
            self.writer.writerow([row.path, "error", "", "", "", "", "", "", row.error, ""])
        elif not row.findings:
            self.writer.writerow([row.path, "clean", "", "", "", "", "", "", "", ""])
        for f in row.findings:
            evidence = f.get("evidence") or []
            self.writer.writerow(
                [
                    row.path,
                    "finding",
                    f.get("rule"),
                    f.get("severity"),
                    f.get("confidence"),
                    f.get("client") or "",
                    f.get("registry") or "",
                    f.get("realm") or "",
                    f.get("summary"),
                    evidence[0].get("frame") if evidence else "",
                ]
            )
        self.out.flush()

    def finish(self, rows: Sequence[AuditRow], summary: str) -> None:
        self.out.flush()


def _x(text: object) -> str:
    return _XML_INVALID.sub("\ufffd", str(text))


def junit_xml(rows: Sequence[AuditRow], fail_on: Severity, summary: str) -> str:
    """JUnit XML: a testcase per capture, failure at/above ``fail_on``, error when unreadable."""
    ordered = sorted(rows, key=lambda r: r.path)
    failures = errors = 0
    suites = ET.Element("testsuites", name="pushcap audit")
    suite = ET.SubElement(suites, "testsuite", name="pushcap.audit")
    for row in ordered:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="pushcap.audit",
            name=_x(row.path),
            time=f"{row.elapsed_s:.3f}",
        )
        if not row.ok:
            errors += 1
            error = ET.SubElement(case, "error", message=_x(row.error), type="unreadable")
            error.text = _x(row.hint or "")
            continue
        found = row.findings
        failing = [f for f in found if Severity.parse(str(f.get("severity"))) >= fail_on]
        if failing:
            failures += 1
            rules = ", ".join(dict.fromkeys(str(f.get("rule")) for f in failing))
            failure = ET.SubElement(
                case,
                "failure",
                message=_x(f"{len(failing)} finding(s) at or above {fail_on.label}: {rules}"),
                type=str(failing[0].get("severity")),
            )
            failure.text = _x("\n".join(_finding_block(f) for f in failing))
        notes = [finding_line(f) for f in found]
        if row.cut_short is not None:
            notes.append(f"read only in part: {row.cut_short}")
        if notes:
            ET.SubElement(case, "system-out").text = _x("\n".join(notes))
    total_time = sum(r.elapsed_s for r in ordered)
    for element in (suites, suite):
        element.set("tests", str(len(ordered)))
        element.set("failures", str(failures))
        element.set("errors", str(errors))
        element.set("time", f"{total_time:.3f}")
    suite.set("skipped", "0")
    ET.SubElement(suite, "system-out").text = _x(summary)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _finding_block(f: dict[str, Any]) -> str:
    lines = [finding_line(f)]
    lines.append(
        f"  client {f.get('client') or '?'} → registry {f.get('registry') or '?'}; "
        f"realm {f.get('realm') or '?'} (confidence {f.get('confidence')})"
    )
    if f.get("symptom"):
        lines.append(f"  client saw: {f.get('symptom')}")
    lines.extend(f"  fix: {r.get('title')}" for r in f.get("remediation") or [])
    return "\n".join(lines)


class JunitWriter:
    def __init__(self, out: TextIO, fail_on: Severity) -> None:
        self.out = out
        self.fail_on = fail_on

    def row(self, row: AuditRow) -> None:
        """Nothing until the end: an XML document is whole or useless."""

    def finish(self, rows: Sequence[AuditRow], summary: str) -> None:
        self.out.write(junit_xml(rows, self.fail_on, summary))
        self.out.flush()


def _table_cells(row: AuditRow) -> tuple[str, str, str, str]:
    if not row.ok:
        return row.path, "unreadable", row.error or "", ""
    rules = ", ".join(dict.fromkeys(str(f.get("rule")) for f in row.findings)) or "-"
    if row.cut_short is not None:
        rules += " (read only in part)"
    frames = (row.report or {}).get("capture", {}).get("frames", "")
    return row.path, verdict(row), rules, f"{frames:,}" if isinstance(frames, int) else ""


class TableWriter:
    """A rich table on a terminal, plain aligned columns otherwise; then the summary."""

    HEADERS = ("path", "verdict", "findings / error", "frames")

    def __init__(self, out: TextIO, *, rich: bool) -> None:
        self.out = out
        self.rich = rich

    def row(self, row: AuditRow) -> None:
        """Nothing until the end: column widths need every row."""

    def finish(self, rows: Sequence[AuditRow], summary: str) -> None:
        cells = [_table_cells(r) for r in sorted(rows, key=lambda r: r.path)]
        if self.rich:
            console = Console(file=self.out, highlight=False)
            table = Table(*self.HEADERS, show_lines=False)
            table.columns[0].overflow = "fold"  # a path is only useful whole
            table.columns[3].justify = "right"
            for path, verdict_, rules, frames in cells:
                style = _STYLE.get(verdict_, "bold magenta")
                table.add_row(Text(path), Text(verdict_, style=style), Text(rules), frames)
            console.print(table)
            console.print(summary, markup=False, highlight=False, end="")
        else:
            widths = [
                max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(self.HEADERS)
            ]
            for line in (self.HEADERS, *cells):
                text = "  ".join(
                    cell.rjust(w) if i == 3 else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(line, widths, strict=True))
                )
                self.out.write(text.rstrip() + "\n")
            self.out.write("\n" + summary)
        self.out.flush()


def make_writer(
    fmt: AuditFormat, out: TextIO, fail_on: Severity, *, rich: bool, engine: str = "default"
) -> RowWriter:
    if fmt is AuditFormat.jsonl:
        return JsonlWriter(out, engine)
    if fmt is AuditFormat.csv:
        return CsvWriter(out)
    if fmt is AuditFormat.junit:
        return JunitWriter(out, fail_on)
    return TableWriter(out, rich=rich)
