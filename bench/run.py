"""The performance benchmark of issue 6: pushcap against tshark, tcpdump and cat, side by side.

    .venv/bin/python bench/run.py [--sizes small,large] [--runs 3] [--seed 1] [--keep DIR]
                                  [--skip-tshark-large] [--tshark-engine-large] [--profile]

How it works: it first generates, with ``bench/gencap.py`` and the seed,
about 200,000 frames (~200 MB; plus a pcapng and a gzip copy of the same
frames) and about 2,000,000 frames (~2 GB) of registry traffic into a
temporary folder (removed at the end; ``--keep DIR`` generates into DIR
once and reuses it). Then, per file, it runs each command ``--runs`` times,
the commands taking turns so that the machine's load falls on all of them
alike, after one ``cat`` has put the file in the page cache:

- ``pushcap analyze --format json -q FILE`` (``.venv/bin/pushcap``), also on
  the pcapng and gzip copies, and ``cat FILE | pushcap analyze ... -``;
- ``pushcap analyze --engine tshark --format json -q FILE`` (the Wireshark
  engine: pushcap reading tshark's ``-T ek`` output) on the small pcap only,
  unless ``--tshark-engine-large`` (it takes minutes and tshark's memory grows
  with the file: about 1.3 KB per frame, ~3 GB for the large one); its CPU
  time and peak RSS are those of pushcap and its tshark together (wait4's
  rusage counts the children it reaped; the RSS is the larger of the two);
- ``tshark -n -r FILE -d tcp.port==8200,http -Y 'http.response.code == 401
  or tcp.flags.syn == 1' -T fields -e frame.number -e ip.dst -e
  http.www_authenticate`` (what a user would run instead);
- ``tcpdump -nr FILE > /dev/null`` (the read floor) and ``cat FILE >
  /dev/null`` (the I/O floor).

Each child is reaped with ``os.wait4``, whose rusage gives its peak RSS and
its CPU time (user + system) exactly; wall time is taken around it. The
table shows medians; the ratios are computed on wall medians (and on CPU
medians, which a busy machine disturbs less). Every pushcap report is checked
against the sidecar of what was planted (rule, client, registry, realm,
attempts, SYN retransmissions); no time is asserted: the targets are printed
as met or not. ``--profile`` runs pushcap on the small file under
pyinstrument (if installed in the venv) and cProfile, and prints the top.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _run_report import TSHARK_ENGINE, Result, check_report, machine, ratios, table

ROOT = Path(__file__).resolve().parent.parent
PUSHCAP = ROOT / ".venv" / "bin" / "pushcap"
PYTHON = ROOT / ".venv" / "bin" / "python"
TSHARK_FILTER = "http.response.code == 401 or tcp.flags.syn == 1"
SIZES = {"small": 200_000, "large": 2_000_000}
BYTES_PER_FRAME = 1_060  # on disk, for the free-space check


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    size: str
    path: Path
    argv: list[str]
    stdin_file: bool = False  # feed the file through `cat FILE |`
    report: bool = False  # stdout is a pushcap JSON report to check
    ok_codes: tuple[int, ...] = (0,)


def pushcap_argv(path: str) -> list[str]:
    return [str(PUSHCAP), "analyze", "--format", "json", "-q", path]


def tshark_argv(path: Path) -> list[str]:
    return [
        "tshark",
        "-n",
        "-r",
        str(path),
        "-d",
        "tcp.port==8200,http",
        "-Y",
        TSHARK_FILTER,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "ip.dst",
        "-e",
        "http.www_authenticate",
    ]


def tshark_engine_argv(path: str) -> list[str]:
    return [str(PUSHCAP), "analyze", "--engine", "tshark", "--format", "json", "-q", path]


def commands(
    size: str, files: dict[str, Path], with_tshark: bool, with_tshark_engine: bool
) -> list[Command]:
    pcap = files["pcap"]
    variants = [("pushcap", pcap, False), ("pushcap stdin", pcap, True)]
    variants += [
        (f"pushcap {kind}", files[kind], False) for kind in ("pcapng", "gzip") if kind in files
    ]
    out = [
        Command(name, size, path, pushcap_argv("-" if stdin else str(path)), stdin, True, (0, 1))
        for name, path, stdin in variants
    ]
    if with_tshark_engine:
        argv = tshark_engine_argv(str(pcap))
        out.append(Command(TSHARK_ENGINE, size, pcap, argv, report=True, ok_codes=(0, 1)))
    if with_tshark:
        out.append(Command("tshark", size, pcap, tshark_argv(pcap)))
    out.append(Command("tcpdump -nr", size, pcap, ["tcpdump", "-nr", str(pcap)]))
    out.append(Command("cat", size, pcap, ["cat", str(pcap)]))
    return out


def gnu_time() -> str | None:
    """/usr/bin/time if it is GNU time (``-f``/``-o``), else None."""
    path = shutil.which("time", path="/usr/bin:/bin")
    if path is None:
        return None
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return path if "GNU" in done.stdout + done.stderr else None


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, Any]:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


def run_once(cmd: Command, work: Path, timer: str | None) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (KiB) of the command, and its exit code.

    A child forked from this (large) Python process starts with its high-water
    RSS, and exec keeps it: wait4 would report at least our own RSS for `cat`.
    So the command runs under GNU time, whose own RSS is tiny, and GNU time's
    wait4 figures for its child are read back; without GNU time, our wait4's.
    """
    stats = work / "time.txt"
    argv = [timer, "-f", "%U %S %M", "-o", str(stats), *cmd.argv] if timer else cmd.argv
    with (work / "out.json").open("wb") as out, (work / "err.txt").open("wb") as err:
        stdout = out if cmd.report else subprocess.DEVNULL
        start = time.perf_counter()
        if cmd.stdin_file:
            feeder = subprocess.Popen(["cat", str(cmd.path)], stdout=subprocess.PIPE)
            proc = subprocess.Popen(argv, stdin=feeder.stdout, stdout=stdout, stderr=err)
            assert feeder.stdout is not None
            feeder.stdout.close()
            code, usage = _reap(proc)
            _reap(feeder)
        else:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
            code, usage = _reap(proc)
        wall = time.perf_counter() - start
    if timer:
        user, system, rss = stats.read_text().split("\n")[-2].split()
        return wall, float(user) + float(system), int(rss), code
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code


def measure(
    cmds: list[Command],
    runs: int,
    frames: dict[str, int],
    sidecars: dict[str, Any],
    work: Path,
    timer: str | None,
) -> list[Result]:
    results = [Result(c.name, c.size, c.path, frames[c.size]) for c in cmds]
    for path in {c.path for c in cmds}:
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache
    for r in range(runs):
        for cmd, res in zip(cmds, results, strict=True):
            if res.error:
                continue
            out, err = work / "out.json", work / "err.txt"
            wall, cpu, rss, code = run_once(cmd, work, timer)
            print(
                f"  run {r + 1}/{runs} {cmd.name:<16} {cmd.path.name:<17} {wall:8.2f} s",
                file=sys.stderr,
                flush=True,
            )
            if code not in cmd.ok_codes:
                tail = err.read_text(errors="replace").strip().splitlines()[-3:]
                res.error = f"exit {code}: {' | '.join(tail)}"
                continue
            res.walls.append(wall)
            res.cpus.append(cpu)
            res.rss_kb.append(rss)
            if cmd.report:
                try:
                    problems = check_report(json.loads(out.read_bytes()), sidecars[cmd.size])
                except ValueError as exc:
                    problems = [f"not a JSON report: {exc}"]
                res.check = sorted(set(res.check or []) | set(problems))
    return results


def prepare(
    size: str, frames: int, seed: int, work: Path
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Generate (or reuse, when the sidecar says the same seed and size) one size's files."""
    files = {"pcap": work / f"{size}.pcap"}
    if size == "small":
        files |= {"pcapng": work / f"{size}.pcapng", "gzip": work / f"{size}.pcap.gz"}
    sidecar = work / f"{size}.expected.json"
    if sidecar.exists() and all(p.exists() for p in files.values()):
        doc = json.loads(sidecar.read_text())
        if doc.get("seed") == seed and doc.get("frames_requested") == frames:
            print(f"reusing {size}: {doc['frames']:,} frames in {work}", file=sys.stderr)
            return files, doc
    need = frames * BYTES_PER_FRAME * (3 if size == "small" else 1)
    free = shutil.disk_usage(work).free
    if free < need * 1.2:
        sys.exit(
            f"bench: {work} has {free / 1e9:.1f} GB free, {size} needs about {need / 1e9:.1f} GB"
        )
    print(
        f"generating {size} ({frames:,} frames, seed {seed}) in {work} …",
        file=sys.stderr,
        flush=True,
    )
    argv = [
        sys.executable,
        str(Path(__file__).with_name("gencap.py")),
        "--frames",
        str(frames),
        "--seed",
        str(seed),
        "-o",
        str(files["pcap"]),
        "--sidecar",
        str(sidecar),
    ]
    for kind in ("pcapng", "gzip"):
        if kind in files:
            argv += [f"--{kind}", str(files[kind])]
    subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)  # a child: our RSS stays small
    doc = json.loads(sidecar.read_text())
    print(
        f"  {doc['frames']:,} frames, {doc['pcap_bytes'] / 1e6:,.0f} MB, "
        f"{len(doc['flows'])} flows, in {doc['seconds_to_generate']} s "
        f"(bench/gencap.py --frames {frames} --seed {seed})",
        file=sys.stderr,
    )
    return files, doc


def profile(path: Path, work: Path, top: int = 25) -> str:
    """pyinstrument's call tree (when installed) and cProfile's top functions by own time."""
    out: list[str] = []
    argv = ["-m", "analyzer", "analyze", "--format", "json", "-q", str(path)]
    has_pyinstrument = (
        subprocess.run(
            [str(PYTHON), "-c", "import pyinstrument"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if has_pyinstrument:
        text = work / "pyinstrument.txt"
        subprocess.run(
            [
                str(PYTHON),
                "-m",
                "pyinstrument",
                "-r",
                "text",
                "--no-color",
                "--unicode",
                "-p",
                "processor_options.filter_threshold=0.01",
                "-o",
                str(text),
                *argv,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            check=False,
        )
        out += ["pyinstrument (wall-clock sampling):", text.read_text().rstrip(), ""]
    else:
        out.append("(pyinstrument is not installed in .venv: `.venv/bin/pip install pyinstrument`)")
    stats_file = work / "cprofile.out"
    subprocess.run(
        [str(PYTHON), "-m", "cProfile", "-o", str(stats_file), *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    sink = work / "pstats.txt"
    with sink.open("w") as stream:
        stats = pstats.Stats(str(stats_file), stream=stream)
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
    lines = sink.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    totals = next((line.strip() for line in lines if "function calls" in line), "")
    out += [
        f"cProfile, top {top} by own time ({totals}; cProfile inflates per-call costs):",
        *lines[start:],
    ]
    return "\n".join(out).rstrip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="small,large", help="small, large or small,large")
    ap.add_argument("--runs", type=int, default=3, help="runs per command (the median is shown)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--keep", type=Path, metavar="DIR", help="generate into DIR and keep (reuse) it"
    )
    ap.add_argument("--skip-tshark-large", action="store_true", help="no tshark on the large file")
    ap.add_argument(
        "--tshark-engine-large",
        action="store_true",
        help="also `pushcap analyze --engine tshark` on the large file (minutes, ~3 GB for tshark)",
    )
    ap.add_argument("--profile", action="store_true", help="profile pushcap on the small file")
    ap.add_argument("--small-frames", type=int, default=SIZES["small"])
    ap.add_argument("--large-frames", type=int, default=SIZES["large"])
    args = ap.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if not sizes or any(s not in SIZES for s in sizes):
        ap.error("--sizes takes small, large or small,large")
    if not PUSHCAP.exists():
        sys.exit(f"bench: {PUSHCAP} is missing: run `make setup` first")
    for tool in ("tshark", "tcpdump", "cat"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed (make system-deps)")
    wanted = {"small": args.small_frames, "large": args.large_frames}
    work = args.keep or Path(tempfile.mkdtemp(prefix="pushcap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    timer = gnu_time()
    print(machine(ROOT))
    print(
        f"timing:   {'GNU time (' + timer + ')' if timer else 'os.wait4'}: wall median of "
        f"{args.runs} runs, CPU = user + system, RSS = peak resident set"
    )
    try:
        cmds: list[Command] = []
        frames: dict[str, int] = {}
        sidecars: dict[str, Any] = {}
        for size in sizes:
            files, doc = prepare(size, wanted[size], args.seed, work)
            frames[size], sidecars[size] = doc["frames"], doc
            cmds += commands(
                size,
                files,
                with_tshark=not (size == "large" and args.skip_tshark_large),
                with_tshark_engine=size == "small" or args.tshark_engine_large,
            )
        for size in sizes:
            doc = sidecars[size]
            print(
                f"{size}: seed {doc['seed']}, {doc['frames']:,} frames, {doc['pcap_bytes'] / 1e6:,.1f} MB; "
                f"jobs {doc['jobs']}; {doc['blobs']} blobs; {doc['reordered_segments']} reordered and "
                f"{doc['retransmitted_segments']} retransmitted segments; {len(doc['flows'])} flows "
                f"planted ({_rules(doc)})"
            )
        results: list[Result] = []
        for size in sizes:
            chosen = [c for c in cmds if c.size == size]
            results += measure(chosen, args.runs, frames, sidecars, work, timer)
        print(
            f"\nmedian of {args.runs} runs; load average now "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
        )
        print(table(results))
        print()
        print(ratios(results))
        wrong = [(r, p) for r in results for p in (r.check or [])]
        print("\nfindings: " + ("every pushcap report is right" if not wrong else "WRONG:"))
        for r, problem in wrong:
            print(f"  {r.name} on {r.path.name}: {problem}")
        if args.profile:
            small = work / "small.pcap"
            if not small.exists():
                prepare("small", wanted["small"], args.seed, work)
            print("\nprofile of `pushcap analyze --format json -q small.pcap`:\n")
            print(profile(small, work))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _rules(doc: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for flow in doc["flows"]:
        counts[flow["rule"]] = counts.get(flow["rule"], 0) + 1
    return ", ".join(f"{n} {rule}" for rule, n in sorted(counts.items()))


if __name__ == "__main__":
    main()
