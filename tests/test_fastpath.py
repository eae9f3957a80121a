"""The fast path is an optimisation only: it must leave exactly the state the general path would."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.fastpath import feed_frames
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.render.jsonout import report_dict
from analyzer.sources.open import open_capture
from tests.golden_update import CAPTURES, captures
from tests.test_corpus import CORPUS, ROWS

SOURCE = SourceInfo(name="x", format="pcap")


def reports(path: Path, options: AnalyzerOptions) -> tuple[dict[str, object], dict[str, object]]:
    general, fast = Analyzer(options), Analyzer(options)
    with open_capture(str(path)) as reader:
        frames = list(reader)
    for frame in frames:
        general.feed(frame)
    feed_frames(fast, frames)
    return report_dict(general.finish(SOURCE)), report_dict(fast.finish(SOURCE))


@pytest.mark.parametrize("capture", captures(), ids=lambda p: str(p.relative_to(CAPTURES)))
def test_same_report_on_our_captures(capture: Path) -> None:
    general, fast = reports(capture, AnalyzerOptions())
    assert fast == general


CORPUS_FILES = [
    CORPUS / r["file"]
    for r in ROWS
    if not set(r["category"].split(";")) & {"c_other_format", "c_zstd", "c_empty"}
]


@pytest.mark.corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_same_report_on_the_corpus(path: Path) -> None:
    general, fast = reports(path, AnalyzerOptions())
    assert fast == general


def test_same_report_when_the_flow_table_is_tiny() -> None:
    """Evictions and sweeps interleave with fast frames: still the same."""
    path = CAPTURES / "synthetic" / "healthy-push.pcap"
    general, fast = reports(path, AnalyzerOptions(max_flows=2))
    assert fast == general


def test_blob_body_segments_take_the_fast_path() -> None:
    """Otherwise the equivalence tests above would pass vacuously."""
    analyzer = Analyzer()
    general_calls = 0
    feed = analyzer.feed

    def counting_feed(frame: tuple[int, int, int, bytes, int]) -> None:
        nonlocal general_calls
        general_calls += 1
        feed(frame)

    analyzer.feed = counting_feed  # type: ignore[method-assign]
    with open_capture(str(CAPTURES / "synthetic" / "healthy-push.pcap")) as reader:
        feed_frames(analyzer, reader)
    assert analyzer.frames == 368
    assert general_calls < 368 // 3, general_calls
