"""pushcap sniff / interfaces: options, the default filter, and every way it refuses to run (exit 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.sources import live

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
NO_SUCH_IFACE = f"nope{os.getpid() % 10_000}x"


def pushcap(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


# -- the default filter ------------------------------------------------------------


def test_default_filter_names_the_ports_and_the_ipv6_syn_clause() -> None:
    expr = live.default_filter([8200, 443, 5000, 8200])
    assert expr.startswith("tcp port 8200 or tcp port 443 or tcp port 5000 or ")
    assert expr.count("tcp port 8200") == 1
    assert "(tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)" in expr
    assert "(ip6 and ip6[6] == 6 and (ip6[53] & 0x06) != 0)" in expr
    assert "icmp[icmptype] == icmp-unreach" in expr
    assert "(icmp6 and ip6[40] == 1)" in expr
    assert expr.endswith("port 53")


@pytest.mark.parametrize("iface", [live.ANY_INTERFACE, live.resolve_interface("lo")])
def test_default_filter_compiles_for_both_capture_modes(iface: live.InterfaceInfo) -> None:
    program = live.compile_filter(live.default_filter([8200]), iface)
    try:
        assert program.bf_len > 10
    finally:
        live.free_filter(program)


def test_core_and_cli_import_without_scapy() -> None:
    code = "import sys, analyzer.cli, analyzer.live; assert 'scapy' not in sys.modules, 'scapy'"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# -- refusals: exit 2 with a message a person can act on ------------------------------


def test_unknown_interface() -> None:
    result = runner.invoke(app, ["sniff", "-i", NO_SUCH_IFACE])
    assert result.exit_code == 2
    assert f"no such interface: '{NO_SUCH_IFACE}'" in result.output
    assert "pushcap interfaces" in result.output
    assert "Traceback" not in result.output


def test_filter_that_does_not_compile() -> None:
    result = runner.invoke(app, ["sniff", "-i", "lo", "--filter", "tcp prt 8200"])
    assert result.exit_code == 2
    assert "the capture filter does not compile" in result.output
    assert "syntax error" in result.output
    assert "Traceback" not in result.output


def test_filter_wrong_for_the_link_type() -> None:
    # `ether` needs an Ethernet header; `any` captures cooked: libpcap says so.
    result = runner.invoke(app, ["sniff", "-i", "any", "--filter", "ether host 00:00:5e:00:53:01"])
    assert result.exit_code == 2
    assert "does not compile" in result.output


def test_without_privileges_names_them_and_the_setcap_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "missing_privilege", lambda: "root")
    result = runner.invoke(app, ["sniff", "-i", "lo", "--duration", "1"])
    assert result.exit_code == 2
    assert "needs root, or the CAP_NET_RAW and CAP_NET_ADMIN capabilities" in result.output
    assert "sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which python3))" in (
        result.output
    )


def test_root_without_cap_net_raw_says_which_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "missing_privilege", lambda: "CAP_NET_RAW")
    result = runner.invoke(app, ["sniff", "-i", "lo", "--duration", "1"])
    assert result.exit_code == 2
    assert "CAP_NET_RAW capability, which this root process lacks" in result.output
    assert "--cap-add NET_RAW" in result.output


needs_root_and_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (util-linux) to drop privileges",
)


@needs_root_and_setpriv
def test_real_process_without_cap_net_raw() -> None:
    """Root with CAP_NET_RAW removed from the bounding set, as in a default container."""
    done = pushcap(
        "sniff", "-i", "lo", "--duration", "1",
        prefix=("setpriv", "--bounding-set=-net_raw,-net_admin"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "CAP_NET_RAW" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@needs_root_and_setpriv
def test_real_unprivileged_user() -> None:
    drop = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    probe = subprocess.run(
        [*drop, sys.executable, "-c", "import analyzer"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"user 65534 cannot run this Python or read the project: {probe.stderr[-200:]}")
    done = pushcap("sniff", "-i", "lo", "--duration", "1", prefix=drop)
    assert done.returncode == 2, done.stderr
    assert "needs root, or the CAP_NET_RAW and CAP_NET_ADMIN capabilities" in done.stderr
    assert "sudo setcap cap_net_raw,cap_net_admin+eip" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to open the capture socket")
def test_write_to_an_impossible_path(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "x.pcap"
    result = runner.invoke(app, ["sniff", "-i", "lo", "-w", str(target), "--duration", "0.2"])
    assert result.exit_code == 2
    assert "cannot create" in result.output
    assert not target.exists()


def test_bad_option_values_are_usage_errors() -> None:
    assert runner.invoke(app, ["sniff", "--port", "70000"]).exit_code == 2
    assert runner.invoke(app, ["sniff", "--count", "0"]).exit_code == 2
    assert runner.invoke(app, ["sniff", "--format", "xml"]).exit_code == 2


# -- interfaces --------------------------------------------------------------------


def test_interfaces_lists_lo_and_any() -> None:
    result = runner.invoke(app, ["interfaces"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("any ")
    lo = next(line for line in lines if line.startswith("lo "))
    assert "loopback" in lo
    assert "127.0.0.1" in lo or "no address" in lo


def test_interfaces_falls_back_to_kernel_names(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def values(self) -> list[object]:
            raise OSError("netlink refused")

    monkeypatch.setattr(live.conf, "ifaces", Broken())
    found = live.list_interfaces()
    assert "lo" in [i.name for i in found]
