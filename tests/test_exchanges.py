"""Token-response facts from a body prefix: what is kept, and nothing secret."""

from __future__ import annotations

import json

import pytest

from analyzer.exchanges import body_facts

JWT = "eyJhbGciOiJSUzI1NiIsIng1YyI6WyJNSUlD" + "A" * 2100  # an x5c token is ~2 KB
BIG = json.dumps({"token": JWT, "access_token": JWT, "expires_in": 300}).encode()


@pytest.mark.parametrize(
    ("prefix", "truncated", "expected"),
    [
        (b'{"token":"abc.def.ghi","expires_in":1800}', False, (True, 1800, None)),
        (b'{"access_token":"abc.def.ghi"}', False, (True, None, None)),
        (
            b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}',
            False,
            (False, None, "invalid credentials"),
        ),
        (
            BIG[:4096],
            True,
            (True, None, None),
        ),  # longer than the kept prefix: the leading member says so
        (BIG[:4096], False, (False, None, None)),  # a body that simply ends there is not JSON
        (b'{"errors":[{"message":"' + b"x" * 5000, True, (False, None, None)),
        (b"<html>401</html>", False, (False, None, None)),
        (b'{"token": true}', False, (False, None, None)),
        (b'{"expires_in": true, "token": "t"}', False, (True, None, None)),
        (b"[" * 100_000, False, (False, None, None)),  # hostile nesting: no RecursionError escapes
    ],
)
def testbody_facts(
    prefix: bytes, truncated: bool, expected: tuple[bool, int | None, str | None]
) -> None:
    assert body_facts(prefix, truncated) == expected
