"""Network namespaces for the live tests, and the two programs run inside them.

:class:`Netns` builds a namespace with only ``lo`` (plus addresses and a
firewall rule) and deletes it on every path; nothing in it can reach an
address outside. Run as a module, this file is also the test's registry and
client, so the test needs no files of its own on disk::

    python -m tests.sniff.netns serve ADDR PORT REALM   # answers GET /v2/ with a Bearer 401
    python -m tests.sniff.netns client SRC REGISTRY PORT TIMEOUT   # does what docker does

Both print one JSON object per line on stdout as they go.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

COMMAND_TIMEOUT_S = 10


def unavailable() -> str | None:
    """Why namespaces cannot be used here (a skip reason), or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    return None


@dataclass
class Netns:
    """A network namespace that exists between :meth:`create` and :meth:`delete`."""

    name: str
    created: bool = False
    firewall: str | None = None  # what drops the SYNs: "nft" or "iptables"

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix(), *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )

    def create(self, addresses: Sequence[str] = ()) -> None:
        subprocess.run(
            ["ip", "netns", "add", self.name],
            check=True,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        self.created = True
        self.run("ip", "link", "set", "lo", "up")
        for addr in addresses:
            self.run("ip", "addr", "add", addr, "dev", "lo")

    def drop_syns(self, addr: str, port: int) -> str:
        """Silently drop TCP SYNs to addr:port *after* they cross ``lo`` (so they are captured).

        nftables first, then iptables. The rule sits on the input hook: a SYN
        dropped on output would never reach the device, and no capture would see it.
        """
        if shutil.which("nft"):
            rules = (
                "add table inet pushcap_test\n"
                "add chain inet pushcap_test in { type filter hook input priority 0; }\n"
                f"add rule inet pushcap_test in ip daddr {addr} tcp dport {port} "
                "tcp flags & (syn|ack) == syn drop\n"
            )
            done = subprocess.run(
                [*self.prefix(), "nft", "-f", "-"],
                input=rules,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
            if done.returncode == 0:
                self.firewall = "nft"
                return self.firewall
        if shutil.which("iptables"):
            done = self.run(
                "iptables", "-A", "INPUT", "-p", "tcp", "--syn", "-d", addr,
                "--dport", str(port), "-j", "DROP",
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                self.firewall = "iptables"
                return self.firewall
        raise RuntimeError("neither nft nor iptables could add a rule in the namespace")

    def delete(self) -> None:
        if self.created:
            subprocess.run(
                ["ip", "netns", "del", self.name],
                check=False,
                capture_output=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            self.created = False


@contextlib.contextmanager
def netns(name: str, addresses: Sequence[str] = ()) -> Iterator[Netns]:
    ns = Netns(name)
    try:
        ns.create(addresses)
        yield ns
    finally:
        ns.delete()


def unique_name(tag: str) -> str:
    return f"pcap-{os.getpid()}-{tag}"


def stop(proc: subprocess.Popen[Any] | None, grace: float = 3.0) -> None:
    """End a process this test started, by its PID: SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


# -- the programs run inside the namespace --------------------------------------


def _say(**fields: Any) -> None:
    print(json.dumps({"t": time.monotonic(), **fields}), flush=True)


def serve(addr: str, port: int, realm: str) -> None:
    """A registry that answers ``GET /v2/`` as Harbor does when its realm is internal."""

    class Registry401(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized to access repository"}]}'
            self.send_response(401, "Unauthorized")
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            self.send_header(
                "Www-Authenticate", f'Bearer realm="{realm}",service="harbor-registry"'
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            _say(event="request", line=format % args)

    server = http.server.HTTPServer((addr, port), Registry401)
    _say(event="ready", addr=addr, port=port)
    server.serve_forever()


def client(src: str, registry: str, port: int, timeout: float) -> int:
    """``docker push``'s first steps: GET /v2/, read the realm, dial it (and hang)."""
    with socket.create_connection((registry, port), timeout=5, source_address=(src, 0)) as conn:
        conn.sendall(
            f"GET /v2/ HTTP/1.1\r\nHost: {registry}:{port}\r\n"
            "User-Agent: docker/24.0.7 go/go1.20.10\r\nAccept-Encoding: gzip\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    found = re.search(r'(?im)^www-authenticate:\s*bearer\s+realm="([^"]+)"', head)
    if found is None:
        _say(event="error", why="no Bearer realm in the response", head=head)
        return 2
    realm = found.group(1)
    match = re.match(r"https?://([^/:]+):?(\d+)?", realm)
    assert match is not None
    host, realm_port = match.group(1), int(match.group(2) or 80)
    _say(event="challenge", realm=realm)
    started = time.monotonic()
    try:
        socket.create_connection((host, realm_port), timeout=timeout, source_address=(src, 0))
    except TimeoutError:
        _say(event="gave_up", after=round(time.monotonic() - started, 3))
        return 1
    except OSError as exc:
        _say(event="failed", error=str(exc))
        return 1
    _say(event="connected")
    return 0


def main(argv: Sequence[str]) -> int:
    if len(argv) == 4 and argv[0] == "serve":
        serve(argv[1], int(argv[2]), argv[3])
        return 0
    if len(argv) == 5 and argv[0] == "client":
        return client(argv[1], argv[2], int(argv[3]), float(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
