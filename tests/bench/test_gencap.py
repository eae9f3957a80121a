"""The benchmark's generator and checker, on a small capture (no time is measured here).

``bench/run.py`` trusts ``gencap.py``'s sidecar to say what pushcap must find;
this keeps the two honest: a few thousand frames of the same mix, written as
pcap, pcapng and gzip, give the planted findings and nothing else in all three.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.pipeline import AnalyzerOptions
from analyzer.render.jsonout import render_json
from analyzer.runner import analyze_file

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from _run_report import check_report  # noqa: E402


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gencap")
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "gencap.py"),
            "--frames",
            "8000",
            "--seed",
            "3",
            "-o",
            str(out / "g.pcap"),
            "--pcapng",
            str(out / "g.pcapng"),
            "--gzip",
            str(out / "g.pcap.gz"),
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.parametrize("name", ["g.pcap", "g.pcapng", "g.pcap.gz"])
def test_planted_findings_are_found(generated: Path, name: str) -> None:
    sidecar = json.loads((generated / "g.pcap.json").read_text())
    planted = {flow["rule"] for flow in sidecar["flows"]}
    assert {"token-flow-ok", "token-service-unreachable", "token-service-refused"} <= planted
    report = json.loads(render_json(analyze_file(str(generated / name), AnalyzerOptions())))
    assert check_report(report, sidecar) == []


def test_the_same_seed_gives_the_same_bytes(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.pcap"
    cmd = [sys.executable, str(BENCH / "gencap.py"), "--frames", "8000", "--seed", "3"]
    subprocess.run([*cmd, "-o", str(again)], check=True, capture_output=True)
    assert again.read_bytes() == (generated / "g.pcap").read_bytes()
