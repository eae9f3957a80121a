"""Files done, findings so far and rate, on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from analyzer.audit.summary import AuditSummary

BAR_WIDTH = 24


class AuditProgress:
    """One line redrawn in place; cleared before anything else is written to the terminal."""

    def __init__(self, total: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.next_at = 0.0
        self.shown = False

    def update(self, summary: AuditSummary, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now < self.next_at and not force):
            return
        self.next_at = now + 0.1
        done = summary.done
        filled = BAR_WIDTH * done // max(self.total, 1)
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        rate = done / max(now - self.start, 1e-9)
        line = (
            f"\raudit {bar} {done}/{self.total} files · {summary.findings} findings in "
            f"{summary.failing} failing · {len(summary.errors)} unreadable · {rate:,.1f} files/s"
        )
        self.stream.write(line + "\033[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
