"""The report for a person at a terminal: one block per finding, with its timeline.

Colour only when the console is a terminal (rich decides; ``--no-color``
forces it off). Commands are printed unwrapped so they can be copied whole.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from analyzer import __version__
from analyzer.findings import CaptureSummary, Finding, Report, Severity

NS = 1_000_000_000

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold green"}
_MARK = {Severity.ERROR: "✖", Severity.WARNING: "▲", Severity.INFO: "✔"}


def _indent(renderable: Text | Table, n: int = 2) -> Padding:
    return Padding(renderable, (0, 0, 0, n), expand=False)


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


def _finding(console: Console, f: Finding, first_ts: int | None) -> None:
    style = _STYLE[f.severity]
    console.print(
        Text.assemble(
            (f"{_MARK[f.severity]} {f.severity.label.upper()} ", style),
            (f.rule, "bold"),
            (f"  (confidence: {f.confidence})", "dim"),
        )
    )
    console.print(_indent(Text(f.summary, style="bold")))
    console.print()
    console.print(_indent(Text(f.explanation)))
    console.print(_indent(Text.assemble(("You likely saw: ", "bold"), f.symptom)))
    if f.evidence:
        console.print()
        table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column("frame", justify="right")
        table.add_column("time", justify="right")
        table.add_column("from")
        table.add_column("to")
        table.add_column("what", overflow="fold")
        for e in f.evidence:
            t = (e.ts - (first_ts or e.ts)) / NS
            table.add_row(str(e.frame), f"{t:.6f}", e.src, e.dst, escape(e.what))
        console.print(_indent(Text("Evidence (Wireshark frame numbers; time since the first frame):", style="bold")))
        console.print(_indent(table))
    omitted = f.fact("evidence_rows_omitted")
    if omitted:
        console.print(Text(f"  … {omitted} more rows in --format json", style="dim"))
    for i, r in enumerate(f.remediation, 1):
        console.print()
        console.print(_indent(Text(f"Fix {i}: {r.title}", style="bold")))
        console.print(_indent(Text(r.text)))
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
        parts = [f"{n} {sev.label}{'s' if n != 1 else ''}" for sev, n in sorted(counts.items(), reverse=True)]
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
        _finding(console, f, report.summary.first_ts)
    _footer(console, report)
