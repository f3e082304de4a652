"""Tokens from the district's identity provider (JWKS) beside tokens the staff console mints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import DEVELOPMENT_SIGNING_KEY, AuthError, mint_token
from shared.settings import ServiceSettings

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "https://idp.district.example", "bureau"
CONSOLE_KEY = "k" * 48


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(provider_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """The provider's JWKS served over HTTP, as an identity provider publishes it."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks"
    server.shutdown()


def provider_token(key: rsa.RSAPrivateKey, roles: list[str]) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "sub": "dana",
            "roles": roles,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
        },
        key,
        algorithm="RS256",
        headers={"kid": "idp-1"},
    )


def hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token made by hand (PyJWT itself refuses a public key as a secret)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def settings(jwks_url: str, key: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="intake",
        environment="production",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_url=jwks_url,
        jwt_signing_key=key,
    )


def test_provider_and_staff_console_tokens_are_both_accepted_in_production(
    jwks_url: str, provider_key: rsa.RSAPrivateKey
) -> None:
    verifier = settings(jwks_url, CONSOLE_KEY).token_verifier()
    assert verifier.verify(provider_token(provider_key, ["principal"])).subject == "dana"
    console = mint_token(
        subject="sam",
        roles=["specialist"],
        signing_key=CONSOLE_KEY,
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_s=600,
    )
    assert verifier.verify(console).subject == "sam"


def test_development_key_is_not_accepted_beside_a_jwks_in_production(
    jwks_url: str, provider_key: rsa.RSAPrivateKey
) -> None:
    verifier = settings(jwks_url, DEVELOPMENT_SIGNING_KEY).token_verifier()
    forged = mint_token(
        subject="eve",
        roles=["admin"],
        signing_key=DEVELOPMENT_SIGNING_KEY,
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_s=600,
    )
    with pytest.raises(AuthError):
        verifier.verify(forged)
    assert verifier.verify(provider_token(provider_key, ["admin"])).subject == "dana"


def test_a_token_signed_with_the_providers_public_key_as_a_shared_secret_is_refused(
    jwks_url: str, provider_key: rsa.RSAPrivateKey
) -> None:
    verifier = settings(jwks_url, CONSOLE_KEY).token_verifier()
    public_pem = provider_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {
        "sub": "eve",
        "roles": ["admin"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    # The classic algorithm confusion: HS256 keyed with the public key the JWKS publishes.
    forged = hs256(claims, public_pem)
    with pytest.raises(AuthError):
        verifier.verify(forged)
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(AuthError):
        verifier.verify(unsigned)
