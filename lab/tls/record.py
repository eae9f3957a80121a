"""Record the founding case over TLS: an HTTPS registry whose realm never answers.

    sudo .venv/bin/python lab/tls/record.py [--out captures/real] [--name tls-founding-case]
                                            [--http 2|1.1]

Writes ``NAME.pcap`` (tcpdump on the namespace's loopback) and ``NAME.keylog``
(the client's SSLKEYLOGFILE), then prints the commands it ran.

How this works: one network namespace, created here and deleted on every path,
holds only ``lo`` with three addresses: the client 192.168.1.100, the registry
203.0.113.230 (a documentation address standing for a public one) and the realm
172.16.200.100. Nothing in it can reach an address outside. The registry is
Debian's ``docker-registry`` (Docker Distribution 2.8) serving TLS on :8200
with a certificate made here by ``openssl``; its token auth names the realm
``http://172.16.200.100:8200/service/token`` and service ``harbor-registry``,
as Harbor does when ``external_url`` is internal. An nftables rule on the input
hook drops SYNs to 172.16.200.100:8200 *after* they cross ``lo``, so the capture
sees them and nothing answers. The client is ``curl`` (it honours SSLKEYLOGFILE,
which docker does not): ``GET /v2/`` over HTTPS (HTTP/2, as Go clients
negotiate), then the token request to the realm three times, 5 and 10 s apart,
each giving up after 10 s, as docker's retries do.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIENT = "192.168.1.100"
REGISTRY = "203.0.113.230"
REALM_HOST = "172.16.200.100"
PORT = 8200
REALM = f"http://{REALM_HOST}:{PORT}/service/token"
SERVICE = "harbor-registry"
SCOPE = "repository:library/web:pull,push"
NS = f"pushcap-tls-{os.getpid()}"
ATTEMPT_TIMEOUT_S = 10
RETRY_PAUSES_S = (5, 10)
TOOLS = ("ip", "nft", "tcpdump", "curl", "openssl", "docker-registry")

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}/storage
http:
  addr: {registry}:{port}
  tls:
    certificate: {root}/registry.crt
    key: {root}/registry.key
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: harbor-token-issuer
    rootcertbundle: {root}/registry.crt
"""

NFT_RULES = f"""\
add table inet pushcap_lab
add chain inet pushcap_lab in {{ type filter hook input priority 0; }}
add rule inet pushcap_lab in ip daddr {REALM_HOST} tcp dport {PORT} tcp flags & (syn|ack) == syn drop
"""

ran: list[str] = []


def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
    ran.append(shlex.join(args))
    done = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{shlex.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def in_ns(*args: str) -> tuple[str, ...]:
    return ("ip", "netns", "exec", NS, *args)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """End a process this script started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_for_port(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            in_ns("ss", "-Htln", f"sport = :{PORT}"), capture_output=True, text=True, check=False
        ).stdout
        if out.strip():
            return
        time.sleep(0.1)
    raise RuntimeError(f"the registry did not listen on {REGISTRY}:{PORT}")


def make_certificate(root: Path) -> None:
    run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-subj", "/CN=registry.lab.example",
        "-addext", f"subjectAltName=IP:{REGISTRY}",
        "-keyout", str(root / "registry.key"), "-out", str(root / "registry.crt"),
    )  # fmt: skip


def setup_namespace() -> None:
    run("ip", "netns", "add", NS)
    run(*in_ns("ip", "link", "set", "lo", "up"))
    for addr in (CLIENT, REGISTRY, REALM_HOST):
        run(*in_ns("ip", "addr", "add", f"{addr}/32", "dev", "lo"))
    run(*in_ns("nft", "-f", "-"), stdin=NFT_RULES)


def client_session(root: Path, keylog: Path, http: str) -> list[str]:
    """curl as the docker client: the challenge over HTTPS, then the dead realm."""
    env = {**os.environ, "SSLKEYLOGFILE": str(keylog)}
    notes: list[str] = []
    ping = [
        *in_ns("curl", "-sS", "-i", f"--http{http}", "--cacert", str(root / "registry.crt")),
        *("--interface", CLIENT, "-A", "docker/24.0.7 go/go1.20.10 (pushcap lab, curl)"),
        f"https://{REGISTRY}:{PORT}/v2/",
    ]
    ran.append("SSLKEYLOGFILE=… " + shlex.join(ping))
    head = subprocess.run(
        ping, env=env, capture_output=True, text=True, timeout=30, check=False
    ).stdout
    found = re.search(r'(?im)^www-authenticate:\s*bearer\s+realm="([^"]+)"', head)
    if found is None:
        raise RuntimeError(f"no Bearer challenge from the registry:\n{head}")
    notes.append(head.split("\r\n\r\n", 1)[0].strip())
    token_url = f"{found.group(1)}?scope={SCOPE}&service={SERVICE}"
    for attempt in range(len(RETRY_PAUSES_S) + 1):
        fetch = [
            *in_ns("curl", "-sS", "--interface", CLIENT, "--connect-timeout"),
            str(ATTEMPT_TIMEOUT_S),
            token_url,
        ]
        ran.append(shlex.join(fetch))
        done = subprocess.run(
            fetch, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        notes.append(f"token attempt {attempt + 1}: {done.stderr.strip()}")
        if attempt < len(RETRY_PAUSES_S):
            time.sleep(RETRY_PAUSES_S[attempt])
    return notes


def record(out: Path, name: str, http: str = "2") -> list[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"missing: {' '.join(missing)} (apt-get install {' '.join(missing)})")
    pcap, keylog = out / f"{name}.pcap", out / f"{name}.keylog"
    registry: subprocess.Popen[bytes] | None = None
    dump: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="pushcap-tls-") as tmp:
        root = Path(tmp)
        try:
            make_certificate(root)
            config = root / "config.yml"
            config.write_text(
                REGISTRY_CONFIG.format(
                    root=root, registry=REGISTRY, port=PORT, realm=REALM, service=SERVICE
                )
            )
            setup_namespace()
            registry = subprocess.Popen(
                in_ns("docker-registry", "serve", str(config)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            ran.append(shlex.join(in_ns("docker-registry", "serve", "config.yml")))
            wait_for_port(10)
            keylog.unlink(missing_ok=True)
            dump = subprocess.Popen(
                in_ns("tcpdump", "-i", "lo", "-U", "-n", "-w", str(pcap), "tcp or icmp"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            ran.append(
                shlex.join(in_ns("tcpdump", "-i", "lo", "-U", "-w", pcap.name, "tcp or icmp"))
            )
            time.sleep(1.0)  # tcpdump needs a moment before it captures
            notes = client_session(root, keylog, http)
            time.sleep(1.0)
        finally:
            stop(dump)
            stop(registry)
            subprocess.run(["ip", "netns", "del", NS], check=False, capture_output=True)
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("captures/real"))
    parser.add_argument("--name", default="tls-founding-case")
    parser.add_argument(
        "--http", choices=("2", "1.1"), default="2", help="HTTP version curl asks for (ALPN)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, nftables, tcpdump)")
    args.out.mkdir(parents=True, exist_ok=True)
    notes = record(args.out, args.name, args.http)
    print("\n".join(["commands:", *(f"  {c}" for c in ran), "client saw:", *notes]))


if __name__ == "__main__":
    main()
