"""Passive HTTP/1.x parsing for one direction of a TCP stream, and WWW-Authenticate parsing."""

from analyzer.http.auth import Challenge, parse_challenges, parse_scope
from analyzer.http.parser import (
    HttpEvent,
    HttpLimits,
    HttpStreamParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
    Weird,
)

__all__ = [
    "Challenge",
    "HttpEvent",
    "HttpLimits",
    "HttpStreamParser",
    "MessageEnd",
    "RequestHead",
    "ResponseHead",
    "Weird",
    "parse_challenges",
    "parse_scope",
]
