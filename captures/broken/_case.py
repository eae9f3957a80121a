"""One file of the damaged corpus and what ``pushcap analyze`` must make of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    exit: int  # exit code of `pushcap analyze FILE`: 2 nothing readable, else 0/1 by the findings
    expect: tuple[str, ...]  # each appears in the JSON report or on stderr
    holds: str  # what the file is, for the README
    absent: tuple[str, ...] = ()  # never appears anywhere in the output (secrets)
