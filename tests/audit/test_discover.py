"""Which files an audit reads, and the usage errors (exit 2) when there is nothing to read."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.audit.discover import discover, matches
from analyzer.cli import app
from analyzer.errors import UsageError

runner = CliRunner()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in (
        "a.pcap",
        "b.PCAPNG",
        "c.cap.gz",
        "d.dmp",
        "notes.txt",
        "e.pcap.bak",
        "sub/f.pcapng.gz",
        "sub/deeper/g.cap",
        "sub/h.log",
    ):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(b"x") if rel.endswith(".gz") else b"x")
    return tmp_path


def names(files: list[str], root: Path) -> list[str]:
    return [Path(f).relative_to(root).as_posix() for f in files]


@pytest.mark.parametrize(
    ("recursive", "globs", "expected"),
    [
        (False, None, ["a.pcap", "b.PCAPNG", "c.cap.gz", "d.dmp"]),
        (
            True,
            None,
            ["a.pcap", "b.PCAPNG", "c.cap.gz", "d.dmp", "sub/f.pcapng.gz", "sub/deeper/g.cap"],
        ),
        (True, ("*.log", "*.txt"), ["notes.txt", "sub/h.log"]),
        (True, ("sub/*.gz",), ["sub/f.pcapng.gz"]),
        (False, ("*.bak",), ["e.pcap.bak"]),
    ],
)
def test_directory_discovery(
    tree: Path, recursive: bool, globs: tuple[str, ...] | None, expected: list[str]
) -> None:
    kwargs = {"globs": globs} if globs else {}
    found = discover([str(tree)], recursive=recursive, **kwargs)
    assert sorted(names(found.files, tree)) == sorted(expected)
    assert found.unreadable == []


def test_explicit_files_whatever_their_name_and_no_duplicates(tree: Path) -> None:
    found = discover([str(tree / "notes.txt"), str(tree), str(tree / "a.pcap"), f"{tree}/./"])
    assert names(found.files, tree) == ["notes.txt", "a.pcap", "b.PCAPNG", "c.cap.gz", "d.dmp"]


def test_fifo_in_a_directory_is_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "live.pcap")
    (tmp_path / "real.pcap").write_bytes(b"x")
    assert names(discover([str(tmp_path)]).files, tmp_path) == ["real.pcap"]


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.pcap").write_bytes(b"x")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)
    assert names(discover([str(tmp_path)], recursive=True).files, tmp_path) == ["sub/a.pcap"]


def test_glob_matching_is_case_insensitive() -> None:
    assert matches("X.PCAP.GZ", ("*.pcap.gz",))
    assert matches("ci/run/1.cap", ("ci/*",))
    assert not matches("1.cap.bak", ("*.cap",))


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        discover([str(tmp_path / "nope.pcap")])
    result = runner.invoke(app, ["audit", str(tmp_path / "nope.pcap")])
    assert result.exit_code == 2
    assert "no such file or directory" in result.stderr


def test_directory_with_no_capture_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.pcap").write_bytes(b"x")
    result = runner.invoke(app, ["audit", str(tmp_path)])
    assert result.exit_code == 2
    assert "no capture files" in result.stderr
    assert "--recursive" in result.stderr


def test_bad_arguments_are_exit_2(tmp_path: Path) -> None:
    for args in (["--format", "xml"], ["--jobs", "0"], ["--fail-on", "fatal"], []):
        result = runner.invoke(app, ["audit", *args, *([str(tmp_path)] if args else [])])
        assert result.exit_code == 2, args


def test_object_store_urls_through_fsspec() -> None:
    fsspec = pytest.importorskip("fsspec", reason="fsspec comes with pushcap[dask]")
    fs = fsspec.filesystem("memory")
    fs.pipe({"/audit/a.pcap": b"x", "/audit/b.txt": b"x", "/audit/deep/c.cap.gz": b"x"})
    flat = discover(["memory://audit"])
    deep = discover(["memory://audit"], recursive=True)
    assert all(f.startswith("memory://") for f in flat.files + deep.files)
    assert [f.split("/audit/")[1] for f in flat.files] == ["a.pcap"]
    assert [f.split("/audit/")[1] for f in deep.files] == ["a.pcap", "deep/c.cap.gz"]
    with pytest.raises(UsageError, match="no such object"):
        discover(["memory://audit/missing.pcap"])
