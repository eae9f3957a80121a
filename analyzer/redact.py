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
_AUTH_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)")


def redact_header(name: str, value: str) -> str:
    """The value of header ``name`` as it may be shown."""
    lname = name.lower()
    if lname in ("authorization", "proxy-authorization"):
        m = _AUTH_SCHEME.match(value)
        return f"{m.group(1)} {REDACTED}" if m else REDACTED
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
