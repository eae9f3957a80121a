"""WWW-Authenticate challenges and token scopes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.http import Challenge, parse_challenges, parse_scope

FOUNDING = 'Bearer realm="http://172.16.200.100:8200/service/token",service="harbor-registry"'
REALM = "http://172.16.200.100:8200/service/token"


def one(value: str) -> Challenge:
    (ch,), problems = parse_challenges([value])
    assert problems == []
    return ch


def test_founding_header() -> None:
    ch = one(FOUNDING)
    assert ch == Challenge("bearer", (("realm", REALM), ("service", "harbor-registry")))
    assert (ch.realm, ch.service, ch.scope, ch.error) == (REALM, "harbor-registry", None, None)
    assert ch.get("REALM") == REALM


CASES: list[tuple[str, list[str], list[Challenge], list[str]]] = [
    (
        "two_in_one_header",
        ['Basic realm="x", Bearer realm="y",service="z"'],
        [
            Challenge("basic", (("realm", "x"),)),
            Challenge("bearer", (("realm", "y"), ("service", "z"))),
        ],
        [],
    ),
    (
        "two_headers",
        ['Basic realm="Harbor"', FOUNDING],
        [
            Challenge("basic", (("realm", "Harbor"),)),
            Challenge("bearer", (("realm", REALM), ("service", "harbor-registry"))),
        ],
        [],
    ),
    (
        "escaped_quotes",
        [r'Bearer realm="a \"quoted\" \\ realm",error="invalid_token"'],
        [Challenge("bearer", (("realm", 'a "quoted" \\ realm'), ("error", "invalid_token")))],
        [],
    ),
    (
        "unterminated_quote",
        ['Bearer service="harbor-registry",realm="http://x/token,scope=a\\'],
        [
            Challenge(
                "bearer", (("service", "harbor-registry"), ("realm", "http://x/token,scope=a\\"))
            )
        ],
        ["unterminated quoted string"],
    ),
    (
        "no_realm",
        ['Bearer service="harbor-registry"'],
        [Challenge("bearer", (("service", "harbor-registry"),))],
        [],
    ),
    (
        "uppercase",
        ['BEARER REALM="http://r/token",SERVICE=reg'],
        [Challenge("bearer", (("realm", "http://r/token"), ("service", "reg")))],
        [],
    ),
    ("token68", ["Basic dXNlcjpwYXNz"], [Challenge("basic", (), "dXNlcjpwYXNz")], []),
    (
        "token68_padding_then_challenge",
        ["Negotiate YWJj==, Bearer realm=r"],
        [Challenge("negotiate", (), "YWJj=="), Challenge("bearer", (("realm", "r"),))],
        [],
    ),
    (
        "ipv6_realm",
        ['Bearer realm="http://[fd00::1]:8200/service/token",service="harbor-registry"'],
        [
            Challenge(
                "bearer",
                (("realm", "http://[fd00::1]:8200/service/token"), ("service", "harbor-registry")),
            )
        ],
        [],
    ),
    (
        "whitespace_and_empty_elements",
        [' ,  Bearer   realm = "r" ,, service= s ,scope ="repository:a/b:pull" , '],
        [Challenge("bearer", (("realm", "r"), ("service", "s"), ("scope", "repository:a/b:pull")))],
        [],
    ),
    (
        "unquoted_url_value",
        ["Bearer realm=http://10.0.0.1:8200/service/token,service=harbor-registry"],
        [
            Challenge(
                "bearer",
                (("realm", "http://10.0.0.1:8200/service/token"), ("service", "harbor-registry")),
            )
        ],
        [],
    ),
    (
        "scheme_only",
        ["Negotiate", "NTLM, Basic"],
        [Challenge("negotiate", ()), Challenge("ntlm", ()), Challenge("basic", ())],
        [],
    ),
    ("param_before_scheme", ['realm="x"'], [], ["parameter 'realm' before any scheme"]),
    (
        "duplicate_param",
        ["Bearer realm=a, realm=b"],
        [Challenge("bearer", (("realm", "a"), ("realm", "b")))],
        ["duplicate parameter 'realm'"],
    ),
    ("empty", [""], [], []),
]


@pytest.mark.parametrize(
    ("values", "expected", "problems"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(values: list[str], expected: list[Challenge], problems: list[str]) -> None:
    assert parse_challenges(values) == (expected, problems)


def test_thousand_params_are_bounded() -> None:
    value = "Bearer " + ",".join(f'p{i}="v{i}"' for i in range(1000))
    (ch,), problems = parse_challenges([value])
    assert len(ch.params) == 64 and ch.params[-1] == ("p63", "v63")
    assert problems == ["too many parameters (1000), kept 64"]


def test_many_challenges_are_bounded() -> None:
    chs, problems = parse_challenges(["Basic realm=x"] * 20)
    assert len(chs) == 16
    assert problems == ["too many challenges (20), kept 16"]


def test_uppercase_get_and_missing() -> None:
    ch = one('BEARER REALM="http://r/token"')
    assert ch.realm == "http://r/token" and ch.get("Service") is None


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (
            "repository:library/web:pull,push repository:192.168.1.5:5000/x:pull",
            [
                ("repository", "library/web", ("pull", "push")),
                ("repository", "192.168.1.5:5000/x", ("pull",)),
            ],
        ),
        ("registry:catalog:*", [("registry", "catalog", ("*",))]),
        ("repository:reg.local:5000/a/b", [("repository", "reg.local:5000/a/b", ())]),
        ("repository(plugin):x/y:pull", [("repository(plugin)", "x/y", ("pull",))]),
        ("", []),
        ("justone", [("justone", "", ())]),
    ],
)
def test_parse_scope(scope: str, expected: list[tuple[str, str, tuple[str, ...]]]) -> None:
    assert parse_scope(scope) == expected


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=3), st.integers(-2, 5), st.integers(-2, 5))
def test_any_string_never_raises(values: list[str], mp: int, mc: int) -> None:
    chs, problems = parse_challenges(values, max_params=mp, max_challenges=mc)
    assert all(isinstance(c, Challenge) for c in chs) and all(isinstance(p, str) for p in problems)
    assert len(chs) <= max(mc, 0)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_scope_never_raises(scope: str) -> None:
    assert isinstance(parse_scope(scope), list)


_TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_tok = st.text(alphabet=_TCHARS, min_size=1, max_size=12)
_params = st.lists(
    st.tuples(
        _tok,
        st.one_of(_tok.map(lambda t: (t, False)), st.text(max_size=20).map(lambda t: (t, True))),
    ),
    max_size=5,
    unique_by=lambda p: p[0].lower(),
)


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(_tok, _params), min_size=1, max_size=4), st.sampled_from([",", ", ", " ,  "])
)
def test_generated_challenges_round_trip(
    spec: list[tuple[str, list[tuple[str, tuple[str, bool]]]]], sep: str
) -> None:
    parts = []
    for scheme, params in spec:
        rendered = [f"{k}={_quote(v) if quoted else v}" for k, (v, quoted) in params]
        parts.append(scheme + (" " + sep.join(rendered) if rendered else ""))
    header = sep.join(parts)
    chs, problems = parse_challenges([header])
    expected = [Challenge(s.lower(), tuple((k.lower(), v) for k, (v, _) in ps)) for s, ps in spec]
    assert (chs, problems) == (expected, [])
