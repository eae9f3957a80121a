"""Every file of captures/broken: a clear error or a partial report, never a traceback,
never a hang, bounded memory; and the corpus is exactly what its generator writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.fastpath import feed_frames
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.render.jsonout import report_dict
from analyzer.sources.open import open_capture
from tests.hostile._run import Run, pushcap_many
from tests.hostile.conftest import BROKEN, load_broken

GENERATE = load_broken("generate")
CASES = {case.name: case for case in GENERATE.CASES}
TIMEOUT_S = 10.0
# Peak RSS of one `pushcap analyze` on a small damaged file: the interpreter and its imports
# take about 40 MB; anything near this bound means a lying length was believed.
MAX_RSS_MB = 200


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    argvs = [("analyze", "--format", "json", str(BROKEN / name)) for name in CASES]
    return dict(zip(CASES, pushcap_many(argvs, TIMEOUT_S), strict=True))


def test_generator_reproduces_the_committed_corpus_and_readme() -> None:
    done = subprocess.run(
        [sys.executable, str(BROKEN / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_committed_capture_is_a_case() -> None:
    files = {
        p.name
        for p in BROKEN.iterdir()
        if p.suffix in (".pcap", ".pcapng", ".gz") or p.name.endswith(".cap")
    }
    assert files == set(CASES)
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file(runs: dict[str, Run], name: str) -> None:
    case, run = CASES[name], runs[name]
    assert not run.timed_out, f"{name}: still running after {TIMEOUT_S} s"
    assert "Traceback" not in run.output, run.stderr
    assert run.code == case.exit, run.output[-2000:]
    assert run.peak_rss_mb < MAX_RSS_MB, f"{name}: peak RSS {run.peak_rss_mb:.0f} MB"
    for text in case.expect:
        assert text in run.output, f"{name}: {text!r} not in the output"
    for secret in case.absent:
        assert secret not in run.output
    if case.exit == 2:
        assert run.stdout == ""
        assert run.stderr.startswith("pushcap: error: ")
        return
    report: dict[str, Any] = json.loads(run.stdout)
    capture = report["capture"]
    damaged = capture["read_problems"] or capture["weirds"] or capture["notes"]
    clean = report["verdict"] == "clean" or report["findings"]
    assert damaged or clean, "a damaged file must say what was wrong with it"
    if capture["read_problems"]:
        assert capture["complete"] is False or all(
            "skipped" in p["message"] or "ignored" in p["message"] for p in capture["read_problems"]
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file_as_text(name: str) -> None:
    """The text report says the same: the exit code, and each read problem as a warning line."""
    case = CASES[name]
    result = CliRunner().invoke(app, ["analyze", "--no-color", str(BROKEN / name)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == case.exit, result.output
    if case.exit != 2:
        # Lines are wrapped at the console width: compare with whitespace collapsed.
        warnings = " ".join(result.stdout.split("warning: ", 1)[-1].split())
        read = [t for t in case.expect if "bytes" in t or "stopped" in t or "refer to" in t]
        for text in read:
            assert text in warnings, (text, warnings)
    for secret in case.absent:
        assert secret not in result.output


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_agrees_with_the_general_path(name: str) -> None:
    """`pushcap analyze` feeds through analyzer.fastpath: on damaged input too, it must leave
    exactly the report that Analyzer.feed frame by frame would (the fuzzer found a frame where
    it did not: ipv6-bad-version-on-a-known-flow.pcap)."""
    if CASES[name].exit == 2:
        return
    general, fast = Analyzer(AnalyzerOptions()), Analyzer(AnalyzerOptions())
    with open_capture(str(BROKEN / name)) as reader:
        frames = list(reader)
    for frame in frames:
        general.feed(frame)
    feed_frames(fast, frames)
    source = SourceInfo(name="x", format="pcap")
    assert report_dict(fast.finish(source)) == report_dict(general.finish(source))


REGRESSIONS = sorted((BROKEN.parents[1] / "fuzz" / "regressions").glob("*.pcap"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_fuzzer_findings_stay_fixed(path: Path) -> None:
    """Inputs the fuzzer found (fuzz/regressions/), through both feeding paths."""
    reports = []
    for feed in (feed_frames, lambda a, frames: [a.feed(f) for f in frames]):
        analyzer = Analyzer(AnalyzerOptions())
        with open_capture(str(path)) as reader:
            feed(analyzer, reader)
        reports.append(report_dict(analyzer.finish(SourceInfo(name="x", format="pcap"))))
    assert reports[0] == reports[1]
