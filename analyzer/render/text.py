"""The report for a person at a terminal: one block per finding, with its timeline.

Colour only when the console is a terminal (rich decides; ``--no-color``
forces it off). Commands are printed unwrapped so they can be copied whole.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from analyzer import __version__
from analyzer.findings import CaptureSummary, Finding, Report, Severity

NS = 1_000_000_000

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold green"}
_MARK = {Severity.ERROR: "✖", Severity.WARNING: "▲", Severity.INFO: "✔"}


def _para(console: Console, text: str | Text, indent: int = 2) -> None:
    """A paragraph wrapped to the console, indented, with no trailing blanks (pipes cleanly)."""
    body = text if isinstance(text, Text) else Text(text)
    width = max(40, (console.width or 100) - indent)
    for line in body.wrap(console, width):
        line.rstrip()
        console.print(Text(" " * indent) + line, soft_wrap=True)


def _timeline(console: Console, f: Finding, first_ts: int | None) -> None:
    """The evidence as aligned columns; the last column is never padded."""
    rows = [("frame", "time", "from", "to", "what")]
    for e in f.evidence:
        t = (e.ts - (first_ts or e.ts)) / NS
        rows.append((str(e.frame), f"{t:.6f}", e.src, e.dst, e.what))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for n, r in enumerate(rows):
        line = f"    {r[0]:>{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  "
        console.print(Text(line + r[4], style="bold" if n == 0 else ""), soft_wrap=True)


def _header(console: Console, s: CaptureSummary) -> None:
    fmt = s.format + (f"+{s.compression}" if s.compression else "")
    console.print(
        Text.assemble(
            ("pushcap ", "bold"),
            (f"{__version__} ", "dim"),
            ("— ", "dim"),
            (s.source, "bold"),
            (f" ({fmt}, {s.frames} frames, {s.duration_s:.1f} s)", "dim"),
        )
    )
    console.print()


def render_finding(console: Console, f: Finding, first_ts: int | None) -> None:
    style = _STYLE[f.severity]
    console.print(
        Text.assemble(
            (f"{_MARK[f.severity]} {f.severity.label.upper()} ", style),
            (f.rule, "bold"),
            (f"  (confidence: {f.confidence})", "dim"),
        )
    )
    _para(console, Text(f.summary, style="bold"))
    console.print()
    _para(console, f.explanation)
    _para(console, Text.assemble(("You likely saw: ", "bold"), f.symptom))
    if f.evidence:
        console.print()
        _para(
            console,
            Text("Evidence (Wireshark frame numbers; time since the first frame):", style="bold"),
        )
        _timeline(console, f, first_ts)
    omitted = f.fact("evidence_rows_omitted")
    if omitted:
        console.print(Text(f"  … {omitted} more rows in --format json", style="dim"))
    for i, r in enumerate(f.remediation, 1):
        console.print()
        _para(console, Text(f"Fix {i}: {r.title}", style="bold"))
        _para(console, r.text)
        for cmd in r.commands:
            for line in cmd.splitlines():
                console.print(Text("      " + line, style="cyan"), soft_wrap=True)
    console.print()


def _footer(console: Console, report: Report) -> None:
    s = report.summary
    counts: dict[Severity, int] = {}
    for f in report.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    if any(sev >= Severity.WARNING for sev in counts):
        parts = [
            f"{n} {sev.label}{'s' if n != 1 else ''}"
            for sev, n in sorted(counts.items(), reverse=True)
        ]
        verdict = Text("Verdict: " + ", ".join(parts), style=_STYLE[max(counts)])
    elif report.findings:
        verdict = Text("Verdict: token flow OK", style=_STYLE[Severity.INFO])
    else:
        verdict = Text("Verdict: no registry token flow found in this capture", style="bold")
    console.print(verdict)
    console.print(
        Text(
            f"Read {s.frames} frames: {s.tcp_connections} TCP connections, "
            f"{s.http_exchanges} HTTP exchanges, {s.dns_messages} DNS messages.",
            style="dim",
        )
    )
    if s.weirds:
        shown = ", ".join(f"{n}×{c}" for n, c, _ in s.weirds[:8])
        more = f" and {len(s.weirds) - 8} more" if len(s.weirds) > 8 else ""
        console.print(Text(f"Anomalies (weird): {shown}{more}", style="dim"))
    for p in s.read_problems:
        console.print(Text(f"warning: {p.message}", style="yellow"))
    for note in s.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def render_text(report: Report, console: Console) -> None:
    _header(console, report.summary)
    for f in report.findings:
        render_finding(console, f, report.summary.first_ts)
    _footer(console, report)
