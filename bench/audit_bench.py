"""Throughput of `pushcap audit`: 1,000 small captures and 20 large ones, --jobs 1 and 2.

Not a test (nothing is asserted): run it and read the numbers. Each --jobs value is run
--repeat times (default 3) over the same files, warm in the page cache; the best run counts.

    .venv/bin/python bench/audit_bench.py [--small 1000] [--large 20] [--frames 50000]
                                           [--jobs 1,2] [--repeat 3] [--keep DIR]

The captures are generated deterministically with struct (no scapy: a million
frames take seconds): the small ones cycle through an unreachable realm, a
healthy token flow, a refused realm and plain traffic; a large one is a
healthy token flow followed by a blob upload (`PATCH`) in full-size
1448-byte segments, the registry acking every second one. Each run is a real
`python -m analyzer audit --format jsonl`. Peak RSS: the largest per-file figure the
rows report (a worker process while it read that file), and the largest of any
process of the run (wait4 on the audit process, which reaps its workers).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ETH = struct.Struct("!6s6sH")
IP4 = struct.Struct("!BBHHHBBH4s4s")
TCP = struct.Struct("!HHIIBBHHH")
REC = struct.Struct("<IIII")
MSS = 1448
SYN, RST, PSH, ACK, FIN = 0x02, 0x04, 0x08, 0x10, 0x01
CLIENT = "192.168.1.100"
REGISTRIES = ("180.119.140.230", "203.0.113.10", "198.51.100.20")
TOKEN = b'{"token":"eyJhbGciOiJSUzI1NiJ9.bench.sig","expires_in":1800}'


def ip(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


@dataclass
class Pcap:
    """Frames as pcap records, with a clock in microseconds."""

    t_us: int = 1_700_000_000 * 1_000_000
    chunks: list[bytes] = field(default_factory=list)
    frames: int = 0

    def add(self, data: bytes, dt_us: int = 200) -> None:
        self.t_us += dt_us
        self.chunks.append(
            REC.pack(self.t_us // 1_000_000, self.t_us % 1_000_000, len(data), len(data))
        )
        self.chunks.append(data)
        self.frames += 1

    def write(self, path: Path) -> int:
        head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
        data = head + b"".join(self.chunks)
        path.write_bytes(data)
        return len(data)


@dataclass
class Conn:
    cap: Pcap
    client: str
    cport: int
    server: str
    sport: int
    cseq: int = 1000
    sseq: int = 90_000

    def _frame(self, up: bool, flags: int, payload: bytes = b"", dt_us: int = 200) -> None:
        src, dst = (self.client, self.server) if up else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if up else (self.sport, self.cport)
        seq, ack = (self.cseq, self.sseq) if up else (self.sseq, self.cseq)
        tcp = TCP.pack(sp, dp, seq, ack if flags & ACK else 0, 5 << 4, flags, 65535, 0, 0)
        ip4 = IP4.pack(0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, ip(src), ip(dst))
        eth = ETH.pack(b"\x02" * 6, b"\x04" * 6, 0x0800)
        self.cap.add(eth + ip4 + tcp + payload, dt_us)
        grow = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if up:
            self.cseq += grow
        else:
            self.sseq += grow

    def handshake(self) -> None:
        self._frame(True, SYN)
        self._frame(False, SYN | ACK)
        self._frame(True, ACK)

    def send(self, payload: bytes) -> None:
        self._frame(True, PSH | ACK, payload)

    def reply(self, payload: bytes) -> None:
        self._frame(False, PSH | ACK, payload, 5_000)

    def upload(self, size: int) -> None:
        for n, off in enumerate(range(0, size, MSS)):
            self._frame(True, ACK, b"\xa5" * min(MSS, size - off), 20)
            if n % 2:
                self._frame(False, ACK, dt_us=20)

    def close(self) -> None:
        self._frame(True, FIN | ACK)
        self._frame(False, FIN | ACK)
        self._frame(True, ACK)

    def unanswered(self, tries: int = 4) -> None:
        isn = self.cseq
        for i in range(tries):  # one SYN and its retransmissions: same ISN, doubling delays
            self.cseq = isn
            self._frame(True, SYN, dt_us=1_000_000 << i)

    def refused(self) -> None:
        self._frame(True, SYN)
        self._frame(False, RST | ACK)


def request(method: str, target: str, host: str, extra: str = "", length: int = 0) -> bytes:
    body = f"Content-Length: {length}\r\n" if length else ""
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: docker/24.0.7\r\n{extra}{body}\r\n".encode()


def response(status: str, extra: str = "", body: bytes = b"") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def token_flow(cap: Pcap, registry: str, port: int, realm_host: str, *, ok: bool) -> Conn:
    realm = f"http://{realm_host}:{port}/service/token"
    reg = Conn(cap, CLIENT, 40_000 + cap.frames, registry, port)
    reg.handshake()
    reg.send(request("GET", "/v2/", f"{registry}:{port}"))
    reg.reply(
        response(
            "401 Unauthorized",
            f'Www-Authenticate: Bearer realm="{realm}",service="harbor-registry"\r\n',
        )
    )
    if not ok:
        return reg
    auth = Conn(cap, CLIENT, 41_000 + cap.frames, realm_host, port)
    auth.handshake()
    auth.send(
        request(
            "GET",
            "/service/token?scope=repository%3Alibrary%2Fweb%3Apush&service=harbor-registry",
            f"{realm_host}:{port}",
        )
    )
    auth.reply(response("200 OK", "Content-Type: application/json\r\n", TOKEN))
    auth.close()
    reg.send(request("GET", "/v2/", f"{registry}:{port}", "Authorization: Bearer <bench>\r\n"))
    reg.reply(response("200 OK"))
    return reg


def small(i: int) -> Pcap:
    cap = Pcap()
    registry = REGISTRIES[i % len(REGISTRIES)]
    kind = i % 4
    if kind == 0:  # the founding case: the realm is internal and never answers
        token_flow(cap, registry, 8200, "172.16.200.100", ok=False).close()
        Conn(cap, CLIENT, 52_000, "172.16.200.100", 8200).unanswered()
    elif kind == 1:
        token_flow(cap, registry, 443 + 7757, registry, ok=True).close()
    elif kind == 2:  # the realm refuses connections
        token_flow(cap, registry, 8200, "10.0.0.5", ok=False).close()
        Conn(cap, CLIENT, 52_000, "10.0.0.5", 8200).refused()
    else:  # nothing to do with a registry
        web = Conn(cap, CLIENT, 50_000, "198.51.100.80", 80)
        web.handshake()
        web.send(request("GET", "/", "example"))
        web.reply(response("200 OK", body=b"hello" * 40))
        web.close()
    return cap


def large(i: int, frames: int) -> Pcap:
    cap = Pcap()
    registry = REGISTRIES[i % len(REGISTRIES)]
    reg = token_flow(cap, registry, 8200, registry, ok=True)
    size = (frames * 2 // 3) * MSS
    reg.send(
        request(
            "PATCH",
            f"/v2/library/web/blobs/uploads/{i:08x}",
            f"{registry}:8200",
            "Authorization: Bearer <bench>\r\nContent-Type: application/octet-stream\r\n",
            size,
        )
    )
    reg.upload(size)
    reg.reply(response("202 Accepted", f"Range: 0-{size - 1}\r\n"))
    reg.close()
    return cap


def generate(root: Path, n_small: int, n_large: int, frames: int) -> tuple[int, int]:
    (root / "small").mkdir(parents=True, exist_ok=True)
    (root / "large").mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(n_small):
        total += small(i).write(root / "small" / f"ci-{i:04d}.pcap")
    for i in range(n_large):
        total += large(i, frames).write(root / "large" / f"upload-{i:02d}.pcap")
    return n_small + n_large, total


def run(root: Path, jobs: int) -> dict[str, float]:
    out = root / f"rows-{jobs}.jsonl"
    command = [sys.executable, "-m", "analyzer", "audit", str(root), "-r", "--jobs", str(jobs)]
    command += ["--format", "jsonl", "--output", str(out), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    # wait4: this run's own resource use (the audit process and the workers it reaped).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if code not in (0, 1):
        sys.exit(f"audit failed ({code}):\n{errors.decode()}")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    nbytes = sum(r["audit"]["bytes"] or 0 for r in rows)
    return {
        "files": len(rows),
        "errors": sum(r["status"] != "ok" for r in rows),
        "wall": wall,
        "files_s": len(rows) / wall,
        "mb_s": nbytes / 1e6 / wall,
        "worker_rss_mb": max(r["audit"]["peak_rss_kb"] or 0 for r in rows) / 1024,
        "tree_rss_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--repeat", type=int, default=3, help="runs per --jobs; the best counts")
    parser.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = ["--small", str(args.small), "--large", str(args.large), "--frames", str(args.frames)]
    if args.generate_only:
        print(json.dumps(generate(args.generate_only, args.small, args.large, args.frames)))
        return
    with tempfile.TemporaryDirectory(prefix="pushcap-bench-") as tmp:
        root = args.keep or Path(tmp)
        t0 = time.perf_counter()
        # In a process of its own, so that this one stays small while it measures.
        made = subprocess.run(
            [sys.executable, __file__, "--generate-only", str(root), *sizes],
            capture_output=True,
            text=True,
            check=True,
        )
        files, nbytes = json.loads(made.stdout)
        os.sync()  # so the kernel's writeback of the new files does not run during the timings
        print(
            f"generated {files} captures ({args.small} small, {args.large} of "
            f"~{args.frames:,} frames): {nbytes / 1e6:,.1f} MB in {time.perf_counter() - t0:.1f} s; "
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        )
        results = {}
        for jobs in (int(j) for j in args.jobs.split(",")):
            r = results[jobs] = min(
                (run(root, jobs) for _ in range(args.repeat)), key=lambda m: m["wall"]
            )
            print(
                f"--jobs {jobs}: {r['files']:.0f} files ({r['errors']:.0f} errors) in "
                f"{r['wall']:.2f} s: {r['files_s']:,.1f} files/s, {r['mb_s']:,.1f} MB/s; "
                f"peak RSS per worker {r['worker_rss_mb']:.0f} MB, of any one process "
                f"{r['tree_rss_mb']:.0f} MB"
            )
        if len(results) > 1:
            first, last = min(results), max(results)
            ratio = results[first]["wall"] / results[last]["wall"]
            print(f"speed-up --jobs {last} vs --jobs {first}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
