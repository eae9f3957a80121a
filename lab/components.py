"""The real programs the lab runs, as command lines and config files, and the packages they come from.

Nothing here starts anything: lab/record.py starts these in the namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from lab.netns import CLIENT_IP, PORT, REALM_IP, REGISTRY_IP, ROUTER_CLIENT_IP
from lab.scenarios import ACCOUNT, ISSUER, PASSWORD, SERVICE, Scenario

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "library/web"
# command → Debian package; `openssl` signs the tokens, the rest are the real components
PACKAGES = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "podman": "podman",
    "tcpdump": "tcpdump",
    "nft": "nftables",
    "ip": "iproute2",
    "openssl": "openssl",
}
APT_TIMEOUT_S = 900


def missing_commands(commands: Sequence[str] = tuple(PACKAGES)) -> list[str]:
    return [c for c in commands if shutil.which(c) is None]


def install_missing(commands: Sequence[str] = tuple(PACKAGES)) -> list[str]:
    """apt-get install the packages of missing commands (root, Debian); return what is still missing."""
    missing = missing_commands(commands)
    if not missing or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return missing
    packages = sorted({PACKAGES[c] for c in missing})
    print(f"lab: installing {' '.join(packages)} with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        subprocess.run(argv, env=env, timeout=APT_TIMEOUT_S, check=False, stdout=subprocess.DEVNULL)
    return missing_commands(commands)


def target() -> str:
    return f"{REGISTRY_IP}:{PORT}/{REPOSITORY}"


def registry_config(path: Path, realm: str, storage: Path, cert: Path) -> Path:
    """Docker Distribution 2.8 with token auth, listening only on the registry's lab address."""
    path.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n  formatter: text\n  fields:\n    service: registry\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: {REGISTRY_IP}:{PORT}\n  secret: pushcap-lab-not-a-secret\n"
        "auth:\n  token:\n"
        f'    realm: "{realm}"\n    service: {SERVICE}\n    issuer: {ISSUER}\n'
        f"    rootcertbundle: {cert}\n"
    )
    return path


def registry_argv(config: Path) -> list[str]:
    return ["docker-registry", "serve", str(config)]


def token_service_argv(scenario: Scenario, key: Path, cert: Path) -> list[str]:
    argv = [
        sys.executable, "-m", "lab.token_service", "--listen", f"{REALM_IP}:{PORT}",
        "--key", str(key), "--cert", str(cert), "--issuer", ISSUER, "--service", SERVICE,
        "--account", ACCOUNT, "--password", PASSWORD, "--key-id", scenario.key_id,
    ]  # fmt: skip
    if scenario.token_fail is not None:
        argv += ["--fail", str(scenario.token_fail)]
    return argv


def dns_argv() -> list[str]:
    return [sys.executable, "-m", "lab.dns_server", "--listen", f"{ROUTER_CLIENT_IP}:53"]


def tcpdump_argv(pcap: Path) -> list[str]:
    # -U: write each packet as it comes; -Z root: write where we ask, without dropping to
    # the tcpdump user; the whole interface, so the capture holds what the client saw.
    return ["tcpdump", "-i", "c0", "-n", "-U", "-Z", "root", "-w", str(pcap)]


def client_env(work: Path) -> dict[str, str]:
    """A clean environment: no proxy variable, no user config, temp files in the lab's work dir."""
    home, tmp = work / "home", work / "tmp"
    for d in (home, tmp):
        d.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
    }


def podman_base(state: Path) -> list[str]:
    # A private store: nothing of the host's containers is read or changed.
    return [
        "podman", "--root", str(state / "root"), "--runroot", str(state / "run"),
        "--tmpdir", str(state / "tmp"), "--storage-driver", "vfs",
        "--cgroup-manager", "cgroupfs", "--events-backend", "file",
    ]  # fmt: skip


def podman_pull_argv(state: Path, image_ref: str) -> list[str]:
    """Load the oci: layout into podman's private store (before recording; prints the image id)."""
    return [*podman_base(state), "pull", "-q", image_ref]


def podman_tag_argv(state: Path, image_id: str, tag: str) -> list[str]:
    return [*podman_base(state), "tag", image_id, f"{target()}:{tag}"]


def client_argv(scenario: Scenario, image_ref: str, tag: str, podman_state: Path) -> list[str]:
    creds = f"{ACCOUNT}:{scenario.password}"
    if scenario.client == "podman":
        return [
            *podman_base(podman_state), "push", "--tls-verify=false", "--creds", creds,
            f"{target()}:{tag}",
        ]  # fmt: skip
    return [
        "skopeo", "--insecure-policy", "--command-timeout", f"{int(scenario.timeout_s) - 10}s",
        "copy", "--dest-tls-verify=false", "--dest-creds", creds,
        image_ref, f"docker://{target()}:{tag}",
    ]  # fmt: skip


def _first_line(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def versions(client: str) -> dict[str, str]:
    return {
        "docker-registry": _first_line(["docker-registry", "--version"]),
        client: _first_line([client, "--version"]),
        "tcpdump": _first_line(["tcpdump", "--version"]),
        "nftables": _first_line(["nft", "--version"]),
        "kernel": os.uname().release,
        "python (token service, DNS)": sys.version.split()[0],
        "openssl (token signing)": _first_line(["openssl", "version"]),
    }


LAB_ADDRESSES = {
    "client (capture point, interface c0)": CLIENT_IP,
    "router, DNS server": ROUTER_CLIENT_IP,
    "registry (docker-registry)": f"{REGISTRY_IP}:{PORT}",
    "token service (internal)": f"{REALM_IP}:{PORT}",
}
