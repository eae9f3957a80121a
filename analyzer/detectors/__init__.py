"""Detectors: small pure rules over observations, each returning findings.

A rule module exposes ``run(ctx) -> list[Finding]``; :func:`run_detectors`
runs them all and orders the findings worst first, then by first frame.
"""

from __future__ import annotations

from analyzer.detectors import cleartext, tokenflow
from analyzer.dns import DnsTracker
from analyzer.findings import Finding
from analyzer.observations import ConnSummary, Observations


def run_detectors(
    obs: Observations,
    live: list[ConnSummary],
    dns: DnsTracker,
    last_ts: int | None,
    show_secrets: bool,
) -> list[Finding]:
    ctx = tokenflow.Context(obs, live, dns, last_ts, show_secrets)
    findings = tokenflow.run(ctx) + cleartext.run(ctx)
    return sorted(
        findings,
        key=lambda f: (-f.severity, f.evidence[0].frame if f.evidence else 0),
    )
