"""`pushcap sniff` in the lab, with the real client pushing (issue 4, part 2).

The founding case as tests/lab/test_lab_e2e.py builds it (lab/record.py's
:func:`~lab.record.staged`: four network namespaces, docker-registry with token
auth, our token service, the router dropping every SYN toward the realm
172.16.200.100:8200), but instead of tcpdump, the `pushcap` console script
sniffs the client's interface with ``--until-diagnosis -w FILE --format jsonl``
while skopeo pushes one small layer. sniff must name the failure while skopeo
still hangs (skopeo would give up only at Go's 30 s dial timeout), stop by
itself with exit 1, and leave a private pcap that `pushcap analyze` diagnoses
the same way. Then skopeo is ended by its PID and the lab torn down. The
healthy push, sniffed for a few seconds (``--duration``), gets "token flow OK"
and nothing to stream.

Skipped, with the reason, as test_lab_e2e.py is (tests/lab/needs.py), and when
scapy (sniff's capture layer) or the console script is missing.
"""

from __future__ import annotations

import importlib.util
import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lab.netns import CLIENT_IP, PORT, REALM_IP, REGISTRY_IP, stop_process
from lab.record import Stage, staged, wait_for_text
from lab.scenarios import BY_NAME, REALM
from tests.lab.needs import ours, skip_reason

ROOT = Path(__file__).resolve().parents[2]
PUSHCAP = Path(sys.executable).with_name("pushcap")  # the console script of this virtualenv
CLIENT_DEV = "c0"  # the client's end of its veth pair (lab/netns.py), as tcpdump records it
RULE = "token-service-unreachable"
GO_DIAL_TIMEOUT_S = 30.0  # when skopeo gives up on the realm by itself
DIAGNOSIS_WITHIN_S = 20.0  # from the push's start; the SYN's second retransmission comes at ~3 s
SNIFF_BOUND_S = 40.0  # --duration: sniff ends even if no diagnosis ever comes
EXIT_WITHIN_S = 10.0
HEALTHY_SNIFF_S = 6.0  # the healthy push takes about half a second
HEALTHY_PUSH_WITHIN_S = 15.0


def _skip_reason() -> str | None:
    reason = skip_reason(("docker-registry", "skopeo", "nft", "openssl"))
    if reason is not None:
        return reason
    if importlib.util.find_spec("scapy") is None:
        return "scapy (pushcap sniff's capture layer) is not installed: pip install 'pushcap[live]'"
    if not PUSHCAP.exists():
        return f"the pushcap console script is not installed at {PUSHCAP}"
    return None


SKIP = _skip_reason()
pytestmark = [pytest.mark.root, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]


def _start_sniff(stage: Stage, *args: str) -> subprocess.Popen[bytes]:
    """pushcap sniff on the client's interface, in the client's namespace, ready to capture."""
    argv = [str(PUSHCAP), "sniff", "-i", CLIENT_DEV, "--no-color", *args]
    sniff = stage.start("client", argv, "sniff.log")
    wait_for_text(stage.logs / "sniff.log", "listening on", sniff, "pushcap sniff")
    return sniff


def _jsonl(log: Path) -> list[dict[str, Any]]:
    """sniff's stdout lines (stderr, merged into the same log, carries no JSON)."""
    lines = log.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _analyze(path: Path, expect_exit: int) -> dict[str, Any]:
    done = subprocess.run(
        [str(PUSHCAP), "analyze", str(path), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == expect_exit, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_sniff_diagnoses_the_founding_case_while_skopeo_hangs(tmp_path: Path) -> None:
    saved = tmp_path / "stuck.pcap"
    with staged(BY_NAME["founding-case"], tmp_path / "work", layers=1) as stage:
        logs = stage.logs
        sniff = _start_sniff(
            stage, "--until-diagnosis", "-w", str(saved), "--format", "jsonl",
            "--duration", str(SNIFF_BOUND_S),
        )  # fmt: skip
        pushed_at = time.monotonic()
        skopeo = stage.start("client", stage.command, "client.log")
        line = wait_for_text(
            logs / "sniff.log", f'"rule": "{RULE}"', sniff, "pushcap sniff", DIAGNOSIS_WITHIN_S
        )
        diagnosed_at = time.monotonic()
        hanging_at_diagnosis = skopeo.poll() is None
        sniff_code = sniff.wait(EXIT_WITHIN_S)  # --until-diagnosis: it stops by itself
        sniff_ended_at = time.monotonic()
        hanging_after_sniff = skopeo.poll() is None
        client_said = (logs / "client.log").read_text(errors="replace")
        stop_process(skopeo)  # its process group, whose id is the PID we started
        client_ended_at = time.monotonic()
    assert not ours(), "the lab left namespaces behind"

    # Seen while the push hung: skopeo had not given up when sniff spoke, nor when it exited.
    assert hanging_at_diagnosis, f"skopeo ended (exit {skopeo.returncode}) first: {client_said}"
    assert hanging_after_sniff, client_said
    assert "i/o timeout" not in client_said, client_said
    assert pushed_at < diagnosed_at < sniff_ended_at < client_ended_at
    assert diagnosed_at - pushed_at < GO_DIAL_TIMEOUT_S

    first = json.loads(line)
    assert first["event"] == "finding"
    assert first["rule"] == RULE
    assert first["confidence"] == "high"
    assert first["client"] == CLIENT_IP
    assert first["registry"] == f"{REGISTRY_IP}:{PORT}"
    assert first["realm"] == REALM  # http://172.16.200.100:8200/service/token
    assert f"{REALM_IP}:{PORT}" in first["summary"]
    assert first["facts"]["realm_internal"] is True
    assert first["facts"]["syn_retransmissions"] >= 2

    assert sniff_code == 1  # a finding of warning level or worse, as `analyze`
    stream = _jsonl(logs / "sniff.log")
    assert [e["event"] for e in stream] == ["finding", "report"]
    report = stream[-1]
    assert report["capture"]["stopped_by"].startswith("--until-diagnosis")
    assert report["capture"]["interface"] == CLIENT_DEV
    assert report["capture"]["linktypes"] == [1]  # Ethernet: the veth, as tcpdump -i c0
    assert report["capture"]["kernel_drops"] == 0
    assert report["verdict"] == "error"
    assert RULE in [f["rule"] for f in report["findings"]]

    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    offline = _analyze(saved, expect_exit=1)
    assert [f["rule"] for f in offline["findings"]] == [f["rule"] for f in report["findings"]]
    assert offline["capture"]["frames"] == report["capture"]["frames"]
    assert offline["capture"]["complete"] is True
    [again] = [f for f in offline["findings"] if f["rule"] == RULE]
    [live] = [f for f in report["findings"] if f["rule"] == RULE]
    assert again["evidence"] == live["evidence"]
    assert (again["client"], again["registry"], again["realm"]) == (
        CLIENT_IP,
        f"{REGISTRY_IP}:{PORT}",
        REALM,
    )


def test_sniff_sees_the_healthy_push_succeed(tmp_path: Path) -> None:
    saved = tmp_path / "healthy.pcap"
    with staged(BY_NAME["healthy-push"], tmp_path / "work", layers=1) as stage:
        sniff = _start_sniff(
            stage, "--duration", str(HEALTHY_SNIFF_S), "-w", str(saved), "--format", "jsonl"
        )
        skopeo = stage.start("client", stage.command, "client.log")
        client_code = skopeo.wait(HEALTHY_PUSH_WITHIN_S)
        sniff_code = sniff.wait(HEALTHY_SNIFF_S + EXIT_WITHIN_S)
    assert not ours(), "the lab left namespaces behind"
    client_said = (stage.logs / "client.log").read_text(errors="replace")
    assert client_code == 0, client_said

    assert sniff_code == 0  # information only
    stream = _jsonl(stage.logs / "sniff.log")
    assert [e["event"] for e in stream] == ["report"]  # nothing certain to stream
    report = stream[0]
    assert report["capture"]["stopped_by"] == f"--duration {HEALTHY_SNIFF_S:g}"
    rules = [f["rule"] for f in report["findings"]]
    [ok] = [f for f in report["findings"] if f["rule"] == "token-flow-ok"]
    assert (ok["client"], ok["registry"], ok["realm"]) == (
        CLIENT_IP,
        f"{REGISTRY_IP}:{PORT}",
        REALM,
    )
    assert all(f["severity"] == "info" for f in report["findings"]), report["findings"]
    assert report["verdict"] == "info"

    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    offline = _analyze(saved, expect_exit=0)
    assert [f["rule"] for f in offline["findings"]] == rules
    assert offline["capture"]["frames"] == report["capture"]["frames"]
