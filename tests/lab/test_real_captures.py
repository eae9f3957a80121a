"""Every scenario of the lab has its recorded capture in captures/real/, diagnosed as expected.

The golden tests (tests/test_golden.py) pin each report byte for byte; this
test says what matters in it: the rule the scenario is about, and no false
alarm (no error) on a push that succeeded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.findings import Severity
from analyzer.pipeline import AnalyzerOptions
from analyzer.runner import analyze_file
from lab.scenarios import SCENARIOS, TOKEN_FLOW_RULES, Scenario

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "captures" / "real"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_recorded_capture_is_diagnosed(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    pcap = REAL / f"{scenario.name}.pcap"
    assert pcap.exists(), f"{pcap.name} is not recorded: run `make lab` as root"
    assert pcap.with_suffix(".md").exists(), f"{pcap.name} has no note beside it"
    report = analyze_file(str(pcap.relative_to(ROOT)), AnalyzerOptions())
    # Other detectors may add true findings of their own (the lab's token requests do carry
    # Basic credentials over plain HTTP); the token flow must get exactly one verdict, this one.
    verdicts = [f for f in report.findings if f.rule in TOKEN_FLOW_RULES]
    assert [f.rule for f in verdicts] == [scenario.expected_rule]
    if scenario.expected_rule == "token-flow-ok":
        assert all(f.severity < Severity.ERROR for f in report.findings), report.findings
