"""The note beside each recorded capture: how it was made, what the client said, what pushcap says."""

from __future__ import annotations

import shlex
from pathlib import Path

from lab.components import LAB_ADDRESSES
from lab.record import Recording

OUTPUT_TAIL_LINES = 12


def _outcome(rec: Recording) -> str:
    took = f"{rec.duration_s:.1f} s"
    if rec.exit_code is None:
        return f"still hanging when the lab killed it after {took} (the scenario's bound)"
    if rec.exit_code == 0:
        return f"succeeded (exit 0) in {took}"
    return f"failed (exit {rec.exit_code}) after {took}"


def _hide_scratch(text: str, rec: Recording) -> str:
    """Scratch directories change on every run; the notes name them instead."""
    for path, name in rec.placeholders.items():
        text = text.replace(path, name)
    return text


def render(rec: Recording) -> str:
    s = rec.scenario
    match = rec.as_expected
    verdict = "matches" if match else "**does not match** (a bug in pushcap or in the lab)"
    tail = _hide_scratch("\n".join(rec.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:]), rec)
    lines = [
        f"# {rec.pcap.name}: {s.summary}",
        "",
        f"Recorded {rec.recorded_at} by `python -m lab.run --scenario {s.name}` (`make lab`), with",
        "real software in network namespaces that the lab builds and deletes (lab/netns.py).",
        "Nothing in the capture is edited.",
        "",
        "## Setup",
        "",
        *(f"- {role}: {addr}" for role, addr in LAB_ADDRESSES.items()),
        f"- realm in the registry's challenge: `{s.realm}`",
        f"- this scenario: {s.setup}",
        f"- image: {s.layers} gzip layer{'s' if s.layers != 1 else ''} of ~100 KB of seeded bytes (lab/image.py), pushed to "
        "`198.51.100.230:8200/library/web:1.1.0` as `admin`",
        "",
        "| component | version |",
        "|---|---|",
        *(f"| {name} | {version} |" for name, version in rec.versions.items()),
        f"| net.ipv4.tcp_syn_linear_timeouts (client) | {rec.syn_linear_timeouts} |",
        "",
        "## Commands (in the client's namespace)",
        "",
        "```",
        _hide_scratch(shlex.join(rec.capture_command), rec),
        _hide_scratch(shlex.join(rec.command), rec),
        "```",
        "",
        "## What the client said",
        "",
        f"{s.client} {_outcome(rec)}. Its last lines:",
        "",
        "```",
        tail or "(nothing)",
        "```",
        "",
        "## What pushcap says",
        "",
        f"Expected `{s.expected_rule}`; `pushcap analyze {rec.pcap.name}` {verdict}:",
        "",
        *(f"- `{line.split()[0]}` {line.split(maxsplit=1)[1]}" for line in rec.findings),
        *([] if rec.findings else ["- no finding"]),
        "",
    ]
    return "\n".join(lines)


def write(rec: Recording) -> Path:
    path = rec.pcap.with_suffix(".md")
    path.write_text(render(rec))
    return path
