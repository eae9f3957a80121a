"""The command line, through typer's CliRunner and as a real subprocess."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.utils import wrpcap
from typer.testing import CliRunner

from analyzer.cli import app
from tests.builders import Tcp, Trace, challenge_401, http_request

runner = CliRunner()
REALM = "http://172.16.200.100:8200/service/token"


def write_pcap(path: Path, trace: Trace) -> Path:
    """Write a Trace's frames as a microsecond pcap (struct, so timestamps stay exact)."""
    import struct

    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for _, ts, _, data, wire in trace.frames:
            fh.write(struct.pack("<IIII", ts // 10**9, (ts % 10**9) // 1000, len(data), wire))
            fh.write(data)
    return path


def founding(tmp_path: Path) -> Path:
    trace = Trace()
    reg = Tcp(trace, "192.168.1.100", 52110, "180.119.140.230", 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", "180.119.140.230:8200"))
    reg.reply(challenge_401(REALM))
    reg.close()
    Tcp(trace, "192.168.1.100", 40001, "172.16.200.100", 8200).syns((1.0, 2.0, 4.0))
    return write_pcap(tmp_path / "stuck.pcap", trace)


def clean(tmp_path: Path) -> Path:
    trace = Trace()
    conn = Tcp(trace, "192.168.1.100", 52110, "198.51.100.80", 80)
    conn.handshake()
    conn.send(http_request("GET", "/", "example"))
    return write_pcap(tmp_path / "clean.pcap", trace)


def test_analyze_text_exit_1_on_finding(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(founding(tmp_path)), "--no-color"])
    assert result.exit_code == 1, result.output
    assert "token-service-unreachable" in result.output
    assert "iptables -t nat -I OUTPUT -d 172.16.200.100" in result.output
    assert "\x1b[" not in result.output


def test_analyze_json_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(founding(tmp_path)), "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["schema"] == 1
    assert doc["verdict"] == "error"
    assert doc["capture"]["frames"] == 12
    (finding,) = doc["findings"]
    assert finding["rule"] == "token-service-unreachable"
    assert finding["facts"]["syn_retransmissions"] == 3
    assert all(
        {"frame", "time", "timestamp", "src", "dst", "what"} <= set(e) for e in finding["evidence"]
    )
    assert finding["evidence"][0]["timestamp"].endswith("Z")


def test_clean_capture_exit_0(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(clean(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "no registry token flow found" in result.output


def test_gzip_and_stdin(tmp_path: Path) -> None:
    raw = founding(tmp_path).read_bytes()
    gz = tmp_path / "stuck.cap.gz"
    gz.write_bytes(gzip.compress(raw, mtime=0))
    r1 = runner.invoke(app, ["analyze", str(gz), "-f", "json"])
    r2 = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", "-", "-f", "json"],
        input=raw,
        capture_output=True,
        check=False,
    )
    assert r1.exit_code == 1 and r2.returncode == 1, r2.stderr
    f1 = json.loads(r1.stdout)["findings"]
    f2 = json.loads(r2.stdout)["findings"]
    assert f1 == f2
    assert json.loads(r2.stdout)["capture"]["source"] == "<stdin>"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello, this is not a capture at all\n" * 3, "text"),
        (b"\x28\xb5\x2f\xfd" + b"\0" * 40, "zstd"),
    ],
)
def test_not_a_capture_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.cap"
    path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("pushcap: error:")
    assert message in result.stderr.lower()
    assert result.stdout == ""


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path / "nope.pcap")])
    assert result.exit_code == 2
    assert "nope.pcap" in result.output


def test_header_only_capture_is_an_error(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "empty.pcap", Trace())
    result = runner.invoke(app, ["analyze", str(path)])
    assert result.exit_code == 2
    assert "no packets" in result.output


def test_truncated_capture_reports_what_was_read(tmp_path: Path) -> None:
    path = founding(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-30])  # cut inside the last SYN
    result = runner.invoke(app, ["analyze", str(path), "-f", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["capture"]["complete"] is False
    assert doc["capture"]["read_problems"]
    assert doc["findings"][0]["rule"] == "token-service-unreachable"


def test_unsupported_linktype_is_an_error(tmp_path: Path) -> None:
    import struct

    path = tmp_path / "usb.pcap"
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 189))
        fh.write(struct.pack("<IIII", 1, 0, 4, 4) + b"\0\0\0\0")
    result = runner.invoke(app, ["analyze", str(path)])
    assert result.exit_code == 2
    assert "189" in result.output


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("pushcap ")
    out = runner.invoke(app, ["analyze", "--help"]).stdout
    assert "--format" in out and "--show-secrets" in out


def test_piped_output_has_no_progress_and_no_colour(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(founding(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "\x1b[" not in result.stdout
    assert result.stderr == ""


def test_wrpcap_scapy_file_reads_too(tmp_path: Path) -> None:
    """A pcap written by scapy (what users' scripts make) reads the same as ours."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    path = tmp_path / "s.pcap"
    wrpcap(str(path), [Ether() / IP(dst="192.0.2.1") / TCP(flags="S")])
    result = runner.invoke(app, ["analyze", str(path), "-f", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["capture"]["tcp_connections"] == 1
