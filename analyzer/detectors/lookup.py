"""Observations indexed once per detector run, so judging a flow never rescans them all.

Judging one flow looks up the client's failed and established connections to
the realm's addresses, its requests on the realm's path and its Bearer requests
to the registry. Scanning every record for every flow made a capture with
thousands of challenges quadratic (20,000 flows × 60,000 records); these
dictionaries make each lookup cost what it finds. Lists keep the order of the
records they index, so results are the same as a scan's.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.addr import ip_text
from analyzer.exchanges import Exchange
from analyzer.observations import AcceptedBearer, ConnSummary, Observations
from analyzer.realm import parse_realm

# (client, address as text, port)
Target = tuple[bytes, str, int]


def request_path(target: str) -> str:
    """The path of a request target, also in absolute form (through a proxy)."""
    path = target.split("?", 1)[0]
    if path.startswith(("http://", "https://")):
        parsed = parse_realm(path)
        path = parsed.path if parsed else path
    return path


@dataclass(frozen=True, slots=True)
class ObservationIndex:
    failed: dict[Target, list[ConnSummary]]
    established: dict[Target, int]
    requests: dict[tuple[bytes, str], list[Exchange]]  # (client, path)
    # (client, server, port): Bearer requests kept whole (refused, or special), and the
    # tally of those accepted
    bearer: dict[tuple[bytes, bytes, int], list[Exchange]]
    accepted: dict[tuple[bytes, bytes, int], AcceptedBearer]

    @classmethod
    def of(cls, obs: Observations, live: list[ConnSummary]) -> ObservationIndex:
        failed: dict[Target, list[ConnSummary]] = {}
        for c in obs.failed + [c for c in live if c.failed or c.icmp is not None]:
            failed.setdefault((c.orig, ip_text(c.resp), c.resp_port), []).append(c)
        established: dict[Target, int] = {}
        for (orig, resp, port), tally in obs.established.items():
            key = (orig, ip_text(resp), port)
            established[key] = established.get(key, 0) + tally.count
        for c in live:
            if c.established:
                key = (c.orig, ip_text(c.resp), c.resp_port)
                established[key] = established.get(key, 0) + 1
        requests: dict[tuple[bytes, str], list[Exchange]] = {}
        bearer: dict[tuple[bytes, bytes, int], list[Exchange]] = {}
        for ex in obs.exchanges:
            if ex.target is not None:
                requests.setdefault((ex.client, request_path(ex.target)), []).append(ex)
            if ex.auth_scheme == "bearer":
                bearer.setdefault((ex.client, ex.server, ex.server_port), []).append(ex)
        return cls(failed, established, requests, bearer, obs.accepted)
