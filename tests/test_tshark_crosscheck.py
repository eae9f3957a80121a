"""Cross-check with Wireshark: the frames pushcap names are the ones the real tshark sees.

For every capture in captures/ we ask tshark (HTTP decoded on the registry
ports, body reassembly off so a response is reported at the frame that
completes its header, as pushcap does) for every frame's SYN/RST/ICMP flags,
retransmission analysis and HTTP fields, then check both ways:

- every evidence row pushcap reports names a frame that tshark shows as the
  same thing (a 401 with the same realm, a request with the same method, a
  SYN, a retransmitted SYN, a RST, an ICMP unreachable);
- every 401 Bearer challenge tshark sees is in pushcap's evidence when
  pushcap reports on that flow, and every SYN tshark sees toward an
  unreachable realm is counted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.golden_update import CAPTURES, ROOT, captures

TSHARK = shutil.which("tshark")
pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        TSHARK is None, reason="tshark is not installed (make system-deps installs it)"
    ),
]

FIELDS = [
    "frame.number",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.reset",
    "tcp.analysis.retransmission",
    "icmp.type",
    "icmpv6.type",
    "http.request.method",
    "http.response.code",
    "http.www_authenticate",
    "dns.flags.rcode",
]


@dataclass(frozen=True)
class Row:
    frame: int
    syn: bool
    ack: bool
    rst: bool
    retrans: bool
    icmp_unreach: bool
    method: str
    status: str
    www_auth: str


def tshark_rows(path: Path) -> dict[int, Row]:
    cmd = [
        str(TSHARK),
        "-n",
        "-r",
        str(path),
        "-d",
        "tcp.port==8200,http",
        "-d",
        "tcp.port==8201,http",
        "-o",
        "http.desegment_body:FALSE",
        "-o",
        "tcp.reassemble_out_of_order:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=f",
    ]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    rows: dict[int, Row] = {}
    for line in out.splitlines():
        v = (line.split("\t") + [""] * len(FIELDS))[: len(FIELDS)]
        rows[int(v[0])] = Row(
            frame=int(v[0]),
            syn=v[1] in ("1", "True"),
            ack=v[2] in ("1", "True"),
            rst=v[3] in ("1", "True"),
            retrans=bool(v[4]),
            icmp_unreach=v[5] == "3" or v[6] == "1",
            method=v[7],
            status=v[8],
            www_auth=v[9],
        )
    return rows


def pushcap_report(path: Path) -> dict[str, object]:
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "analyzer",
            "analyze",
            str(path),
            "-f",
            "json",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


def check_row(what: str, row: Row) -> None:
    if what.startswith("SYN retransmission"):
        assert row.syn and not row.ack and row.retrans, (what, row)
    elif what.startswith("SYN (attempt"):
        assert row.syn and not row.ack and not row.retrans, (what, row)
    elif what.startswith("RST"):
        assert row.rst, (what, row)
    elif what.startswith("ICMP"):
        assert row.icmp_unreach, (what, row)
    elif what[:3].isdigit():
        assert row.status == what[:3], (what, row)
        if "WWW-Authenticate: Bearer" in what:
            assert "Bearer" in row.www_auth, (what, row)
            realm = what.split('realm="', 1)[1].split('"', 1)[0]
            if "<redacted>" not in realm:
                assert realm in row.www_auth, (what, row)
    elif what.startswith("DNS"):
        pass  # DNS rows are checked by the frame existing; tshark's DNS fields are not needed
    elif what.split(" ", 1)[0].isupper():
        assert row.method == what.split(" ", 1)[0], (what, row)


@pytest.mark.parametrize("capture", captures(), ids=lambda p: str(p.relative_to(CAPTURES)))
def test_evidence_frames_match_tshark(capture: Path) -> None:
    rows = tshark_rows(capture)
    doc = pushcap_report(capture)
    capture_info = doc["capture"]
    assert isinstance(capture_info, dict)
    assert capture_info["frames"] == len(rows), "frame count differs from tshark"
    findings = doc["findings"]
    assert isinstance(findings, list)
    for finding in findings:
        evidence = finding["evidence"]
        for ev in evidence:
            if ev["what"].startswith(("…", "401 again")):
                continue
            assert ev["frame"] in rows, ev
            check_row(ev["what"], rows[ev["frame"]])
        # Both ways: every Bearer 401 tshark sees for this realm is one pushcap counted.
        realm = finding["realm"]
        if realm and "<redacted>" not in realm:
            tshark_401 = [
                r.frame for r in rows.values() if r.status == "401" and realm in r.www_auth
            ]
            assert finding["facts"]["challenges"] >= 1
            assert (
                finding["facts"]["first_challenge_frame"] == min(tshark_401, default=None)
                or not tshark_401
            )
            counted = finding["facts"]["challenges"]
            bearer_loop = finding["rule"] == "token-rejected"
            if not bearer_loop:
                assert counted == len(tshark_401), (counted, tshark_401)
        if (
            finding["rule"].startswith("token-service-unreachable")
            or finding["rule"] == "registry-connection-failed"
        ):
            retrans_frames = {
                ev["frame"] for ev in evidence if ev["what"].startswith("SYN retransmission")
            }
            syn_frames = {ev["frame"] for ev in evidence if ev["what"].startswith("SYN")}
            facts = finding["facts"]
            if facts.get("evidence_rows_omitted"):
                # The evidence is capped (MAX_EVIDENCE rows): it shows a subset of the SYNs,
                # and tshark's retransmitted SYNs bound the count from above.
                tshark_retrans = sum(r.syn and not r.ack and r.retrans for r in rows.values())
                assert len(retrans_frames) <= facts["syn_retransmissions"] <= tshark_retrans
                assert len(syn_frames - retrans_frames) <= facts["attempts"]
            else:
                assert facts["syn_retransmissions"] == len(retrans_frames)
                assert facts["attempts"] == len(syn_frames - retrans_frames)


def test_crosscheck_covers_captures() -> None:
    assert captures(), f"no captures under {CAPTURES}"
