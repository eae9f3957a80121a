"""Coverage-guided fuzzing of the whole pipeline, from file bytes to rendered reports.

    .venv/bin/python fuzz/fuzz_pipeline.py fuzz/corpus captures/broken captures/synthetic \
        -max_total_time=300 -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix=fuzz/crashes/

The invariant (h11's ``fuzz/afl-server.py`` idea): any bytes give a report or
our :class:`~analyzer.errors.AnalyzerError`, nothing else; never a hang (a
slow input is a libFuzzer timeout) and never unbounded memory (its RSS limit).
Each input goes the way ``pushcap analyze -`` takes it: ``open_capture`` on
standard input, the analyzer fed as the runner feeds it (``feed_frames``: the
fast path, handing other frames to ``Analyzer.feed``), ``finish``, then the
JSON and text renderers into memory.

``PUSHCAP_FUZZ_DIFF=1`` also feeds every input frame by frame through
``Analyzer.feed`` and requires the same JSON report as the runner's path (the
fast path must be an optimisation only). ``PUSHCAP_FUZZ_SECRETS=1`` renders
with ``--show-secrets`` on every other input.

Reproduce a crash: ``.venv/bin/python fuzz/fuzz_pipeline.py fuzz/crashes/crash-…``.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["analyzer"]):
    from rich.console import Console

    from analyzer.errors import AnalyzerError
    from analyzer.fastpath import feed_frames
    from analyzer.findings import ReadIssue
    from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
    from analyzer.render.jsonout import render_json
    from analyzer.render.text import render_text
    from analyzer.sources.open import open_capture

Frame = tuple[int, int, int, bytes, int]
Feeder = Callable[[Analyzer, Iterable[Frame]], None]


def _feed_one_by_one(analyzer: Analyzer, frames: Iterable[Frame]) -> None:
    for frame in frames:
        analyzer.feed(frame)


FEED: Feeder = feed_frames  # the loop `pushcap analyze` runs
DIFF = os.environ.get("PUSHCAP_FUZZ_DIFF") == "1"
SECRETS = os.environ.get("PUSHCAP_FUZZ_SECRETS") == "1"
# Small limits reach the eviction and overflow paths with inputs libFuzzer can build.
SMALL = AnalyzerOptions(max_flows=16, max_records=16, max_ooo_bytes=4096, max_ooo_segments=8)


def analyze(data: bytes, feed: Feeder, options: AnalyzerOptions) -> str | None:
    """The JSON report of ``data``, or None when it is not a readable capture."""
    try:
        reader = open_capture("-", stdin=io.BytesIO(data), chunk_size=4096)
    except AnalyzerError:
        return None
    analyzer = Analyzer(options)
    with reader:
        feed(analyzer, reader)
    source = SourceInfo(
        name="<fuzz>",
        format=reader.format,
        compression=reader.compression,
        bytes_read=reader.bytes_read,
        complete=reader.complete,
        problems=tuple(ReadIssue(p.offset, p.frame, p.message) for p in reader.problems),
    )
    report = analyzer.finish(source)
    out = render_json(report)
    render_text(report, Console(file=io.StringIO(), width=100, no_color=True))
    return out


def test_one_input(data: bytes) -> None:
    options = SMALL if data[-1:] == b"\x00" else AnalyzerOptions()
    if SECRETS and len(data) % 2:
        options = AnalyzerOptions(show_secrets=True)
    report = analyze(data, FEED, options)
    if DIFF:
        plain = analyze(data, _feed_one_by_one, options)
        if plain != report:
            raise AssertionError("the runner's feeding path and Analyzer.feed disagree")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
