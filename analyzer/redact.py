"""Secrets never leave the analyzer unless the user asks: one place decides what is a secret.

The core applies these functions when it turns wire data into evidence, so
every renderer (text, JSON, and any later one) only ever sees redacted text.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

REDACTED = "<redacted>"

# Header names whose values are credentials (compared lower-case).
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth"}
)
# Query and form parameter names that carry credentials or identities.
SECRET_PARAMS = frozenset(
    {
        "account",
        "password",
        "passwd",
        "pass",
        "pwd",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "secret",
        "client_secret",
        "key",
        "api_key",
        "apikey",
        "auth",
        "code",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
_AUTH_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)[ \t]+\S")
# Registered HTTP authentication schemes (and GitHub's "token"): only these names are shown.
# Anything else may be a bare credential (`Authorization: <token>`), which must not be.
KNOWN_AUTH_SCHEMES = frozenset(
    {
        "basic", "bearer", "digest", "dpop", "gnap", "hoba", "mutual", "negotiate", "ntlm",
        "oauth", "privatetoken", "scram-sha-1", "scram-sha-256", "token", "vapid",
        "aws4-hmac-sha256",
    }
)  # fmt: skip
OTHER_SCHEME = "other"


def auth_scheme(value: str) -> str | None:
    """The lower-cased scheme of an Authorization value, never any of its credentials.

    ``None`` for an empty value; ``"other"`` when the value does not start with a
    known scheme followed by credentials (a bare token, an unknown scheme).
    """
    if not value.strip():
        return None
    m = _AUTH_SCHEME.match(value)
    scheme = m.group(1).lower() if m else ""
    return scheme if scheme in KNOWN_AUTH_SCHEMES else OTHER_SCHEME


def from_wire(text: str) -> str:
    """Header text, which the parser reads as latin-1, as the UTF-8 it was when it was."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def printable(text: str) -> str:
    """Wire text as it may be shown: never a character a terminal would act on.

    Header values are read back as UTF-8 when they were (:func:`from_wire`). Then
    every character that is not
    printable (C0 and C1 controls such as ESC, bidi overrides, line separators)
    is written as its Python escape (``\\x1b``, ``\\u202e``), so a crafted
    capture cannot clear a screen or reorder a line through the report.
    """
    if text.isascii() and text.isprintable():
        return text
    text = from_wire(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def redact_header(name: str, value: str) -> str:
    """The value of header ``name`` as it may be shown."""
    lname = name.lower()
    if lname in ("authorization", "proxy-authorization"):
        m = _AUTH_SCHEME.match(value)
        known = m is not None and m.group(1).lower() in KNOWN_AUTH_SCHEMES
        return f"{m.group(1)} {REDACTED}" if m and known else REDACTED
    if lname in SECRET_HEADERS:
        return REDACTED
    return value


def _redact_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in SECRET_PARAMS for k, _ in pairs):
        return query
    parts = []
    for k, v in pairs:
        shown = REDACTED if k.lower() in SECRET_PARAMS else quote(v, safe="")
        parts.append(f"{quote(k, safe='')}={shown}")
    return "&".join(parts)


def redact_url(url: str) -> str:
    """A URL or request target with its password and secret query parameters redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # Not a URL we can take apart: show nothing that might be a secret.
        return REDACTED if ("@" in url or "?" in url) else url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    return urlunsplit(
        (parts.scheme, netloc, parts.path, _redact_query(parts.query), parts.fragment)
    )
