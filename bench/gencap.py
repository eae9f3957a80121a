"""Generate large captures of registry traffic for the benchmark, deterministically from a seed.

    .venv/bin/python bench/gencap.py --frames 200000 [--seed 1] -o FILE.pcap
                                     [--pcapng FILE.pcapng] [--gzip FILE.pcap.gz] [--sidecar FILE.json]

How this works: :func:`make_plan` draws, from ``random.Random(seed)``, a list
of jobs until their estimated frame count reaches ``--frames``: docker
pushes (multi-MB layers, some already on the registry) and pulls against
three healthy registries (Harbor with the realm on itself on :8200 and on
:80, Distribution with a separate token host, both by DNS name), HTTPS
downloads, plus a fixed share of failed pushes: toward the founding case's
registry, whose realm ``172.16.200.100:8200`` never answers, and toward one
whose realm refuses with RST; and, over the whole capture, each client's DNS
lookups and an SSH session. A job's time advances in proportion to its size
(about 1,500 frames per second of capture). Each job becomes generators of
``(time_us, frame)`` (see ``_gen_jobs``) that one heap merges by time; frames
go out in batches, formatted as pcap (µs, little-endian, Ethernet) and/or
pcapng and/or gzip (level 6, mtime 0), written by background threads (file
writes and zlib release the GIL).

The sidecar JSON says what was planted, per (client, registry, realm) flow
(the unit pushcap reports on): ``token-flow-ok`` for the healthy ones;
``token-service-unreachable`` / ``token-service-refused`` with the number of
attempts and SYN retransmissions, summed over the failed pushes of that
client. It also holds the frame count, the planted faults and the job mix.
The frame count is only about ``--frames`` (the plan estimates; the sidecar
has the real number).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _gen_payloads as pay
from _gen_cast import (
    CLIENTS,
    HEALTHY,
    NOISE_NAMES,
    REFUSED,
    REPOS,
    RESOLVER,
    SSH_PEER,
    TLS_SERVERS,
    UNREACHABLE,
    remote,
)
from _gen_jobs import OLD_KERNEL_SYN_SCHEDULE, Env, Job, generators
from _gen_packets import MSS, Faults, Host
from _gen_writers import PCAP_HEADER, PCAPNG_HEADER, Output, pcap_chunk, pcapng_chunk

FRAMES_PER_CAPTURE_S = 1500
BATCH = 32768


def _msg(n: int) -> int:
    """Frames for ``n`` bytes in one direction: segments plus an ack every second one."""
    segs = -(-n // MSS)
    return segs + (segs + 1) // 2


def estimate(job: Job) -> int:
    """Frames a job will produce (close to, not exactly: faults and header sizes vary)."""
    reg = job.registry
    if job.kind == "tls":
        return 12 + _msg(job.blobs[0][0] * 1003 // 1000)
    if job.kind == "fail":
        return 25 + job.attempts * 5
    assert reg is not None
    per_conn = 6 + 4 + 4 + (0 if reg.realm_on_registry else 14) + 3
    total = job.conns * per_conn + 8 + (8 if job.probe else 0)
    for size, exists in job.blobs:
        if job.kind == "pull":
            total += 2 + _msg(size + 300)
        elif exists:
            total += 4
        else:
            total += 4 + 4 + 4 + 2 + _msg(size + 600 + (size // 32768) * 8)
    return total


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(low * (high / low) ** rng.random())


class _Ports:
    """Blocks of 64 source ports per client, handed out in order (no 4-tuple is reused)."""

    def __init__(self, rng: random.Random) -> None:
        self.next = {c: 32768 + 64 * rng.randrange(100) for c in CLIENTS}
        self.next[SSH_PEER] = 40000

    def block(self, host: Host) -> int:
        port = self.next[host]
        self.next[host] = port + 64 if port + 128 < 61000 else 32768
        return port


def make_plan(seed: int, frames: int) -> tuple[list[Job], int]:
    """The jobs (sorted by start) and the capture's planned length in µs."""
    rng = random.Random(seed)
    ports = _Ports(rng)
    jobs: list[Job] = []
    t = 0
    total = 0
    n = 0

    def job(kind: str, start: int, client: Host, **kw: Any) -> Job:
        nonlocal n
        n += 1
        return Job(kind, start, client, ports.block(client), f"{seed}:{n}", **kw)

    while total < frames * 0.97:
        client = rng.choice(CLIENTS)
        kind = rng.choices(("push", "pull", "tls"), (0.5, 0.35, 0.15))[0]
        gap = rng.choice((40, 60, 80, 120))
        if kind == "tls":
            ip, sni = rng.choice(TLS_SERVERS)
            size = _log_uniform(rng, 20_000, 3_000_000)
            new = job(
                "tls",
                t,
                client,
                peer=remote(ip, 54),
                label=sni,
                blobs=((size, False),),
                gap_us=gap,
            )
        else:
            count = rng.randint(1, 5) if kind == "push" else rng.randint(1, 4)
            blobs = [
                (_log_uniform(rng, 200_000, 12_000_000), rng.random() < 0.25) for _ in range(count)
            ]
            if kind == "push":
                blobs.append((rng.randrange(2000, 9000), False))  # the image config
            new = job(
                kind,
                t,
                client,
                registry=rng.choice(HEALTHY),
                repo=rng.choice(REPOS),
                blobs=tuple(blobs),
                conns=min(3, len(blobs)),
                probe=rng.random() < 0.3,
                gap_us=gap,
            )
        jobs.append(new)
        size = estimate(new)
        total += size
        t += int(rng.expovariate(1.0) * size / FRAMES_PER_CAPTURE_S * 1_000_000)
    end = t
    for registry, count in (
        (UNREACHABLE, max(3, frames // 40_000)),
        (REFUSED, max(2, frames // 80_000)),
    ):
        for _ in range(count):
            attempts = rng.choice((2, 3, 3, 4)) if registry is UNREACHABLE else rng.randint(2, 5)
            jobs.append(
                job(
                    "fail",
                    rng.randrange(end),
                    rng.choice(CLIENTS),
                    registry=registry,
                    attempts=attempts,
                    probe=rng.random() < 0.5,
                )
            )
    finish = end + 150_000_000
    jobs += [
        job("dns", rng.randrange(2_000_000), c, label=NOISE_NAMES, end=finish) for c in CLIENTS
    ]
    jobs.append(job("ssh", rng.randrange(1_000_000), CLIENTS[0], peer=SSH_PEER, end=finish))
    jobs.sort(key=lambda j: j.start)
    return jobs, finish


def expected_flows(jobs: list[Job]) -> list[dict[str, Any]]:
    """One entry per (client, registry, realm): what pushcap must report for it."""
    flows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for j in jobs:
        reg = j.registry
        if reg is None:
            continue
        key = (j.client.text, reg.endpoint, reg.realm)
        entry = flows.setdefault(key, {"client": key[0], "registry": key[1], "realm": key[2]})
        if reg.fate == "ok":
            entry["rule"] = "token-flow-ok"
            entry["jobs"] = entry.get("jobs", 0) + 1
            continue
        entry["rule"] = f"token-service-{reg.fate}"
        entry["failed_pushes"] = entry.get("failed_pushes", 0) + 1
        entry["attempts"] = entry.get("attempts", 0) + j.attempts
        retrans = len(OLD_KERNEL_SYN_SCHEDULE) * j.attempts if reg.fate == "unreachable" else 0
        entry["syn_retransmissions"] = entry.get("syn_retransmissions", 0) + retrans
    return sorted(flows.values(), key=lambda e: (e["rule"], e["client"], e["registry"]))


def expected_cleartext(jobs: list[Job]) -> list[dict[str, Any]]:
    """Per endpoint that received an Authorization header over plain HTTP: how many, from whom.

    Each connection of a push or pull sends one Basic token request to the
    realm's endpoint, then Bearer requests to the registry: per layer a HEAD,
    plus POST, PATCH and PUT when the layer is uploaded (a pull: one GET per
    blob), and on the first connection the manifest PUT (or GET).
    """
    seen: dict[str, dict[str, Any]] = {}

    def add(where: str, scheme: str, n: int, client: str) -> None:
        entry = seen.setdefault(
            where,
            {
                "rule": "credentials-in-cleartext",
                "registry": where,
                "basic_requests": 0,
                "bearer_requests": 0,
                "clients": [],
            },
        )
        entry[f"{scheme}_requests"] += n
        if client not in entry["clients"]:
            entry["clients"].append(client)

    for j in jobs:
        reg = j.registry
        if reg is None or j.kind not in ("push", "pull"):
            continue
        for k in range(j.conns):
            mine = [exists for i, (_, exists) in enumerate(j.blobs) if i % j.conns == k]
            add(f"{reg.token_host.text}:{reg.token_port}", "basic", 1, j.client.text)
            per_blob = sum(1 if exists else 4 for exists in mine) if j.kind == "push" else len(mine)
            add(reg.endpoint, "bearer", per_blob + (k == 0), j.client.text)
    for entry in seen.values():
        entry["clients"].sort(key=lambda c: tuple(int(x) for x in c.split(".")))
    return sorted(seen.values(), key=lambda e: e["registry"])


def generate(
    seed: int,
    frames: int,
    pcap: Path | None = None,
    pcapng: Path | None = None,
    gz: Path | None = None,
    sidecar: Path | None = None,
) -> dict[str, Any]:
    """Write the capture(s) and the sidecar; return the sidecar's content."""
    started = time.monotonic()
    jobs, _ = make_plan(seed, frames)
    env = Env(RESOLVER, pay.BlobPool(random.Random(f"{seed}:pool")), Faults())
    heap: list[tuple[int, int, bytes, Any]] = []
    for job in jobs:
        for gen in generators(job, env):
            first = next(gen, None)
            if first is not None:
                heap.append((first[0], len(heap), first[1], gen))
    heapq.heapify(heap)
    plain = Output(pcap, PCAP_HEADER, False) if pcap else None
    packed = Output(gz, PCAP_HEADER, True) if gz else None
    ng = Output(pcapng, PCAPNG_HEADER, False) if pcapng else None
    count = size = 0
    batch: list[tuple[int, bytes]] = []
    add = batch.append
    replace, pop = heapq.heapreplace, heapq.heappop
    while heap:
        t, idx, frame, gen = heap[0]
        add((t, frame))
        nxt = next(gen, None)
        if nxt is None:
            pop(heap)
        else:
            replace(heap, (nxt[0], idx, nxt[1], gen))
        if len(batch) >= BATCH or not heap:
            count += len(batch)
            if plain or packed:
                chunk = pcap_chunk(batch)
                size += len(chunk)
                for out in (plain, packed):
                    if out:
                        out.put(chunk)
            if ng:
                ng.put(pcapng_chunk(batch))
            batch.clear()
    for out in (plain, packed, ng):
        if out:
            out.close()
    kinds = Counter(j.kind for j in jobs)
    doc: dict[str, Any] = {
        "generator": "bench/gencap.py",
        "seed": seed,
        "frames_requested": frames,
        "frames": count,
        "pcap_bytes": size + len(PCAP_HEADER),
        "jobs": dict(sorted(kinds.items())),
        "blobs": sum(len(j.blobs) for j in jobs if j.kind in ("push", "pull")),
        "blob_bytes": sum(
            s for j in jobs if j.kind in ("push", "pull") for s, e in j.blobs if not e
        ),
        "reordered_segments": env.faults.reordered,
        "retransmitted_segments": env.faults.retransmitted,
        "flows": expected_flows(jobs),
        "cleartext": expected_cleartext(jobs),
        "seconds_to_generate": round(time.monotonic() - started, 2),
    }
    if sidecar:
        sidecar.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200_000, help="about this many frames")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path, help="pcap (µs) to write")
    ap.add_argument("--pcapng", type=Path, help="the same frames as pcapng")
    ap.add_argument("--gzip", type=Path, help="the pcap, gzip-compressed")
    ap.add_argument("--sidecar", type=Path, help="what was planted (default: first output + .json)")
    args = ap.parse_args()
    first = args.out or args.pcapng or args.gzip
    if first is None:
        ap.error("give at least one of -o, --pcapng, --gzip")
    sidecar = args.sidecar or first.with_name(first.name + ".json")
    doc = generate(args.seed, args.frames, args.out, args.pcapng, args.gzip, sidecar)
    print(
        f"{doc['frames']:,} frames, {doc['pcap_bytes'] / 1e6:,.1f} MB as pcap, "
        f"{len(doc['flows'])} flows, in {doc['seconds_to_generate']} s; sidecar {sidecar}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
