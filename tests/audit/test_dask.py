"""`--scheduler`: the same audit on a Dask distributed cluster (a LocalCluster here)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from tests.audit import clean, founding

runner = CliRunner()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip(
        "distributed", reason="dask distributed not installed (pip install 'pushcap[dask]')"
    )
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def test_audit_on_a_dask_cluster(scheduler: str, tmp_path: Path) -> None:
    stuck = founding(tmp_path / "stuck-1.pcap")
    shutil.copy(stuck, tmp_path / "stuck-2.pcap")
    clean(tmp_path / "clean.pcap")
    (tmp_path / "empty.pcap").write_bytes(b"")
    os.mkfifo(tmp_path / "hung.pcap")  # explicit below: hangs its worker's child, not the cluster
    args = [str(tmp_path), str(tmp_path / "hung.pcap"), "--scheduler", scheduler]
    result = runner.invoke(app, ["audit", *args, "-f", "jsonl", "--timeout", "2"])
    assert result.exit_code == 1, result.output
    rows = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"stuck-1.pcap", "stuck-2.pcap", "clean.pcap", "empty.pcap", "hung.pcap"}
    assert rows["stuck-2.pcap"]["findings"][0]["rule"] == "token-service-unreachable"
    assert rows["clean.pcap"]["verdict"] == "clean"
    assert rows["empty.pcap"]["status"] == "error"
    assert "still reading after 2 s" in rows["hung.pcap"]["error"]["message"]
    assert "— 2 files (" in result.stderr
    # the cluster is still whole for the next audit
    again = runner.invoke(app, ["audit", str(stuck), "--scheduler", scheduler, "-f", "csv"])
    assert again.exit_code == 1 and "token-service-unreachable" in again.stdout


def test_missing_dask_is_a_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    capture = founding(tmp_path / "stuck.pcap")
    result = runner.invoke(app, ["audit", str(capture), "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "pip install 'pushcap[dask]'" in result.stderr
