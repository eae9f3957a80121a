"""The lab's namespaces exist only while it runs: torn down on return, error, Ctrl-C and SIGTERM.

Needs root and network namespaces (skipped with the reason otherwise), but
none of the registry packages: only `ip` and `nft`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.netns import (
    NETNS_ETC,
    ROLES,
    ROUTER_CLIENT_IP,
    Lab,
    LabError,
    guarded,
    list_netns,
    remove_stale,
)
from tests.lab.needs import ours, skip_reason

ROOT = Path(__file__).resolve().parents[2]


SKIP = skip_reason(("nft",))
pytestmark = [pytest.mark.root, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]


def test_teardown_leaves_nothing_behind() -> None:
    lab = Lab()
    with guarded(lab):
        names = {lab.ns(role) for role in ROLES}
        assert names <= set(list_netns())
        lab.write_resolv_conf("client", ROUTER_CLIENT_IP)
        sleeper = lab.start("client", ["sleep", "300"])
    assert sleeper.poll() is not None, "a process started in the lab outlived it"
    assert not ours()
    assert not any((NETNS_ETC / n).exists() for n in names)


def test_teardown_after_an_error() -> None:
    lab = Lab()
    with pytest.raises(LabError), guarded(lab):
        lab.run("client", "ip", "link", "set", "no-such-device", "up")
    assert not ours()


def test_no_namespace_has_a_route_out_of_the_lab() -> None:
    lab = Lab()
    with guarded(lab):
        for role in ROLES:
            routes = lab.run(role, "ip", "route", "show")
            assert "default" not in routes, (role, routes)
            # `ip route get` asks the kernel only; nothing is sent
            with pytest.raises(LabError, match="unreachable"):
                lab.run(role, "ip", "route", "get", "203.0.113.7")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_tears_the_lab_down(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.run", "--hold", "60", "--no-install"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        names = proc.stdout.readline().split()  # printed once the lab is built
        assert len(names) == len(ROLES), proc.stderr.read() if proc.stderr else ""
        assert set(names) <= set(list_netns())
        os.kill(proc.pid, sig)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
            remove_stale()  # what a SIGKILLed run leaves, so a failure here does not linger
    assert not set(names) & set(list_netns())
