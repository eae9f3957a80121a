"""The synthetic captures are reproducible: regenerating them gives the committed bytes.

Runs ``captures/synthetic/generate.py`` into a temporary directory (a few
seconds) and compares every capture with the one committed beside it, and the
key-frame list printed by ``--print-frames`` with the one in README.md.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytest.importorskip("scapy", reason="captures/synthetic/generate.py builds packets with scapy")

SYNTHETIC = Path(__file__).resolve().parents[1] / "captures" / "synthetic"
GENERATOR = SYNTHETIC / "generate.py"
SUFFIXES = (".pcap", ".pcapng", ".pcap.gz")
COMMITTED = sorted(p.name for p in SYNTHETIC.glob("*") if p.name.endswith(SUFFIXES))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("synthetic")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--print-frames"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_generator_writes_exactly_the_committed_captures(regenerated: tuple[Path, str]) -> None:
    out, _ = regenerated
    assert COMMITTED, f"no captures committed in {SYNTHETIC}"
    assert sorted(p.name for p in out.iterdir()) == COMMITTED


@pytest.mark.parametrize("name", COMMITTED)
def test_capture_is_byte_identical(regenerated: tuple[Path, str], name: str) -> None:
    out, _ = regenerated
    fresh, committed = (out / name).read_bytes(), (SYNTHETIC / name).read_bytes()
    if fresh == committed:
        return
    if name.endswith(".gz") and gzip.decompress(fresh) == gzip.decompress(committed):
        # Same content and header; only this zlib's deflate output differs.
        assert fresh[:10] == committed[:10]
        pytest.skip(f"deflate output differs under zlib {zlib.ZLIB_RUNTIME_VERSION}")
    pytest.fail(f"{name} differs from a fresh run of {GENERATOR.name}; regenerate and review")


def test_readme_lists_the_generated_key_frames(regenerated: tuple[Path, str]) -> None:
    _, printed = regenerated
    readme = (SYNTHETIC / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    begin = next(i for i, line in enumerate(lines) if line.startswith("<!-- key-frames:begin"))
    end = next(i for i, line in enumerate(lines) if line.startswith("<!-- key-frames:end"))
    block = "\n".join(lines[begin + 1 : end]).strip()
    assert block == printed.strip(), "README.md is stale: run generate.py --update-readme"


def test_founding_case_matches_the_seed_listing(regenerated: tuple[Path, str]) -> None:
    """The seed's Wireshark listing: GET /v2/ is frame 17, the 401 frame 20."""
    _, printed = regenerated
    section = printed.split("**founding-case.pcap**", 1)[1].split("\n**", 1)[0]
    assert "- GET /v2/: 17\n" in section
    assert "- 401 Bearer challenge: 20\n" in section
