"""Streaming verdicts: successive snapshots of findings in, what to tell the user out.

How this works: while a capture runs, the sniffer calls
:meth:`VerdictTracker.observe` with ``Analyzer.findings()`` from time to time.
A finding is *certain* when its severity is warning or worse and its
confidence is high: for the founding case, the 401 was seen and the realm's
SYN went unanswered through at least two retransmissions. A certain finding is
announced once (:class:`LiveEvent` ``finding``); its identity is (rule, client,
registry, realm), so later snapshots of the same finding produce an ``update``
only when its evidence changed: more attempts, retransmissions, challenges, or
evidence rows. Facts that only measure elapsed time (``*_s``) move on every
snapshot and never cause an update by themselves; they ride along with one. A
finding announced earlier that a snapshot no longer holds (the flow's verdict
changed, for instance the token service answered at last) is ``withdrawn``.

Nothing here reads a clock or prints: findings in, events out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from analyzer.findings import Fact, Finding, Severity
from analyzer.render.jsonout import finding_dict

FindingKey = tuple[str, str | None, str | None, str | None]


class EventKind(StrEnum):
    FINDING = "finding"
    UPDATE = "update"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    kind: EventKind
    finding: Finding  # for WITHDRAWN: the finding as last announced
    changes: tuple[tuple[str, Fact, Fact], ...] = ()  # (fact, before, now), for UPDATE
    replaced_by: str | None = None  # for WITHDRAWN: the flow's current rule, if any

    @property
    def key(self) -> FindingKey:
        return finding_key(self.finding)


def finding_key(f: Finding) -> FindingKey:
    return (f.rule, f.client, f.registry, f.realm)


def is_certain(f: Finding) -> bool:
    return f.severity >= Severity.WARNING and f.confidence == "high"


def _is_clock_fact(name: str) -> bool:
    return name.endswith("_s")


def evidence_changes(before: Finding, now: Finding) -> tuple[tuple[str, Fact, Fact], ...]:
    """What moved between two snapshots of one finding; empty when only the clock did.

    Facts are compared by name; severity, confidence and the number of
    evidence rows count as facts here. Elapsed-time facts are listed last, and
    only when something else moved.
    """
    old: dict[str, Fact] = {
        **dict(before.facts),
        "severity": before.severity.label,
        "confidence": before.confidence,
        "evidence_rows": len(before.evidence),
    }
    new: dict[str, Fact] = {
        **dict(now.facts),
        "severity": now.severity.label,
        "confidence": now.confidence,
        "evidence_rows": len(now.evidence),
    }
    changed = [
        (name, old.get(name), new.get(name))
        for name in {**old, **new}
        if old.get(name) != new.get(name)
    ]
    counted = [c for c in changed if not _is_clock_fact(c[0])]
    if not counted:
        return ()
    return tuple(counted + [c for c in changed if _is_clock_fact(c[0])])


class VerdictTracker:
    """Remembers what was announced; turns each snapshot of findings into events."""

    def __init__(self) -> None:
        self._announced: dict[FindingKey, Finding] = {}

    @property
    def announced(self) -> list[Finding]:
        return list(self._announced.values())

    def observe(self, findings: Iterable[Finding]) -> list[LiveEvent]:
        events: list[LiveEvent] = []
        current: dict[FindingKey, Finding] = {}
        by_flow: dict[tuple[str | None, str | None, str | None], str] = {}
        for f in findings:
            key = finding_key(f)
            current[key] = f
            by_flow[key[1:]] = f.rule
            before = self._announced.get(key)
            if before is None:
                if is_certain(f):
                    self._announced[key] = f
                    events.append(LiveEvent(EventKind.FINDING, f))
                continue
            changes = evidence_changes(before, f)
            if changes:
                self._announced[key] = f
                events.append(LiveEvent(EventKind.UPDATE, f, changes))
        for key, f in list(self._announced.items()):
            if key not in current:
                del self._announced[key]
                events.append(LiveEvent(EventKind.WITHDRAWN, f, replaced_by=by_flow.get(key[1:])))
        return events


def _fact_text(value: Fact) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)


def event_line(event: LiveEvent) -> str:
    """One line for a person: what an update or a withdrawal says."""
    f = event.finding
    if event.kind is EventKind.WITHDRAWN:
        now = f" (now: {event.replaced_by})" if event.replaced_by else ""
        return f"withdrawn {f.rule}: {f.client} → {f.registry}: no longer holds{now}"
    if event.kind is EventKind.UPDATE:
        moved = ", ".join(
            f"{name} {_fact_text(old)}→{_fact_text(new)}"
            for name, old, new in event.changes
            if not _is_clock_fact(name) and name != "evidence_rows"
        )
        return f"update {f.rule}: {f.summary}" + (f" ({moved})" if moved else "")
    return f"{f.severity.label} {f.rule}: {f.summary}"


def event_dict(event: LiveEvent, first_ts: int | None) -> dict[str, Any]:
    """One JSON line of ``--format jsonl``: the event name, then the finding's fields."""
    doc: dict[str, Any] = {"event": event.kind.value, **finding_dict(event.finding, first_ts)}
    if event.kind is EventKind.UPDATE:
        doc["changed"] = {name: {"before": old, "now": new} for name, old, new in event.changes}
    elif event.kind is EventKind.WITHDRAWN:
        doc["replaced_by"] = event.replaced_by
    return doc
