"""No output of any command or format shows a secret of captures/secrets unless asked.

The capture (``captures/secrets/generate.py``) carries Basic credentials, Bearer
tokens, a token response with ``token``, ``access_token`` and ``refresh_token``,
cookies both ways, ``account=``/``password=``/``token=`` query parameters and a
realm URL with a password, on the realm's flow and on the registry's. Without
``--show-secrets`` none of them appears anywhere. With it, what pushcap keeps
appears: the realm URL (with its password) and request targets (with their
query); header values, cookies and token bodies are never kept by the
analyzer (only the Authorization scheme and whether a token was issued), so
they never appear at all.

``pushcap sniff`` reports through the same detectors and renderers; its live
event lines are checked here offline, and ``sniff -w`` creating its capture
file with mode 0600 is tested in ``tests/sniff/test_pcapwriter.py`` and
``tests/sniff/test_sniff_netns.py``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.findings import Report
from analyzer.live import VerdictTracker, event_dict, event_line
from analyzer.pipeline import Analyzer, AnalyzerOptions, SourceInfo
from analyzer.render.jsonout import render_json
from analyzer.sources.open import open_capture
from tests.builders import Tcp, Trace, http_request, http_response
from tests.hostile.conftest import ROOT

SECRETS_DIR = ROOT / "captures" / "secrets"
CAPTURE = SECRETS_DIR / "push-with-secrets.pcap"
GENERATOR = SECRETS_DIR / "generate.py"


def _load_secrets() -> dict[str, tuple[str, bool]]:
    spec = importlib.util.spec_from_file_location("captures_secrets_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    secrets: dict[str, tuple[str, bool]] = module.SECRETS
    return secrets


SECRETS = _load_secrets()
SHOWABLE = sorted(s for s, (_, shown) in SECRETS.items() if shown)
NEVER = sorted(s for s, (_, shown) in SECRETS.items() if not shown)
REALM_PASSWORD = next(s for s, (where, _) in SECRETS.items() if "realm URL" in where)
runner = CliRunner()


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def test_the_capture_is_what_its_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_capture_really_carries_every_secret() -> None:
    data = CAPTURE.read_bytes()
    basic = next(
        s for s, (where, _) in SECRETS.items() if where.startswith("`Authorization: Basic")
    )
    for secret, (where, _) in SECRETS.items():
        inside = (
            base64.b64decode(basic).decode()
            if "inside the Basic" in where
            else data.decode("latin-1")
        )
        assert secret in inside, secret


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("show", [False, True], ids=["redacted", "show-secrets"])
def test_analyze(fmt: str, show: bool) -> None:
    args = ["analyze", "--no-color", "--format", fmt, str(CAPTURE)]
    result = runner.invoke(app, [*args, "--show-secrets"] if show else args)
    # credentials over plain HTTP are info; the password in the realm URL is a warning
    assert result.exit_code == 1, result.output
    out = result.stdout + result.stderr
    assert "credentials-in-cleartext" in out
    assert _leaks(out, NEVER) == []
    if show:
        assert _leaks(out, SHOWABLE) == SHOWABLE
    else:
        assert _leaks(out, SHOWABLE) == []
        assert "<redacted>" in out


def test_analyze_from_standard_input() -> None:
    result = runner.invoke(app, ["analyze", "--format", "json", "-"], input=CAPTURE.read_bytes())
    assert result.exit_code == 1
    assert _leaks(result.stdout + result.stderr, SHOWABLE + NEVER) == []


@pytest.mark.parametrize("fmt", ["table", "jsonl", "csv", "junit"])
@pytest.mark.parametrize("show", [False, True], ids=["redacted", "show-secrets"])
def test_audit(tmp_path: Path, fmt: str, show: bool) -> None:
    out = tmp_path / f"audit.{fmt}"
    args = ["audit", str(SECRETS_DIR), "-f", fmt, "-q", *(["--show-secrets"] if show else [])]
    printed = runner.invoke(app, args)
    written = runner.invoke(app, [*args, "-o", str(out)])
    assert printed.exit_code == 1, printed.output
    assert written.exit_code == 1, written.output
    everything = printed.stdout + printed.stderr + written.stdout + written.stderr
    everything += out.read_text(encoding="utf-8")
    assert "credentials-in-cleartext" in everything
    assert _leaks(everything, NEVER) == []
    if not show:
        assert _leaks(everything, SHOWABLE) == []
    elif fmt == "jsonl":  # the whole report: every URL and target
        assert _leaks(everything, SHOWABLE) == SHOWABLE
    else:  # summaries: the realm URL at least
        assert REALM_PASSWORD in everything


@pytest.mark.parametrize("show", [False, True], ids=["redacted", "show-secrets"])
def test_live_events(show: bool) -> None:
    """What `pushcap sniff` prints as it goes (text lines and jsonl events)."""
    analyzer = Analyzer(AnalyzerOptions(show_secrets=show))
    tracker = VerdictTracker()
    lines: list[str] = []
    with open_capture(str(CAPTURE)) as reader:
        for frame in reader:
            analyzer.feed(frame)
            for event in tracker.observe(analyzer.findings()):
                lines += [event_line(event), str(event_dict(event, analyzer.first_ts))]
    assert any("credentials-in-cleartext" in line for line in lines)
    text = "\n".join(lines)
    assert _leaks(text, NEVER) == []
    if not show:
        assert _leaks(text, SHOWABLE) == []


def test_cleartext_findings_name_the_hosts_and_counts() -> None:
    result = runner.invoke(app, ["analyze", "--format", "json", str(CAPTURE)])
    report = json.loads(result.stdout)
    found = {
        (
            f["facts"]["receiver"],
            f["facts"].get("basic_requests"),
            f["facts"].get("bearer_requests"),
        )
        for f in report["findings"]
        if f["rule"] == "credentials-in-cleartext"
    }
    assert found == {
        ("180.119.140.230:8200", 1, 3),  # the registry: docker login's Basic, then Bearer
        ("180.119.140.231:8201", 1, 0),  # the realm: the token request's Basic
        ("180.119.140.231:8201", None, None),  # the realm URL's userinfo, from the registry
    }
    severity = {
        (f["facts"]["receiver"], f["facts"].get("basic_requests")): f["severity"]
        for f in report["findings"]
        if f["rule"] == "credentials-in-cleartext"
    }
    # Credentials over plain HTTP are info (a healthy insecure push exits 0); a password
    # inside the realm URL is a warning.
    assert severity == {
        ("180.119.140.230:8200", 1): "info",
        ("180.119.140.231:8201", 1): "info",
        ("180.119.140.231:8201", None): "warning",
    }


def _one_request(target: str, authorization: str) -> Analyzer:
    trace = Trace()
    conn = Tcp(trace, "192.168.1.100", 52110, "180.119.140.230", 8200)
    conn.handshake()
    conn.send(http_request("GET", target, "180.119.140.230:8200", {"Authorization": authorization}))
    conn.reply(http_response(200, "OK"))
    analyzer = Analyzer(AnalyzerOptions())
    for frame in trace.frames:
        analyzer.feed(frame)
    return analyzer


def _report(analyzer: Analyzer) -> Report:
    return analyzer.finish(SourceInfo(name="x", format="pcap"))


def test_only_registry_endpoints_count() -> None:
    """Other HTTP with credentials is not pushcap's business (and public captures have it)."""
    assert _report(_one_request("/intranet/index.html", "Basic dXNlcjpwYXNz")).findings == ()
    report = _report(_one_request("/v2/", "Basic dXNlcjpwYXNz"))
    assert [f.rule for f in report.findings] == ["credentials-in-cleartext"]


def test_a_bare_token_is_never_taken_for_a_scheme() -> None:
    """`Authorization: <token>` has no scheme: once, the token itself was kept as one."""
    token = "tok3nWithoutAScheme0123456789"
    analyzer = _one_request("/v2/", token)
    report = _report(analyzer)
    assert [ex.auth_scheme for ex in analyzer.obs.exchanges] == ["other"]
    text = render_json(report)
    assert token not in text and token.lower() not in text
