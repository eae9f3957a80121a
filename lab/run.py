"""The lab: real registry traffic recorded in network namespaces, one capture per failure.

    python -m lab.run --all --out captures/real     # every scenario (what `make lab` runs)
    python -m lab.run --scenario founding-case --out /tmp/x [--layers 1] [--timeout 45]
    python -m lab.run --list                        # the scenarios and the diagnosis each must get
    python -m lab.run --hold 60                     # build the empty lab, wait (Ctrl-C tears down)
    python -m lab.run --remove-stale                # namespaces left by a run that was SIGKILLed

How this works. Each scenario builds its own lab (lab/netns.py): four network
namespaces (client 192.168.1.100, a router, the registry on the "public"
198.51.100.230:8200, and an "internal" host 172.16.200.100:8200 for the token
service, as in the founding case), joined by veth pairs made inside the
namespaces, with routes only between the lab's subnets. Real software runs in
them (lab/components.py): Docker Distribution (`docker-registry` 2.8, token
auth whose realm the scenario sets), our token service (lab/token_service.py,
RS256 JWTs signed with openssl that the registry verifies), a DNS server in the
router answering NXDOMAIN (lab/dns_server.py), and skopeo or podman pushing an
image generated from seeded bytes (lab/image.py). The router's nftables chain
carries the scenario's fault: drop, reject with a TCP reset, or reject with
ICMP host unreachable. tcpdump records the client's interface while the
client runs, bounded by a timeout (lab/record.py); the capture is copied out
with a note beside it (lab/notes.py), and pushcap's diagnosis is compared with
the one the scenario expects (lab/scenarios.py).

Traffic never leaves the lab: no namespace has a route to any other address,
and the router forwards only lab-to-lab. Every lab is torn down on return,
error, Ctrl-C or SIGTERM: processes by the PIDs we started, then namespaces.
Missing Debian packages are installed with apt-get when running as root.
Exit status: 0 all recorded and diagnosed as expected, 1 a diagnosis differs,
2 the lab could not run.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python lab/run.py): make `lab` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import notes
from lab.components import PACKAGES, install_missing, missing_commands
from lab.netns import Lab, LabError, guarded, remove_stale, unavailable
from lab.record import record
from lab.scenarios import BY_NAME, SCENARIOS, Scenario

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab.run",
        description="Record real registry pushes in network namespaces (see the module docstring).",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--all", action="store_true", help="record every scenario")
    what.add_argument("--scenario", action="append", choices=sorted(BY_NAME), help="repeatable")
    what.add_argument("--list", action="store_true", help="list the scenarios")
    what.add_argument("--hold", type=float, metavar="S", help="build the lab and wait S seconds")
    what.add_argument("--remove-stale", action="store_true", help="delete orphaned lab namespaces")
    parser.add_argument("--out", type=Path, default=Path("captures/real"))
    parser.add_argument("--layers", type=int, help="override each scenario's layer count")
    parser.add_argument("--timeout", type=float, help="override each scenario's client timeout (s)")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory")
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    return parser


def _hold(seconds: float) -> int:
    with guarded(Lab()) as lab:
        print(" ".join(lab.created), flush=True)  # tests wait for this line
        time.sleep(seconds)
    return EXIT_OK


def _record_all(chosen: Sequence[Scenario], args: argparse.Namespace) -> int:
    work_root = args.work or Path(tempfile.mkdtemp(prefix="pushcap-lab-"))
    mismatches = []
    try:
        for scenario in chosen:
            work = work_root / scenario.name
            shutil.rmtree(work, ignore_errors=True)
            print(f"lab: {scenario.name}: {scenario.summary}", flush=True)
            rec = record(
                scenario, args.out / f"{scenario.name}.pcap", work,
                layers=args.layers, timeout_s=args.timeout,
            )  # fmt: skip
            note = notes.write(rec)
            ok = rec.as_expected
            exit_text = "killed" if rec.exit_code is None else f"exit {rec.exit_code}"
            print(
                f"lab: {scenario.name}: {scenario.client} {exit_text} after {rec.duration_s:.1f} s; "
                f"pushcap: {', '.join(rec.rules) or 'no finding'} "
                f"({'as expected' if ok else 'EXPECTED ' + scenario.expected_rule}); wrote {note}",
                flush=True,
            )
            if not ok:
                mismatches.append(scenario.name)
    finally:
        if args.keep_work:
            print(f"lab: scratch files kept in {work_root}", file=sys.stderr)
        elif args.work is None:
            shutil.rmtree(work_root, ignore_errors=True)
    if mismatches:
        print(f"lab: diagnosis differs for: {', '.join(mismatches)}", file=sys.stderr)
        return EXIT_MISMATCH
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:24} {s.client:7} {s.expected_rule:32} {s.summary}")
        return EXIT_OK
    reason = unavailable()
    if reason is not None:
        print(f"lab: cannot run: {reason}", file=sys.stderr)
        return EXIT_ERROR
    if args.remove_stale:
        print("\n".join(remove_stale()) or "lab: nothing stale")
        return EXIT_OK
    chosen = list(SCENARIOS) if args.all else [BY_NAME[n] for n in args.scenario or ()]
    needed = ["ip", "nft"] if args.hold is not None else list(PACKAGES)
    if not any(s.client == "podman" for s in chosen):
        needed = [c for c in needed if c != "podman"]
    missing = missing_commands(needed) if args.no_install else install_missing(needed)
    if missing:
        print(f"lab: missing commands: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.hold is not None:
            return _hold(args.hold)
        return _record_all(chosen, args)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("lab: interrupted; the lab is torn down", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
