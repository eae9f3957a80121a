"""WWW-Authenticate / Proxy-Authenticate challenges (RFC 9110 §11.6.1) and token scopes.

How this works
--------------
One left-to-right scan per header value.  At each element (elements are
separated by commas, empty elements are skipped) we read a token and look
past optional whitespace: ``token =`` starts an auth-param of the open
challenge, anything else starts a new challenge with that token as scheme.
Directly after ``scheme SP`` a token68 (``Basic dXNlcjpwYXNz``) is accepted
when it is the whole element.  Param values are tokens (read leniently, up
to whitespace or a comma, so an unquoted URL survives) or quoted strings with
backslash escapes.  Problems are collected as short strings (never values),
parsing goes on best-effort, and nothing raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUOTED = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_BARE_VALUE = re.compile(r"[^ \t,]*")
_OWS = re.compile(r"[ \t]*")
_ACTIONS = re.compile(r"[A-Za-z0-9_*,\-]*")


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower-cased, e.g. "bearer", "basic"
    params: tuple[tuple[str, str], ...]  # (lower-cased name, unquoted value), in order
    token68: str | None = None

    def get(self, name: str) -> str | None:
        """The first value of parameter ``name`` (case-insensitive), or None."""
        key = name.lower()
        for k, v in self.params:
            if k == key:
                return v
        return None

    @property
    def realm(self) -> str | None:
        return self.get("realm")

    @property
    def service(self) -> str | None:
        return self.get("service")

    @property
    def scope(self) -> str | None:
        return self.get("scope")

    @property
    def error(self) -> str | None:
        return self.get("error")


class _Open:
    """A challenge being built."""

    __slots__ = ("dropped", "names", "params", "scheme", "token68")

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.params: list[tuple[str, str]] = []
        self.names: set[str] = set()
        self.token68: str | None = None
        self.dropped = 0


def _skip_ows(s: str, i: int) -> int:
    m = _OWS.match(s, i)
    return m.end() if m is not None else i


def _short(name: str) -> str:
    return repr(name if len(name) <= 32 else name[:32] + "...")


def _quoted(s: str, i: int, problems: list[str]) -> tuple[str, int]:
    """Read the quoted string at ``s[i] == '"'``; an unterminated one takes the rest."""
    m = _QUOTED.match(s, i)
    if m is not None:
        return _ESCAPE.sub(r"\1", m.group(1)), m.end()
    problems.append("unterminated quoted string")
    return _ESCAPE.sub(r"\1", s[i + 1 :]), len(s)


class _Parser:
    def __init__(self, max_params: int, max_challenges: int) -> None:
        self.max_params = max(0, max_params)
        self.max_challenges = max(0, max_challenges)
        self.challenges: list[Challenge] = []
        self.problems: list[str] = []
        self.total = 0

    def close(self, cur: _Open | None) -> None:
        if cur is None:
            return
        if cur.dropped:
            total = len(cur.params) + cur.dropped
            self.problems.append(f"too many parameters ({total}), kept {self.max_params}")
        self.total += 1
        if len(self.challenges) < self.max_challenges:
            self.challenges.append(Challenge(cur.scheme, tuple(cur.params), cur.token68))

    def value(self, s: str) -> None:
        problems = self.problems
        i, n = 0, len(s)
        cur: _Open | None = None
        after_scheme = False  # just read "scheme SP": a token68 may follow
        need_comma = False  # an element ended; the next one should follow a comma
        while i < n:
            c = s[i]
            if c in " \t":
                i += 1
                continue
            if c == ",":
                i += 1
                after_scheme = need_comma = False
                continue
            if need_comma:
                problems.append("missing comma between elements")
                need_comma = False
            if after_scheme and cur is not None:
                after_scheme = False
                m68 = _TOKEN68.match(s, i)
                if m68 is not None:
                    j = _skip_ows(s, m68.end())
                    if j >= n or s[j] == ",":
                        cur.token68, i, need_comma = m68.group(), j, True
                        continue
            m = _TOKEN.match(s, i)
            if m is None:
                if c == '"':
                    _, i = _quoted(s, i, problems)
                    problems.append("quoted string where a token was expected")
                else:
                    problems.append(f"unexpected character {c!r}")
                    i += 1
                continue
            tok = m.group()
            j = _skip_ows(s, m.end())
            if j < n and s[j] == "=":  # auth-param
                k = _skip_ows(s, j + 1)
                if k < n and s[k] == '"':
                    val, i = _quoted(s, k, problems)
                else:
                    bare = _BARE_VALUE.match(s, k)
                    i = bare.end() if bare is not None else k
                    val = s[k:i]
                    if not val:
                        problems.append(f"empty value for parameter {_short(tok)}")
                need_comma = True
                self._add_param(cur, tok.lower(), val)
            else:  # a new challenge
                self.close(cur)
                cur = _Open(tok.lower())
                i = m.end()
                after_scheme = i < n and s[i] in " \t"
        self.close(cur)

    def _add_param(self, cur: _Open | None, name: str, val: str) -> None:
        if cur is None:
            self.problems.append(f"parameter {_short(name)} before any scheme")
        elif len(cur.params) >= self.max_params:
            cur.dropped += 1
        else:
            if name in cur.names:
                self.problems.append(f"duplicate parameter {_short(name)}")
            cur.names.add(name)
            cur.params.append((name, val))


def parse_challenges(
    values: Iterable[str], *, max_params: int = 64, max_challenges: int = 16
) -> tuple[list[Challenge], list[str]]:
    """Parse one or several WWW-Authenticate (or Proxy-Authenticate) values.

    Returns ``(challenges, problems)``; malformed input is parsed best-effort.
    """
    p = _Parser(max_params, max_challenges)
    for value in values:
        p.value(value)
    if p.total > p.max_challenges:
        p.problems.append(f"too many challenges ({p.total}), kept {p.max_challenges}")
    return p.challenges, p.problems


def parse_scope(scope: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Split a token scope into ``(type, name, actions)`` items.

    ``repository:192.168.1.5:5000/x:pull,push`` -> ``("repository",
    "192.168.1.5:5000/x", ("pull", "push"))``: the type ends at the first
    colon and the actions start after the last one (names may hold
    ``host:port``).  When the part after the last colon cannot be a list of
    actions (``repository:host:5000/x``) the whole rest is the name.
    """
    items: list[tuple[str, str, tuple[str, ...]]] = []
    for item in scope.split():
        kind, _, rest = item.partition(":")
        name, colon, actions = rest.rpartition(":")
        if not colon or not _ACTIONS.fullmatch(actions):
            name, actions = rest, ""
        items.append((kind, name, tuple(a for a in actions.split(",") if a)))
    return items
