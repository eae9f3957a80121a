"""The sniff loop analyses what it captures exactly as `analyze` analyses the saved file.

A stand-in for the packet socket hands out a capture's frames in batches, as
:meth:`LiveCapture.read` does; the session must come to the same findings and
frame count as ``analyze_file`` on that file, and take the fast path for the
body segments of a push (so that a blob upload at link speed keeps up). The
real socket is tested in test_sniff_netns.py and tests/lab/test_sniff_lab.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from analyzer.cli_sniff import SniffConfig, SniffFormat
from analyzer.pipeline import AnalyzerOptions
from analyzer.render.jsonout import report_dict
from analyzer.runner import analyze_file
from analyzer.sniff_session import Session
from analyzer.sources.capfile import Frame
from analyzer.sources.open import open_capture
from tests.golden_update import CAPTURES, ROOT

CASES = [
    "synthetic/healthy-push.pcap",
    "synthetic/founding-case.pcap",
    "synthetic/founding-case-any.pcap",
    "real/healthy-push.pcap",
    "real/founding-case.pcap",
]


class ReplayCapture:
    """What Session uses of a LiveCapture, fed from a list of frames."""

    def __init__(self, frames: list[Frame], batch: int) -> None:
        self.pending = frames
        self.batch = batch
        self.frames = 0
        self.error: str | None = None

    def wait(self, timeout: float) -> bool:
        return bool(self.pending)

    def read(self, limit: int = 4096) -> list[Frame]:
        out = self.pending[: min(limit, self.batch)]
        del self.pending[: len(out)]
        self.frames += len(out)
        return out

    def dropped(self) -> int:
        return 0


def sniffed(path: Path, batch: int) -> tuple[dict[str, Any], int]:
    """The report of a sniff session over the file's frames, and its general-path calls."""
    with open_capture(str(path)) as reader:
        frames = list(reader)
    cfg = SniffConfig(
        iface="lo",
        ports=(8200,),
        bpf=None,
        write=None,
        duration=None,
        count=len(frames),
        until_diagnosis=False,
        output=SniffFormat.json,
        no_color=True,
        quiet=True,
        options=AnalyzerOptions(),
    )
    capture: Any = ReplayCapture(list(frames), batch)
    iface: Any = SimpleNamespace(name="lo")
    session = Session(cfg, "port 8200", iface, capture)
    general = 0
    feed = session.analyzer.feed

    def counting_feed(frame: Frame) -> None:
        nonlocal general
        general += 1
        feed(frame)

    session.analyzer.feed = counting_feed  # type: ignore[method-assign]
    session.run()
    report, drops = session.report()
    assert drops == 0 and session.stop_reason == f"--count {len(frames)}"
    return report_dict(report), general


@pytest.mark.parametrize("batch", [1, 7, 4096])
@pytest.mark.parametrize("case", CASES)
def test_same_findings_as_analyze(case: str, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    path = CAPTURES / case
    live, _ = sniffed(path, batch)
    saved = report_dict(analyze_file(str(path.relative_to(ROOT)), AnalyzerOptions()))
    assert live["findings"] == saved["findings"]
    assert live["verdict"] == saved["verdict"]
    assert live["capture"]["frames"] == saved["capture"]["frames"]
    assert live["capture"]["http_exchanges"] == saved["capture"]["http_exchanges"]


def test_a_push_s_body_segments_take_the_fast_path() -> None:
    report, general = sniffed(CAPTURES / "synthetic" / "healthy-push.pcap", 4096)
    frames = report["capture"]["frames"]
    assert frames == 368
    assert general < frames // 3, general
