"""The benchmark's checks and printout: pushcap's findings against the sidecar, the table, the machine.

How the check works: the generator's sidecar lists every (client, registry,
realm) flow it planted with the rule pushcap must give; a report is right
when it has exactly one finding per planted flow with that rule, the failed
flows carry the planted ``attempts`` and ``syn_retransmissions`` facts, no
other finding appears, and the capture summary counts every frame, complete
and without read problems. Besides, every endpoint that received an
``Authorization`` header over plain HTTP must have one
``credentials-in-cleartext`` finding with the planted numbers of Basic and
Bearer requests and the planted clients. Each difference becomes one line naming the flow,
what was expected and what pushcap said. Nothing here looks at times.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAILED_FACTS = ("attempts", "syn_retransmissions")
CLEARTEXT = "credentials-in-cleartext"
TSHARK_ENGINE = "pushcap tshark engine"  # `pushcap analyze --engine tshark`


def check_report(report: dict[str, Any], sidecar: dict[str, Any]) -> list[str]:
    """Every way the report differs from what was planted (empty: all right)."""
    problems: list[str] = []
    cap = report.get("capture", {})
    if cap.get("frames") != sidecar["frames"]:
        problems.append(f"capture: expected {sidecar['frames']} frames, got {cap.get('frames')}")
    if not cap.get("complete", False) or cap.get("read_problems"):
        problems.append(f"capture: incomplete read: {cap.get('read_problems')}")
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for f in report.get("findings", []):
        found.setdefault((f.get("client"), f.get("registry"), f.get("realm")), []).append(f)
    for flow in sidecar["flows"]:
        key = (flow["client"], flow["registry"], flow["realm"])
        name = f"{key[0]} → {key[1]} realm {key[2]}"
        got = found.pop(key, [])
        if not got:
            problems.append(f"{name}: expected {flow['rule']}, got no finding")
            continue
        if len(got) > 1:
            problems.append(f"{name}: expected one finding, got {[g['rule'] for g in got]}")
        finding = got[0]
        if finding["rule"] != flow["rule"]:
            problems.append(
                f"{name}: expected {flow['rule']}, got {finding['rule']} "
                f"({finding.get('summary', '')}; facts {finding.get('facts')})"
            )
            continue
        for fact in FAILED_FACTS if flow["rule"] != "token-flow-ok" else ():
            want, have = flow[fact], finding.get("facts", {}).get(fact)
            if want != have:
                problems.append(f"{name}: {flow['rule']} expected {fact}={want}, got {have}")
    problems += _check_cleartext(found, sidecar.get("cleartext", []))
    problems.extend(
        f"unexpected finding {f['rule']} for {key[0]} → {key[1]} realm {key[2]}: "
        f"{f.get('summary', '')}"
        for key, extra in found.items()
        for f in extra
    )
    return problems


def _check_cleartext(
    found: dict[tuple[str, str, str], list[dict[str, Any]]], planted: list[dict[str, Any]]
) -> list[str]:
    """``credentials-in-cleartext``: one per endpoint, the planted request counts and clients.

    Takes the findings it matches out of ``found``.
    """
    problems: list[str] = []
    by_endpoint: dict[str, dict[str, Any]] = {}
    for key in [k for k, fs in found.items() if any(f["rule"] == CLEARTEXT for f in fs)]:
        rest = [f for f in found[key] if f["rule"] != CLEARTEXT]
        for f in found[key]:
            if f["rule"] == CLEARTEXT:
                by_endpoint[str(f.get("facts", {}).get("receiver") or f.get("registry"))] = f
        if rest:
            found[key] = rest
        else:
            del found[key]
    for want in planted:
        where = want["registry"]
        got = by_endpoint.pop(where, None)
        if got is None:
            problems.append(f"{where}: expected {CLEARTEXT}, got no finding")
            continue
        facts = got.get("facts", {})
        clients = ", ".join(want["clients"])
        for fact, value in (
            ("basic_requests", want["basic_requests"]),
            ("bearer_requests", want["bearer_requests"]),
            ("clients", clients),
        ):
            if facts.get(fact) != value:
                problems.append(
                    f"{where}: {CLEARTEXT} expected {fact}={value}, got {facts.get(fact)}"
                )
    problems.extend(
        f"unexpected finding {CLEARTEXT} for {where}: {f.get('summary', '')}"
        for where, f in by_endpoint.items()
    )
    return problems


# ------------------------------------------------------------------ results


@dataclass(slots=True)
class Result:
    """The runs of one command on one file."""

    name: str
    size: str  # "small" / "large"
    path: Path
    frames: int
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)  # user + sys of the measured process
    rss_kb: list[int] = field(default_factory=list)
    check: list[str] | None = None  # pushcap only: problems found (empty: right)
    error: str | None = None

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus) if self.cpus else float("nan")

    @property
    def rss_mb(self) -> float:
        return max(self.rss_kb) / 1024 if self.rss_kb else float("nan")


def table(results: list[Result]) -> str:
    head = (
        f"{'command':<22} {'file':<17} {'frames':>9} {'MB':>7} {'wall s':>8} {'(min–max)':>15} "
        f"{'cpu s':>7} {'frames/s':>10} {'MB/s':>7} {'RSS MB':>7}  findings"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        mb = r.path.stat().st_size / 1e6
        if r.error:
            lines.append(f"{r.name:<22} {r.path.name:<17} error: {r.error}")
            continue
        spread = f"({min(r.walls):.2f}–{max(r.walls):.2f})"
        check = "" if r.check is None else ("right" if not r.check else f"{len(r.check)} WRONG")
        lines.append(
            f"{r.name:<22} {r.path.name:<17} {r.frames:>9,} {mb:>7.1f} {r.wall:>8.2f} {spread:>15} "
            f"{r.cpu:>7.2f} {r.frames / r.wall:>10,.0f} {mb / r.wall:>7.1f} {r.rss_mb:>7.1f}  {check}"
        )
    return "\n".join(lines)


def ratios(results: list[Result]) -> str:
    """The issue's ratios, on medians (wall, and CPU time which the machine's load disturbs less)."""
    by = {(r.name, r.size): r for r in results if not r.error and r.walls}
    rows: list[tuple[str, Result, Result, str, float | None]] = []
    for size in ("small", "large"):
        pairs: tuple[tuple[str, str, str, str, float | None], ...] = (
            ("tshark / pushcap", "tshark", "pushcap", "≥ 10", 10.0),
            ("tshark engine / pushcap", TSHARK_ENGINE, "pushcap", "—", None),
            ("pushcap / tcpdump -nr", "pushcap", "tcpdump -nr", "≤ 1.5", 1.5),
            ("pushcap stdin / file", "pushcap stdin", "pushcap", "≈ 1", 1.1),
            ("pushcap pcapng / pcap", "pushcap pcapng", "pushcap", "≤ 1.5", 1.5),
            ("pushcap gzip / pcap", "pushcap gzip", "pushcap", "≤ 1.5", 1.5),
        )
        for label, top, bottom, target, bound in pairs:
            if (top, size) in by and (bottom, size) in by:
                rows.append((f"{label} ({size})", by[top, size], by[bottom, size], target, bound))
    out = [f"{'ratio':<34} {'wall':>7} {'cpu':>7}  target   wall meets it?"]
    for label, a, b, target, bound in rows:
        wall, cpu = a.wall / b.wall, a.cpu / b.cpu
        if bound is None:  # measured, not a target: how much the TLS-capable engine costs
            verdict = f"(RSS {a.rss_mb:.0f} vs {b.rss_mb:.0f} MB)"
        else:
            meets = wall >= bound if target.startswith("≥") else wall <= bound
            verdict = "yes" if meets else "no"
        out.append(f"{label:<34} {wall:>7.2f} {cpu:>7.2f}  {target:<7}  {verdict}")
    if ("pushcap", "small") in by and ("pushcap", "large") in by:
        small, large = by["pushcap", "small"], by["pushcap", "large"]
        rss = large.rss_mb / small.rss_mb
        out.append(
            f"{'pushcap peak RSS large / small':<34} {rss:>7.2f} {'':>7}  ≤ 1.1    "
            f"{'yes' if rss <= 1.1 else 'no'} ({small.rss_mb:.0f} → {large.rss_mb:.0f} MB; "
            f"under 100 MB: {'yes' if large.rss_mb < 100 else 'no'})"
        )
    return "\n".join(out)


# ------------------------------------------------------------------ machine


def _first_line(argv: list[str], lines: int = 1) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (done.stdout or done.stderr).strip()
    return ", ".join(text.splitlines()[:lines]) if text else "?"


def machine(root: Path) -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{total_kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    cores = len(os.sched_getaffinity(0))
    commit = _first_line(["git", "-C", str(root), "describe", "--always", "--dirty"])
    return "\n".join(
        [
            f"cpu:      {model}, {cores} cores usable ({os.cpu_count()} online), memory {mem}",
            f"kernel:   {platform.system()} {platform.release()} ({platform.machine()})",
            f"python:   {sys.version.split()[0]} ({sys.executable})",
            f"tshark:   {_first_line(['tshark', '--version'])}",
            f"tcpdump:  {_first_line(['tcpdump', '--version'], 2)}",
            f"pushcap:  {_first_line([str(root / '.venv/bin/pushcap'), '--version'])} at {commit}",
            f"load:     {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at start",
        ]
    )
