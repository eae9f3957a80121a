"""analyzer.live: snapshots of findings in, finding/update/withdrawn events out."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from analyzer.findings import Evidence, Fact, Finding, Severity
from analyzer.live import (
    EventKind,
    LiveEvent,
    VerdictTracker,
    event_dict,
    event_line,
    evidence_changes,
    is_certain,
)
from analyzer.pipeline import Analyzer
from tests.builders import Tcp, Trace, challenge_401, http_request

CLIENT, REGISTRY = "192.168.1.100", "180.119.140.230:8200"
REALM = "http://172.16.200.100:8200/service/token"


def finding(
    rule: str = "token-service-unreachable",
    severity: Severity = Severity.ERROR,
    confidence: str = "high",
    *,
    realm: str = REALM,
    rows: int = 3,
    **facts: Fact,
) -> Finding:
    base: dict[str, Fact] = {"attempts": 1, "syn_retransmissions": 2, "span_s": 2.0}
    base.update(facts)
    return Finding(
        rule=rule,
        severity=severity,
        confidence=confidence,
        summary=f"{CLIENT} → {REGISTRY}: {rule}, {base['syn_retransmissions']} retransmissions",
        explanation="…",
        symptom="…",
        client=CLIENT,
        registry=REGISTRY,
        realm=realm,
        facts=tuple(base.items()),
        evidence=tuple(Evidence(n, n * 10**9, "a", "b", "SYN") for n in range(1, rows + 1)),
    )


def kinds(events: list[LiveEvent]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.finding.rule) for e in events]


@pytest.mark.parametrize(
    ("severity", "confidence", "certain"),
    [
        (Severity.ERROR, "high", True),
        (Severity.WARNING, "high", True),
        (Severity.ERROR, "medium", False),
        (Severity.WARNING, "low", False),
        (Severity.INFO, "high", False),  # "token flow OK" is good news, not a diagnosis
    ],
)
def test_certainty(severity: Severity, confidence: str, certain: bool) -> None:
    assert is_certain(finding(severity=severity, confidence=confidence)) is certain


# Each case: the snapshots, one after the other, and the events each must give.
CASES: dict[str, list[tuple[list[Finding], list[tuple[str, str]]]]] = {
    "medium then high: announced once it is certain": [
        ([finding(confidence="medium", syn_retransmissions=1, rows=2)], []),
        ([finding()], [("finding", "token-service-unreachable")]),
    ],
    "the same snapshot again: nothing": [
        ([finding()], [("finding", "token-service-unreachable")]),
        ([finding()], []),
        ([finding()], []),
    ],
    "more retransmissions: one update each time": [
        ([finding()], [("finding", "token-service-unreachable")]),
        ([finding(syn_retransmissions=3, rows=4)], [("update", "token-service-unreachable")]),
        ([finding(syn_retransmissions=3, rows=4)], []),
        (
            [finding(attempts=2, syn_retransmissions=5, rows=7)],
            [("update", "token-service-unreachable")],
        ),
    ],
    "elapsed time alone: no update": [
        ([finding()], [("finding", "token-service-unreachable")]),
        ([finding(span_s=9.5, capture_after_first_attempt_s=30.0)], []),
    ],
    "never certain: never shown": [
        ([finding(confidence="medium")], []),
        ([finding(rule="realm-not-contacted", severity=Severity.INFO, confidence="low")], []),
        ([finding(rule="token-flow-ok", severity=Severity.INFO)], []),
    ],
    "the verdict changes: the old one is withdrawn": [
        ([finding()], [("finding", "token-service-unreachable")]),
        (
            [finding(rule="token-flow-ok", severity=Severity.INFO)],
            [("withdrawn", "token-service-unreachable")],
        ),
    ],
    "another rule for the same flow is another finding": [
        ([finding()], [("finding", "token-service-unreachable")]),
        (
            [finding(rule="token-service-refused")],
            [("finding", "token-service-refused"), ("withdrawn", "token-service-unreachable")],
        ),
    ],
    "two realms: two findings, each updated on its own": [
        (
            [finding(), finding(realm="http://10.0.0.9:5001/auth")],
            [("finding", "token-service-unreachable"), ("finding", "token-service-unreachable")],
        ),
        (
            [finding(), finding(realm="http://10.0.0.9:5001/auth", attempts=2)],
            [("update", "token-service-unreachable")],
        ),
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_event_sequences(case: str) -> None:
    tracker = VerdictTracker()
    for n, (snapshot, expected) in enumerate(CASES[case]):
        assert kinds(tracker.observe(snapshot)) == expected, f"snapshot {n}"


def test_update_names_what_moved_and_carries_the_clock() -> None:
    before = finding()
    now = finding(syn_retransmissions=3, span_s=3.0, rows=4)
    changes = evidence_changes(before, now)
    assert ("syn_retransmissions", 2, 3) in changes
    assert ("span_s", 2.0, 3.0) in changes  # rides along with a real change
    assert ("evidence_rows", 3, 4) in changes
    assert [c[0] for c in changes][-1] == "span_s"
    event = LiveEvent(EventKind.UPDATE, now, changes)
    assert event_line(event).startswith("update token-service-unreachable: ")
    assert "(syn_retransmissions 2→3)" in event_line(event)
    assert "span_s" not in event_line(event)


def test_withdrawn_line_names_the_new_verdict() -> None:
    tracker = VerdictTracker()
    tracker.observe([finding()])
    (event,) = tracker.observe([finding(rule="token-flow-ok", severity=Severity.INFO)])
    assert event.replaced_by == "token-flow-ok"
    assert "(now: token-flow-ok)" in event_line(event)


def test_event_dict_is_one_json_line_with_the_finding_fields() -> None:
    tracker = VerdictTracker()
    (new,) = tracker.observe([finding()])
    (upd,) = tracker.observe([finding(syn_retransmissions=4, rows=5)])
    doc = event_dict(new, first_ts=0)
    assert doc["event"] == "finding"
    assert doc["rule"] == "token-service-unreachable"
    assert doc["realm"] == REALM
    assert doc["facts"]["syn_retransmissions"] == 2
    update = event_dict(upd, first_ts=0)
    assert update["event"] == "update"
    assert update["changed"]["syn_retransmissions"] == {"before": 2, "now": 4}
    for doc in (new, upd):
        line = json.dumps(event_dict(doc, 0), ensure_ascii=False)
        assert "\n" not in line


def test_severity_change_is_an_update_even_without_new_facts() -> None:
    tracker = VerdictTracker()
    tracker.observe([finding(severity=Severity.WARNING)])
    (event,) = tracker.observe([finding()])
    assert event.kind is EventKind.UPDATE
    assert event.changes == (("severity", "warning", "error"),)


def test_streaming_through_the_pipeline_certain_at_the_second_retransmission() -> None:
    """Frame by frame, as the sniffer feeds them: the diagnosis appears while the SYNs go on."""
    trace = Trace()
    reg = Tcp(trace, "192.168.1.100", 52110, "180.119.140.230", 8200)
    reg.handshake()
    reg.send(http_request("GET", "/v2/", "180.119.140.230:8200"))
    reg.reply(challenge_401(REALM))
    syns = Tcp(trace, "192.168.1.100", 40001, "172.16.200.100", 8200).syns((1.0, 1.0, 1.0, 1.0))
    analyzer = Analyzer()
    tracker = VerdictTracker()
    seen: dict[int, list[LiveEvent]] = {}
    for frame in trace.frames:
        analyzer.feed(frame)
        events = tracker.observe(analyzer.findings())
        if events:
            seen[frame[0]] = events
    first, retrans1, retrans2, *later = syns
    assert first not in seen and retrans1 not in seen  # medium confidence: not yet said
    assert [e.kind for e in seen[retrans2]] == [EventKind.FINDING]
    assert seen[retrans2][0].finding.fact("syn_retransmissions") == 2
    for n, frame_no in enumerate(later, 3):
        (event,) = seen[frame_no]
        assert event.kind is EventKind.UPDATE
        assert ("syn_retransmissions", n - 1, n) in event.changes
    assert set(seen) == {retrans2, *later}


def test_announced_lists_current_certain_findings() -> None:
    tracker = VerdictTracker()
    tracker.observe([finding(), finding(confidence="medium", realm="http://x:1/t")])
    assert [f.realm for f in tracker.announced] == [REALM]
    tracker.observe([replace(finding(), rule="token-service-refused")])
    assert [f.rule for f in tracker.announced] == ["token-service-refused"]
