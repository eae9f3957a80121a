"""One scenario, recorded: build the lab, start the servers, capture while the real client pushes.

How this works, in order (every step inside :func:`lab.netns.guarded`, so the
lab is torn down whatever happens; steps 1-4 are :func:`staged`, which tests
that run something else beside the client, such as ``pushcap sniff``, use too):

1. Outside the lab: write the image (oci: layout), the token signing key and
   certificate, and the registry's config with the scenario's realm.
2. Build the namespaces, point the client's resolver at the router, put the
   scenario's fault in the router's forward chain.
3. Start the DNS server (router), the token service (internal) and
   docker-registry (registry); wait until each is ready, probing from its own
   namespace so no probe crosses the client's interface.
4. podman only: load the image into its private store (local, not captured).
5. Start tcpdump on the client's interface, wait for "listening on", run the
   client bounded by the scenario's timeout, wait a moment for the last
   packets, stop tcpdump with SIGTERM (it completes the file).
6. Tear down, copy the capture out, and read it with pushcap.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from analyzer.pipeline import AnalyzerOptions
from analyzer.runner import analyze_file
from lab.components import (
    client_argv,
    client_env,
    dns_argv,
    podman_pull_argv,
    podman_tag_argv,
    registry_argv,
    registry_config,
    tcpdump_argv,
    token_service_argv,
    versions,
)
from lab.image import write_image
from lab.jwt import make_signing_cert
from lab.netns import (
    PORT,
    REALM_IP,
    REGISTRY_IP,
    ROUTER_CLIENT_IP,
    Lab,
    LabError,
    guarded,
    stop_process,
)
from lab.scenarios import ISSUER, TOKEN_FLOW_RULES, Scenario

READY_TIMEOUT_S = 20.0
SETTLE_S = 1.5  # after the client exits: its last FIN/ACK exchanges, any late retransmission
PREPARE_TIMEOUT_S = 120.0


@dataclass
class Recording:
    """What one run produced, for the note beside the capture and for the caller's checks."""

    scenario: Scenario
    pcap: Path
    command: list[str]
    capture_command: list[str]
    exit_code: int | None  # None: killed when the timeout ran out
    duration_s: float
    output: str
    recorded_at: str
    versions: dict[str, str] = field(default_factory=dict)
    syn_linear_timeouts: str = "absent"
    findings: list[str] = field(default_factory=list)  # pushcap's, one line each, in report order
    placeholders: dict[str, str] = field(default_factory=dict)  # scratch path → its name in notes

    @property
    def rules(self) -> list[str]:
        return [line.split()[0] for line in self.findings]

    @property
    def as_expected(self) -> bool:
        """The token flow got exactly the scenario's verdict (other detectors may add findings)."""
        return [r for r in self.rules if r in TOKEN_FLOW_RULES] == [self.scenario.expected_rule]


def wait_for_text(
    log: Path,
    text: str,
    proc: subprocess.Popen[bytes],
    what: str,
    timeout_s: float = READY_TIMEOUT_S,
) -> str:
    """The first line of log holding text, once it is there; LabError if proc exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        exited = proc.poll() is not None  # before reading: what it wrote before exiting is seen
        content = log.read_text(errors="replace") if log.exists() else ""
        for line in content.splitlines():
            if text in line:
                return line
        if exited or time.monotonic() > deadline:
            tail = "\n".join(content.splitlines()[-10:])
            raise LabError(f"{what}: no {text!r} in its output (exit {proc.poll()}):\n{tail}")
        time.sleep(0.05)


def _start(
    lab: Lab,
    role: str,
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str],
    stack: contextlib.ExitStack,
) -> subprocess.Popen[bytes]:
    handle = stack.enter_context(log.open("wb"))
    return lab.start(role, argv, handle, env)


def _prepare_podman(
    lab: Lab, state: Path, image_ref: str, tag: str, env: Mapping[str, str]
) -> None:
    pulled = subprocess.run(
        lab.exec_argv("client", podman_pull_argv(state, image_ref)),
        env=dict(env), capture_output=True, text=True, timeout=PREPARE_TIMEOUT_S, check=False,
    )  # fmt: skip
    if pulled.returncode != 0:
        raise LabError(f"podman could not load the image: {pulled.stderr.strip()}")
    image_id = pulled.stdout.strip().splitlines()[-1]
    lab.run("client", *podman_tag_argv(state, image_id, tag))


def _run_client(
    lab: Lab, argv: Sequence[str], log: Path, env: Mapping[str, str], timeout_s: float
) -> tuple[int | None, float]:
    with log.open("wb") as handle:
        started = time.monotonic()
        proc = lab.start("client", argv, handle, env)
        try:
            code: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            code = None
        return code, time.monotonic() - started


def _syn_linear_timeouts(lab: Lab) -> str:
    """Kernels >= 6.5 retransmit SYNs linearly at first; older ones have no such sysctl."""
    try:
        return lab.run("client", "sysctl", "-n", "net.ipv4.tcp_syn_linear_timeouts").strip()
    except LabError:
        return "absent (kernel older than 6.5)"


@dataclass
class Stage:
    """A scenario's lab with its servers ready for the client: what :func:`staged` yields."""

    scenario: Scenario  # with the layers and timeout asked for
    lab: Lab
    command: list[str]  # the client's command line
    env: dict[str, str]
    logs: Path
    stack: contextlib.ExitStack  # closes the log files once the lab is down
    podman_state: Path

    def start(self, role: str, argv: Sequence[str], log: str) -> subprocess.Popen[bytes]:
        """Start argv in role's namespace, its output in logs/<log>; teardown ends it."""
        return _start(self.lab, role, argv, self.logs / log, self.env, self.stack)


@contextlib.contextmanager
def staged(
    scenario: Scenario,
    work: Path,
    *,
    layers: int | None = None,
    timeout_s: float | None = None,
) -> Iterator[Stage]:
    """Steps 1-4: the lab built and its servers ready; torn down on every way out.

    work is a scratch directory (created).
    """
    scenario = replace(
        scenario,
        layers=layers if layers is not None else scenario.layers,
        timeout_s=timeout_s if timeout_s is not None else scenario.timeout_s,
    )
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    image = write_image(work / "image", layers=scenario.layers)
    key, cert = make_signing_cert(work, ISSUER)
    config = registry_config(work / "registry.yml", scenario.realm, work / "registry-data", cert)
    env = client_env(work)
    # podman refuses a runroot longer than 50 characters, so its state gets a short path
    podman_state = Path(tempfile.mkdtemp(prefix="pushcap-podman-", dir="/tmp"))
    command = client_argv(scenario, image.reference, image.tag, podman_state)
    lab = Lab()
    # The stack is left last: log files close and podman's state goes once the lab is down.
    with contextlib.ExitStack() as stack, guarded(lab):
        stack.callback(shutil.rmtree, podman_state, ignore_errors=True)
        lab.write_resolv_conf("client", ROUTER_CLIENT_IP)
        lab.set_fault(scenario.fault)
        dns = _start(lab, "router", dns_argv(), logs / "dns.log", env, stack)
        tokens = _start(
            lab, "internal", token_service_argv(scenario, key, cert), logs / "token.log", env, stack
        )
        _start(lab, "registry", registry_argv(config), logs / "registry.log", env, stack)
        wait_for_text(logs / "dns.log", '"ready"', dns, "the DNS server")
        wait_for_text(logs / "token.log", '"ready"', tokens, "the token service")
        lab.wait_tcp("internal", REALM_IP, PORT, READY_TIMEOUT_S)
        lab.wait_tcp("registry", REGISTRY_IP, PORT, READY_TIMEOUT_S)
        if scenario.client == "podman":
            _prepare_podman(lab, podman_state, image.reference, image.tag, env)
        yield Stage(scenario, lab, command, env, logs, stack, podman_state)


def record(
    scenario: Scenario,
    pcap: Path,
    work: Path,
    *,
    layers: int | None = None,
    timeout_s: float | None = None,
) -> Recording:
    """Record scenario into pcap (overwritten); work is a scratch directory (created)."""
    raw = work / "capture.pcap"
    capture_command = tcpdump_argv(raw)
    with staged(scenario, work, layers=layers, timeout_s=timeout_s) as stage:
        scenario = stage.scenario
        syn_linear = _syn_linear_timeouts(stage.lab)
        tcpdump = stage.start("client", capture_command, "tcpdump.log")
        wait_for_text(stage.logs / "tcpdump.log", "listening on", tcpdump, "tcpdump")
        recorded_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        code, duration = _run_client(
            stage.lab, stage.command, stage.logs / "client.log", stage.env, scenario.timeout_s
        )
        time.sleep(SETTLE_S)
        stop_process(tcpdump)
    pcap.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(raw, pcap)
    return Recording(
        scenario=scenario,
        pcap=pcap,
        command=stage.command,
        capture_command=capture_command,
        exit_code=code,
        duration_s=duration,
        output=(stage.logs / "client.log").read_text(errors="replace"),
        recorded_at=recorded_at,
        versions=versions(scenario.client),
        syn_linear_timeouts=syn_linear,
        findings=pushcap_findings(pcap),
        placeholders={str(work): "$WORK", str(stage.podman_state): "$PODMAN_STATE"},
    )


def pushcap_findings(pcap: Path) -> list[str]:
    """`rule severity (confidence): summary` for each finding pushcap reports on the capture."""
    report = analyze_file(str(pcap), AnalyzerOptions())
    return [
        f"{f.rule} {f.severity.name.lower()} ({f.confidence}): {f.summary}" for f in report.findings
    ]
