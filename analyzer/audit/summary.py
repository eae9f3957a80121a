"""What a whole audit found: counts, the same problem across files grouped once, the exit code.

Rows are added in the order files finish (not deterministic with several
jobs), so everything shown is ordered by content — severity, count, path —
never by arrival.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from analyzer.audit.row import AuditRow
from analyzer.findings import Severity
from analyzer.runner import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK

EXIT_INTERRUPTED: Final = 130  # as a shell reports SIGINT; what finished was still written
MAX_LISTED: Final = 20  # unreadable files / groups listed before "… and N more"
EXAMPLES: Final = 3  # paths named beside a group
_CONFIDENCE = {"high": 3, "medium": 2, "low": 1}


@dataclass(slots=True)
class Group:
    """One rule about one registry and realm, in however many files."""

    rule: str
    severity: Severity
    registry: str | None
    realm: str | None
    paths: list[str] = field(default_factory=list)

    def line(self) -> str:
        where = f"{self.registry or '?'} → realm {self.realm or '?'}"
        n = len(self.paths)
        shown = sorted(self.paths)[:EXAMPLES]
        more = ", …" if n > EXAMPLES else ""
        return (
            f"{self.rule} ({self.severity.label}) — {where} — {n} file{'s' * (n != 1)}"
            f" ({', '.join(shown)}{more})"
        )


@dataclass(slots=True)
class Worst:
    severity: Severity
    confidence: int
    path: str
    finding: dict[str, Any]

    def beats(self, other: Worst | None) -> bool:
        if other is None:
            return True
        mine = (self.severity, self.confidence)
        theirs = (other.severity, other.confidence)
        return mine > theirs or (mine == theirs and self.path < other.path)


class AuditSummary:
    """Accumulates rows; tells the exit code and the text summary."""

    def __init__(self, fail_on: Severity = Severity.WARNING) -> None:
        self.fail_on = fail_on
        self.read = 0
        self.clean = 0
        self.failing = 0  # files with a finding at or above fail_on
        self.findings = 0
        self.bytes = 0
        self.errors: list[AuditRow] = []
        self.cut_short: list[tuple[str, str]] = []  # read in part: (path, why reading stopped)
        self.rule_files: Counter[str] = Counter()
        self.rule_severity: dict[str, Severity] = {}
        self.groups: dict[tuple[str, str | None, str | None], Group] = {}
        self.worst: Worst | None = None

    @property
    def done(self) -> int:
        return self.read + len(self.errors)

    def add(self, row: AuditRow) -> None:
        if not row.ok:
            self.errors.append(row)
            return
        self.read += 1
        self.bytes += row.size or 0
        if (why := row.cut_short) is not None:
            self.cut_short.append((row.path, why))
        findings = row.findings
        self.findings += len(findings)
        worst = row.worst
        if worst is None:
            self.clean += 1
        elif worst >= self.fail_on:
            self.failing += 1
        for rule in {str(f.get("rule")) for f in findings}:
            self.rule_files[rule] += 1
        for f in findings:
            self._add_finding(row.path, f)

    def _add_finding(self, path: str, f: dict[str, Any]) -> None:
        rule = str(f.get("rule"))
        severity = Severity.parse(str(f.get("severity", "info")))
        self.rule_severity[rule] = max(severity, self.rule_severity.get(rule, severity))
        key = (rule, f.get("registry"), f.get("realm"))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(rule, severity, key[1], key[2])
        group.severity = max(group.severity, severity)
        if path not in group.paths:
            group.paths.append(path)
        candidate = Worst(severity, _CONFIDENCE.get(str(f.get("confidence")), 0), path, f)
        if candidate.beats(self.worst):
            self.worst = candidate

    def exit_code(self, *, interrupted: bool = False) -> int:
        if interrupted:
            return EXIT_INTERRUPTED
        if self.read == 0:
            return EXIT_ERROR
        return EXIT_FINDINGS if self.failing else EXIT_OK

    def lines(self, total: int, *, interrupted: bool = False) -> list[str]:
        """The summary as plain text lines (no markup: it goes to files and CI logs too)."""
        head = f"pushcap audit: {total} file{'s' * (total != 1)}: {self.read} read"
        if self.cut_short:
            head += f" ({len(self.cut_short)} only in part)"
        if self.errors:
            head += f", {len(self.errors)} could not be read"
        head += (
            f"; {self.failing} with findings at or above {self.fail_on.label}, {self.clean} clean"
        )
        out = [head]
        if interrupted:
            out.append(
                f"interrupted: {total - self.done} of {total} not audited; "
                f"this covers the {self.done} that finished"
            )
        if self.worst is not None:
            w = self.worst
            out.append(
                f"worst: {w.severity.label.upper()} {w.finding.get('rule')} in {w.path}: "
                f"{w.finding.get('summary')}"
            )
        if self.rule_files:
            out += ["", "files with findings, by rule:"]
            width = max(len(r) for r in self.rule_files)
            for rule, n in sorted(
                self.rule_files.items(), key=lambda kv: (-self.rule_severity[kv[0]], -kv[1], kv[0])
            ):
                label = self.rule_severity[rule].label
                out.append(f"  {label:<8} {rule:<{width}}  {n} file{'s' * (n != 1)}")
        if self.groups:
            out += ["", "findings by registry and realm:"]
            ordered = sorted(
                self.groups.values(),
                key=lambda g: (-g.severity, -len(g.paths), g.rule, g.registry or "", g.realm or ""),
            )
            out += [f"  {g.line()}" for g in ordered[:MAX_LISTED]]
            if len(ordered) > MAX_LISTED:
                out.append(f"  … and {len(ordered) - MAX_LISTED} more (see the rows)")
        if self.errors:
            out += ["", "could not be read:"]
            for row in sorted(self.errors, key=lambda r: r.path)[:MAX_LISTED]:
                message = row.error or "unknown error"
                out.append(
                    f"  {message if message.startswith(row.path) else f'{row.path}: {message}'}"
                )
            if len(self.errors) > MAX_LISTED:
                out.append(f"  … and {len(self.errors) - MAX_LISTED} more (see the rows)")
        if self.cut_short:
            out += ["", "read only in part (truncated or damaged; analysed up to there):"]
            out += [f"  {path}: {why}" for path, why in sorted(self.cut_short)[:MAX_LISTED]]
            if len(self.cut_short) > MAX_LISTED:
                out.append(f"  … and {len(self.cut_short) - MAX_LISTED} more (see the rows)")
        return out

    def text(self, total: int, *, interrupted: bool = False) -> str:
        return "\n".join(self.lines(total, interrupted=interrupted)) + "\n"
