"""Write the damaged and hostile capture corpus, byte for byte the same on every run.

    python captures/broken/generate.py [--out DIR] [--check]

Every file is built with ``struct`` from fixed values (``_build.py``); the
cases and what ``pushcap analyze`` must make of each are in ``_cases_file.py``
(the file formats) and ``_cases_content.py`` (what is inside the packets).
README.md beside this script is generated from the same table. ``--check``
writes nothing and exits 1 when a committed file differs from a fresh build.
The big inputs (a 10 MB header block, a million SYNs, a million out-of-order
segments) are not committed: ``tests/hostile/conftest.py`` builds them at test
time with the same builders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _case import Case  # noqa: E402
from _cases_content import CASES as CONTENT_CASES  # noqa: E402
from _cases_file import CASES as FILE_CASES  # noqa: E402

CASES: list[Case] = [*FILE_CASES, *CONTENT_CASES]
SUFFIXES = (".pcap", ".pcapng", ".gz")

README_HEAD = """\
# Damaged and hostile captures

Captures come from stuck machines, cut short, copied through tickets, sometimes
crafted. Every file here is written by `generate.py` (`struct` only, no clock,
no randomness; `tests/hostile/test_broken_corpus.py` checks the committed
bytes and this README against a fresh run):

```
.venv/bin/python captures/broken/generate.py           # rewrite the files and this README
.venv/bin/python captures/broken/generate.py --check   # compare only
```

What `pushcap analyze FILE` must do with each, checked by the tests for every
file: exit 2 with a clear error on stderr when nothing is readable; otherwise
the report of what was read (exit 0, or 1 with a finding of warning level or
worse) with a warning that says where and why reading stopped (`read_problems`
in JSON, `warning:` lines in text) or what was dropped (`weirds`, `notes`);
never a traceback, never a hang (10 s timeout), peak RSS under 200 MB.
Most files are the founding case (`GET /v2/` → `401` with the internal realm
`http://172.16.200.100:8200/service/token`, then unanswered SYNs toward it)
with one thing broken, so a damaged file still shows what could be diagnosed.

Built at test time, not committed (`tests/hostile/_big.py`, checked in
`tests/hostile/test_big_inputs.py` with a time limit and a peak-RSS bound each):
a 10 MB HTTP header block; a 20 MB chunked body that never ends; 200,000 SYNs to
distinct ports against `--max-flows 20000` (the flow table's bound, exceeded ten
times); 200,000 one-byte out-of-order segments on one connection in reversed
blocks of 5,000 (the 1,024-segment reassembly store, overflowed 195 times);
100,000 retransmissions while 1,000 segments wait out of order; 100,000
fragment sets and one datagram of 200 overlapping fragments; 20,000 DNS names;
5,000 clients challenged with 5,000 realms. `PUSHCAP_BIG=1` scales the SYNs,
segments, retransmissions and challenges five times (a million SYNs).

| file | what it holds | exit | the output says |
|---|---|---|---|
"""


def _escaped(text: str) -> str:
    """Control characters as escapes: the README must not carry them raw."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def readme() -> str:
    rows = []
    for case in CASES:
        says = "; ".join(f"`{_escaped(e)}`" for e in case.expect)
        if case.absent:
            says += "; never " + ", ".join(f"`{_escaped(a)}`" for a in case.absent)
        rows.append(f"| `{case.name}` | {case.holds} | {case.exit} | {says} |")
    return README_HEAD + "\n".join(rows) + "\n"


def outputs() -> dict[str, bytes]:
    files = {case.name: case.data for case in CASES}
    if len(files) != len(CASES):
        raise SystemExit("two cases share a file name")
    files["README.md"] = readme().encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write into")
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args(argv)
    files = outputs()
    if args.check:
        stale = [n for n, data in files.items() if not _same(args.out / n, data)]
        extra = sorted(
            p.name for p in args.out.iterdir() if p.name.endswith(SUFFIXES) and p.name not in files
        )
        for name in stale + extra:
            print(f"{name}: differs from a fresh run of generate.py", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _same(path: Path, data: bytes) -> bool:
    return path.is_file() and path.read_bytes() == data


if __name__ == "__main__":
    sys.exit(main())
