"""Shared pieces of the audit tests: small captures, and analyze functions that misbehave.

The misbehaving functions run inside the audit's worker processes (through
``AuditSettings.analyze_hook``), so this module must import quickly and
without scapy: the capture builders import it only when called.
"""

from __future__ import annotations

import os
import signal
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.findings import Report
from analyzer.pipeline import AnalyzerOptions

if TYPE_CHECKING:
    from tests.builders import Trace

CLIENT = "192.168.1.100"
REGISTRY = "180.119.140.230"
REALM = "http://172.16.200.100:8200/service/token"
BASIC = "YWRtaW46SGFyYm9yMTIzNDU="  # admin:Harbor12345, must never be printed


def write_pcap(path: Path, trace: Trace) -> Path:
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for _, ts, _, data, wire in trace.frames:
            fh.write(struct.pack("<IIII", ts // 10**9, (ts % 10**9) // 1000, len(data), wire))
            fh.write(data)
    return path


def founding(path: Path, registry: str = REGISTRY, realm_host: str = "172.16.200.100") -> Path:
    """The founding case: 401 with an internal realm, the client's SYNs to it unanswered."""
    from tests.builders import Tcp, Trace, challenge_401, http_request

    trace = Trace()
    reg = Tcp(trace, CLIENT, 52110, registry, 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", f"{registry}:8200"))
    reg.reply(challenge_401(f"http://{realm_host}:8200/service/token"))
    reg.close()
    Tcp(trace, CLIENT, 40001, realm_host, 8200).syns((1.0, 2.0, 4.0))
    return write_pcap(path, trace)


def healthy(path: Path, token_status: int = 200) -> Path:
    """A token request with Basic credentials and account=admin; token issued and accepted."""
    from tests.builders import Tcp, Trace, challenge_401, http_request, http_response

    trace = Trace()
    realm = f"http://{REGISTRY}:8200/service/token"
    reg = Tcp(trace, CLIENT, 52110, REGISTRY, 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", f"{REGISTRY}:8200"))
    reg.reply(challenge_401(realm))
    tok = Tcp(trace, CLIENT, 52111, REGISTRY, 8200)
    tok.handshake()
    target = "/service/token?account=admin&scope=repository%3Alibrary%2Fweb%3Apush&service=harbor-registry"
    tok.send(http_request("GET", target, f"{REGISTRY}:8200", {"Authorization": f"Basic {BASIC}"}))
    if token_status == 200:
        tok.reply(http_response(200, "OK", {}, b'{"token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}'))
        bearer = {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}
        tok.send(http_request("POST", "/v2/library/web/blobs/uploads/", REGISTRY, bearer))
        tok.reply(http_response(202, "Accepted"))
    else:
        tok.reply(http_response(token_status, "Error", {}, b'{"errors":[{"code":"DENIED"}]}'))
    tok.close()
    return write_pcap(path, trace)


def clean(path: Path) -> Path:
    from tests.builders import Tcp, Trace, http_request

    trace = Trace()
    conn = Tcp(trace, CLIENT, 52110, "198.51.100.80", 80)
    conn.handshake()
    conn.send(http_request("GET", "/", "example"))
    return write_pcap(path, trace)


# --- analyze functions for AnalyzerSettings.analyze_hook: they run in the worker process ---


def misbehave(path: str, options: AnalyzerOptions) -> Report:
    """Behave by file name: crash, hog memory, sleep, exit; otherwise analyze for real."""
    name = Path(path).name
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("hog"):
        hoard = [bytearray(64 << 20) for _ in range(1024)]  # 64 GiB: past any --max-memory
        raise AssertionError(len(hoard))
    if name.startswith("slow"):
        time.sleep(float(name.split("-")[1].split(".")[0]))
    if name.startswith("exit"):
        os._exit(3)
    if name.startswith("bug"):
        raise KeyError("Authorization: Basic " + BASIC)
    from analyzer.runner import analyze_file

    return analyze_file(path, options)
