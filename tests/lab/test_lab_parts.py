"""The lab's own parts, without namespaces: image, tokens, token service, DNS server, scenarios."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from lab.components import missing_commands
from lab.dns_server import nxdomain
from lab.image import write_image
from lab.jwt import Access, Signer, b64url_decode, libtrust_kid, make_signing_cert, verify
from lab.netns import free_port
from lab.notes import render
from lab.record import Recording
from lab.scenarios import (
    ACCOUNT,
    BY_NAME,
    ISSUER,
    PASSWORD,
    SCENARIOS,
    SERVICE,
    TOKEN_FLOW_RULES,
)
from lab.token_service import Policy, answer

ROOT = Path(__file__).resolve().parents[2]
NO_OPENSSL = missing_commands(["openssl"])
needs_openssl = pytest.mark.skipif(bool(NO_OPENSSL), reason="the openssl command is not installed")


def test_image_is_the_same_on_every_run(tmp_path: Path) -> None:
    one = write_image(tmp_path / "a", layers=2, layer_bytes=5000)
    two = write_image(tmp_path / "b", layers=2, layer_bytes=5000)
    assert one.manifest_digest == two.manifest_digest
    assert one.layer_digests == two.layer_digests
    assert len(set(one.layer_digests)) == 2
    assert one.reference == f"oci:{tmp_path / 'a'}:1.1.0"


def test_image_layout_is_consistent(tmp_path: Path) -> None:
    image = write_image(tmp_path, layers=2, layer_bytes=4000)
    blobs = tmp_path / "blobs" / "sha256"
    for blob in blobs.iterdir():  # content-addressed: every name is its digest
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest
    manifest = json.loads((blobs / image.manifest_digest.split(":")[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_text())
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
        tar = gzip.decompress((blobs / layer["digest"].split(":")[1]).read_bytes())
        assert f"sha256:{hashlib.sha256(tar).hexdigest()}" == diff_id
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            [member] = archive.getmembers()
            assert member.size == 4000 and member.mtime == 0


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("repository:library/web:pull,push", ("repository", "library/web", ("pull", "push"))),
        ("repository:reg.example:5000/web:pull", ("repository", "reg.example:5000/web", ("pull",))),
        ("registry:catalog:*", ("registry", "catalog", ("*",))),
        ("nonsense", None),
    ],
)
def test_scope_parsing(scope: str, expected: tuple[str, str, tuple[str, ...]] | None) -> None:
    access = Access.from_scope(scope)
    assert (None if access is None else (access.type, access.name, access.actions)) == expected


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if NO_OPENSSL:
        pytest.skip("the openssl command is not installed")
    return make_signing_cert(tmp_path_factory.mktemp("pki"), ISSUER)


def _policy(signing: tuple[Path, Path], key_id: str = "x5c", fail: int | None = None) -> Policy:
    key, cert = signing
    return Policy(Signer(key, cert, ISSUER, key_id), SERVICE, ACCOUNT, PASSWORD, fail)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


TOKEN_PATH = (
    "/service/token?account=admin&scope=repository%3Alibrary%2Fweb%3Apull%2Cpush"
    "&service=harbor-registry"
)


@needs_openssl
def test_token_is_a_signed_jwt_the_registry_can_check(
    signing: tuple[Path, Path], tmp_path: Path
) -> None:
    now = 1_700_000_000
    status, body = answer(_policy(signing), TOKEN_PATH, _basic(ACCOUNT, PASSWORD), now)
    assert status == 200
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    header = json.loads(b64url_decode(body["token"].split(".")[0]))
    assert header["alg"] == "RS256"
    assert base64.b64decode(header["x5c"][0])[:1] == b"\x30"  # a DER SEQUENCE: the certificate
    claims = verify(body["token"], signing[1], tmp_path)
    assert claims["iss"] == ISSUER and claims["aud"] == SERVICE and claims["sub"] == ACCOUNT
    assert claims["nbf"] < now < claims["exp"]
    assert claims["access"] == [
        {"type": "repository", "name": "library/web", "actions": ["pull", "push"]}
    ]


@needs_openssl
def test_key_ids(signing: tuple[Path, Path]) -> None:
    kid = libtrust_kid(signing[0])
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", kid)
    assert _policy(signing, "libtrust").signer.header() == {
        "typ": "JWT",
        "alg": "RS256",
        "kid": kid,
    }
    rfc = _policy(signing, "rfc7638").signer.header()["kid"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", rfc)


@needs_openssl
@pytest.mark.parametrize(
    ("authorization", "fail", "status"),
    [
        (_basic(ACCOUNT, "wrong-password"), None, 401),
        (None, None, 401),
        ("Basic !!!", None, 401),
        (_basic(ACCOUNT, PASSWORD), 403, 403),
        (_basic(ACCOUNT, PASSWORD), 500, 500),
    ],
)
def test_token_service_failures(
    signing: tuple[Path, Path], authorization: str | None, fail: int | None, status: int
) -> None:
    got, body = answer(_policy(signing, fail=fail), TOKEN_PATH, authorization, time.time())
    assert got == status
    assert "token" not in body and body["errors"][0]["message"]


@needs_openssl
def test_token_service_over_http_on_loopback(signing: tuple[Path, Path]) -> None:
    port = free_port()
    key, cert = signing
    argv = [
        sys.executable, "-m", "lab.token_service", "--listen", f"127.0.0.1:{port}",
        "--key", str(key), "--cert", str(cert), "--issuer", ISSUER, "--service", SERVICE,
        "--password", PASSWORD,
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and '"ready"' in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}{TOKEN_PATH}"
        request = urllib.request.Request(url, headers={"Authorization": _basic(ACCOUNT, PASSWORD)})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert json.loads(response.read())["token"].count(".") == 2
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_dns_server_answers_nxdomain_with_the_root_soa() -> None:
    query = dns.message.make_query("harbor-core.internal", "AAAA")
    wire = nxdomain(query.to_wire())
    assert wire is not None
    reply = dns.message.from_wire(wire)
    assert reply.id == query.id and reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.question == query.question
    assert reply.authority[0].rdtype == dns.rdatatype.SOA
    assert nxdomain(b"\x00not dns") is None


def test_scenarios_are_named_once_and_expect_known_rules() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert {s.expected_rule for s in SCENARIOS} <= TOKEN_FLOW_RULES
    assert {"founding-case", "realm-refused", "realm-icmp-unreachable"} <= set(names)
    assert {"realm-hostname-nxdomain", "healthy-push"} <= set(names)


def test_note_says_how_it_was_recorded_without_scratch_paths() -> None:
    work = "/tmp/pushcap-lab-x1y2/founding-case"
    rec = Recording(
        scenario=BY_NAME["founding-case"],
        pcap=Path("captures/real/founding-case.pcap"),
        command=["skopeo", "copy", f"oci:{work}/image:1.1.0", "docker://198.51.100.230:8200/x"],
        capture_command=["tcpdump", "-i", "c0", "-w", f"{work}/capture.pcap"],
        exit_code=1,
        duration_s=90.1,
        output=f"Copying blob\nfatal: dial tcp 172.16.200.100:8200: i/o timeout ({work})\n",
        recorded_at="2026-01-01 00:00:00 UTC",
        versions={"skopeo": "skopeo version 1.9.3"},
        findings=["token-service-unreachable error (high): it never answered"],
        placeholders={work: "$WORK"},
    )
    note = render(rec)
    assert work not in note
    assert "oci:$WORK/image:1.1.0" in note and "-w $WORK/capture.pcap" in note
    assert "skopeo failed (exit 1) after 90.1 s" in note
    assert "dial tcp 172.16.200.100:8200: i/o timeout" in note
    assert "| skopeo | skopeo version 1.9.3 |" in note
    assert "`token-service-unreachable` error (high): it never answered" in note
    assert "matches" in note and "does not match" not in note
