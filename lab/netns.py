"""The lab's network: four network namespaces joined through a router, and nothing else.

How this works::

    client 192.168.1.100 ──c0─┐                ┌─g0── registry 198.51.100.230 (the "public" side)
                              r-client  router  r-public
                                        r-internal ──i0── internal 172.16.200.100 (token service)

- Every veth pair is created from inside a namespace with both ends placed in
  lab namespaces (``ip -n ROUTER link add … peer … netns CLIENT``), so no
  device ever appears in the host's namespace.
- Routes name only the three lab subnets: no namespace has a default route,
  so a packet for any other address has nowhere to go (``Network is
  unreachable``). The router forwards (``ip_forward=1``) through an nftables
  chain whose policy is drop, accepting only lab-to-lab traffic; a scenario
  adds its fault (drop, RST, ICMP) in front of that.
- IPv6 is disabled before the veths exist, so the captures hold no router
  solicitations or MLD reports that no real docker host would show here.
- Names are ``pushcap-lab-<pid>-<role>``: runs in parallel do not collide, and
  a namespace left by a run that was SIGKILLed can be recognised by its dead
  pid (:func:`remove_stale`).
- :meth:`Lab.teardown` is idempotent and runs on every exit path: processes
  first (each started in its own session, ended through its process group,
  whose id is the PID we started), then the namespaces, then
  ``/etc/netns/<ns>``. :func:`guarded` turns SIGTERM/SIGHUP into an exception
  and registers an ``atexit`` hook, so Ctrl-C, a kill or a crash all tear down.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

COMMAND_TIMEOUT_S = 15
PREFIX = "pushcap-lab"
NETNS_ETC = Path("/etc/netns")

CLIENT_IP = "192.168.1.100"
ROUTER_CLIENT_IP = "192.168.1.1"  # also the client's DNS resolver
REGISTRY_IP = "198.51.100.230"
ROUTER_PUBLIC_IP = "198.51.100.1"
REALM_IP = "172.16.200.100"
ROUTER_INTERNAL_IP = "172.16.200.1"
PORT = 8200
CLIENT_NET, PUBLIC_NET, INTERNAL_NET = "192.168.1.0/24", "198.51.100.0/24", "172.16.200.0/24"
LAB_NETS = (CLIENT_NET, PUBLIC_NET, INTERNAL_NET)
ROLES = ("client", "router", "registry", "internal")


class LabError(RuntimeError):
    """Something the lab needs failed; the message says what, with the command's own words."""


def run_cmd(argv: Sequence[str], *, stdin: str | None = None) -> str:
    """Run a short command, raise LabError with its stderr when it fails."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(argv)}` did not finish in {COMMAND_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def list_netns() -> list[str]:
    """Names of the network namespaces `ip netns` knows (mounted under /run/netns)."""
    out = run_cmd(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """End a process we started, and its children, through its process group (= its PID)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            continue
        return


@dataclass
class Lab:
    """The lab's namespaces and the processes started in them, from :meth:`build` to :meth:`teardown`."""

    tag: str = field(default_factory=lambda: f"{PREFIX}-{os.getpid()}")
    created: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, role: str) -> str:
        assert role in ROLES, role
        return f"{self.tag}-{role}"

    def exec_argv(self, role: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def run(self, role: str, *argv: str, stdin: str | None = None) -> str:
        return run_cmd(self.exec_argv(role, argv), stdin=stdin)

    # -- building ----------------------------------------------------------------------

    def build(self) -> None:
        existing = set(list_netns())
        clash = [self.ns(r) for r in ROLES if self.ns(r) in existing]
        if clash:
            raise LabError(f"namespaces already exist: {', '.join(clash)} (another run?)")
        for role in ROLES:
            run_cmd(["ip", "netns", "add", self.ns(role)])
            self.created.append(self.ns(role))
            for key in ("all", "default"):
                self.run(role, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
            self.run(role, "ip", "link", "set", "lo", "up")
        self.run("router", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._link("client", "c0", ROUTER_CLIENT_IP, CLIENT_IP, "r-client")
        self._link("registry", "g0", ROUTER_PUBLIC_IP, REGISTRY_IP, "r-public")
        self._link("internal", "i0", ROUTER_INTERNAL_IP, REALM_IP, "r-internal")
        for net in (PUBLIC_NET, INTERNAL_NET):
            self.run("client", "ip", "route", "add", net, "via", ROUTER_CLIENT_IP)
        self.run("registry", "ip", "route", "add", CLIENT_NET, "via", ROUTER_PUBLIC_IP)
        self.run("internal", "ip", "route", "add", CLIENT_NET, "via", ROUTER_INTERNAL_IP)
        self.set_fault(None)

    def _link(self, role: str, dev: str, router_ip: str, ip: str, router_dev: str) -> None:
        self.run(
            "router", "ip", "link", "add", router_dev, "type", "veth",
            "peer", "name", dev, "netns", self.ns(role),
        )  # fmt: skip
        self.run("router", "ip", "addr", "add", f"{router_ip}/24", "dev", router_dev)
        self.run("router", "ip", "link", "set", router_dev, "up")
        self.run(role, "ip", "addr", "add", f"{ip}/24", "dev", dev)
        self.run(role, "ip", "link", "set", dev, "up")

    def set_fault(self, rule: str | None) -> None:
        """Replace the router's forward chain: the scenario's fault first, then lab-only traffic."""
        nets = ", ".join(LAB_NETS)
        lines = [
            "table inet pushcap_lab",
            "delete table inet pushcap_lab",
            "table inet pushcap_lab {",
            # `fwd` is an nft keyword, hence the longer name
            "  chain lab_forward {",
            "    type filter hook forward priority 0; policy drop;",
            *([f"    {rule}"] if rule else []),
            f"    ip saddr {{ {nets} }} ip daddr {{ {nets} }} accept",
            "  }",
            "}",
        ]
        self.run("router", "nft", "-f", "-", stdin="\n".join(lines) + "\n")

    def write_resolv_conf(self, role: str, nameserver: str) -> None:
        """`ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf."""
        path = NETNS_ETC / self.ns(role)
        path.mkdir(parents=True, exist_ok=True)
        (path / "resolv.conf").write_text(
            f"# pushcap lab: the router's DNS server\nnameserver {nameserver}\n"
        )

    # -- processes ---------------------------------------------------------------------

    def start(
        self,
        role: str,
        argv: Sequence[str],
        log: IO[bytes] | int = subprocess.DEVNULL,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        # A session of its own: the terminal's Ctrl-C reaches only us, and teardown ends
        # the children newest first (the client, then tcpdump, then the servers).
        proc = subprocess.Popen(
            self.exec_argv(role, argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        self.processes.append(proc)
        return proc

    def wait_tcp(self, role: str, addr: str, port: int, timeout_s: float = 15.0) -> None:
        """Wait until something listens on addr:port, probing from inside the server's namespace.

        The probe runs in the server's own namespace, over its loopback path, so it
        never crosses the client's interface and never shows in a capture.
        """
        probe = f"import socket; socket.create_connection(({addr!r}, {port}), 1).close()"
        deadline = time.monotonic() + timeout_s
        while True:
            done = subprocess.run(
                self.exec_argv(role, [sys.executable, "-c", probe]),
                capture_output=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise LabError(f"nothing listens on {addr}:{port} in {self.ns(role)}")
            time.sleep(0.2)

    # -- teardown ----------------------------------------------------------------------

    def teardown(self) -> None:
        for proc in reversed(self.processes):
            stop_process(proc)
        self.processes.clear()
        for name in reversed(self.created):
            with contextlib.suppress(LabError):
                run_cmd(["ip", "netns", "del", name])
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        self.created.clear()


@contextlib.contextmanager
def guarded(lab: Lab) -> Iterator[Lab]:
    """Build the lab and tear it down on every way out: return, exception, Ctrl-C, SIGTERM, exit."""

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C must reach us even when started as a background job, which inherits SIGINT ignored.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    atexit.register(lab.teardown)
    try:
        lab.build()
        yield lab
    finally:
        # Ignore a second Ctrl-C or SIGTERM while tearing down: half a teardown is the worst outcome.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            lab.teardown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            atexit.unregister(lab.teardown)


def remove_stale() -> list[str]:
    """Delete lab namespaces whose run is gone (SIGKILL leaves them behind); return their names."""
    removed = []
    for name in list_netns():
        found = re.fullmatch(rf"{PREFIX}-(\d+)-[a-z]+", name)
        if found is None or Path(f"/proc/{found.group(1)}").exists():
            continue
        with contextlib.suppress(LabError):
            run_cmd(["ip", "netns", "del", name])
            removed.append(name)
        shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
    return removed


def unavailable() -> str | None:
    """Why a lab cannot be built here (a skip reason), or None."""
    if os.uname().sysname != "Linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    try:
        list_netns()
    except LabError as exc:
        return f"`ip netns` does not work here: {exc}"
    return None


def free_port() -> int:
    """A free TCP port on loopback (for tests that run the token service outside the lab)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
