"""RS256 tokens that Docker Distribution 2.8 verifies, signed with the `openssl` command.

How this works: :func:`make_signing_cert` has openssl write an RSA key and a
self-signed certificate; the certificate is the registry's
``auth.token.rootcertbundle``. :func:`issue` builds the JWT: its header names
the key in one of three ways: ``x5c`` (the base64 DER certificate:
Distribution 2.8 checks it chains to the bundle, and accepts it); a libtrust
``kid`` (what Harbor sends: 2.8 matches it against the bundle's keys, and the
token is about 1.5 KB smaller); or an RFC 7638 thumbprint ``kid`` (what
Distribution v3 expects; 2.8 answers "token signed by untrusted key", which
the lab records on purpose). Signing is
``openssl dgst -sha256 -sign`` (RSASSA-PKCS1-v1_5, which is what RS256 is), so
the lab needs no Python crypto package, only Debian's openssl.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIGN_TIMEOUT_S = 10
LIFETIME_S = 300
CLOCK_LEEWAY_S = 10  # nbf a little in the past, as real token services do


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *args], input=data, capture_output=True, timeout=SIGN_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def make_signing_cert(directory: Path, common_name: str) -> tuple[Path, Path]:
    """Write token.key and token.crt (self-signed, 2 days) into directory."""
    key, cert = directory / "token.key", directory / "token.crt"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
        "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return key, cert


def cert_der(cert_pem: Path) -> bytes:
    body = cert_pem.read_text().split("-----BEGIN CERTIFICATE-----")[1]
    return base64.b64decode(body.split("-----END CERTIFICATE-----")[0])


def libtrust_kid(key: Path) -> str:
    """Distribution 2.8's key id: SHA-256 of the DER SubjectPublicKeyInfo, 240 bits, base32, 4-grouped."""
    spki = _openssl("rsa", "-in", str(key), "-pubout", "-outform", "DER")
    digest = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode().rstrip("=")
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def rfc7638_kid(key: Path) -> str:
    """The JWK thumbprint of the key's public half (RSA, e = 65537 as openssl writes it)."""
    modulus_hex = _openssl("rsa", "-in", str(key), "-noout", "-modulus").decode().split("=")[1]
    n = bytes.fromhex(modulus_hex.strip())
    jwk = json.dumps(
        {"e": b64url((65537).to_bytes(3, "big")), "kty": "RSA", "n": b64url(n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(jwk.encode()).digest())


@dataclass(frozen=True, slots=True)
class Access:
    """One grant of the token's `access` claim: type, name, actions."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def from_scope(cls, scope: str) -> Access | None:
        """`repository:library/web:pull,push`; the name may hold `host:port`, so split at the ends."""
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name:
            return None
        return cls(kind, name, tuple(a for a in actions.split(",") if a))

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True, slots=True)
class Signer:
    key: Path
    cert: Path
    issuer: str
    key_id: str = "x5c"  # or "libtrust", "rfc7638"

    def header(self) -> dict[str, Any]:
        if self.key_id == "libtrust":
            return {"typ": "JWT", "alg": "RS256", "kid": libtrust_kid(self.key)}
        if self.key_id == "rfc7638":
            return {"typ": "JWT", "alg": "RS256", "kid": rfc7638_kid(self.key)}
        return {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(cert_der(self.cert)).decode()],
        }

    def issue(self, subject: str, audience: str, access: Sequence[Access], now: int) -> str:
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + LIFETIME_S,
            "nbf": now - CLOCK_LEEWAY_S,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [a.claim() for a in access],
        }
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode())
            for part in (self.header(), claims)
        )
        signature = _openssl("dgst", "-sha256", "-sign", str(self.key), data=signing_input.encode())
        return f"{signing_input}.{b64url(signature)}"


def verify(token: str, cert: Path, directory: Path) -> dict[str, Any]:
    """Check the signature with openssl (for tests) and return the claims."""
    signing_input, _, signature = token.rpartition(".")
    pub, sig = directory / "verify.pub", directory / "verify.sig"
    pub.write_bytes(_openssl("x509", "-in", str(cert), "-noout", "-pubkey"))
    sig.write_bytes(b64url_decode(signature))
    _openssl(
        "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), data=signing_input.encode()
    )
    claims: dict[str, Any] = json.loads(b64url_decode(signing_input.split(".")[1]))
    return claims
