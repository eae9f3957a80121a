"""End to end: the founding case recorded fresh from the real client, then diagnosed by pushcap.

Builds the lab (four network namespaces), runs docker-registry with token auth,
our token service, and skopeo pushing one small layer while the router drops
every SYN toward the realm; records the client's interface with tcpdump; runs
`pushcap analyze` on the capture and checks the diagnosis; and checks that the
lab is gone afterwards. skopeo gives up by itself at Go's 30 s dial timeout;
45 s bounds it in case it does not. Skipped, with the reason, without root,
network namespaces or the Debian packages (`make system-deps` installs them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.netns import CLIENT_IP, PORT, REALM_IP, REGISTRY_IP
from lab.record import record
from lab.scenarios import BY_NAME, REALM
from tests.lab.needs import ours, skip_reason

ROOT = Path(__file__).resolve().parents[2]
CLIENT_TIMEOUT_S = 45.0

SKIP = skip_reason()
pytestmark = [pytest.mark.root, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]


def test_founding_case_recorded_with_skopeo_is_diagnosed(tmp_path: Path) -> None:
    pcap = tmp_path / "founding-case.pcap"
    rec = record(
        BY_NAME["founding-case"],
        pcap,
        tmp_path / "work",
        layers=1,
        timeout_s=CLIENT_TIMEOUT_S,
    )
    assert not ours(), "the lab left namespaces behind"
    # skopeo ended on its own, with the error a user sees when the realm is silently dropped
    assert rec.exit_code not in (None, 0), rec.output
    assert f"dial tcp {REALM_IP}:{PORT}: i/o timeout" in rec.output, rec.output
    assert rec.duration_s < CLIENT_TIMEOUT_S

    done = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(pcap), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # 1: a finding of warning level or worse
    report = json.loads(done.stdout)
    assert report["verdict"] == "error"
    [finding] = [f for f in report["findings"] if f["rule"] == "token-service-unreachable"]
    assert finding["client"] == CLIENT_IP
    assert finding["registry"] == f"{REGISTRY_IP}:{PORT}"
    assert finding["realm"] == REALM
    facts = finding["facts"]
    assert facts["realm_internal"] is True
    assert facts["attempts"] >= 1
    assert facts["syn_retransmissions"] >= 2
    whats = [row["what"] for row in finding["evidence"]]
    assert any(w.startswith("SYN retransmission") for w in whats), whats
