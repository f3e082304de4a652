"""Bearer tokens: who may call, and the clear 401/403 answers for everyone else."""

from __future__ import annotations

from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr

from shared.auth import AuthError, Role, TokenVerifier, mint_token
from shared.authz import Access, Permission
from shared.http import Authorize, install_problem_handlers
from shared.settings import ServiceSettings

pytestmark = pytest.mark.unit

KEY = "unit-test-signing-key-of-enough-length"
VERIFIER = TokenVerifier(issuer="bureau-test", audience="bureau", signing_key=KEY)


def token(**overrides: object) -> str:
    values: dict[str, object] = {
        "subject": "sd-1",
        "roles": ["specialist"],
        "signing_key": KEY,
        "issuer": "bureau-test",
        "audience": "bureau",
    }
    values.update(overrides)
    return mint_token(**values)  # type: ignore[arg-type]


def test_valid_token_names_the_caller_and_roles() -> None:
    principal = VERIFIER.verify(token(roles=["principal"], schools=["lincoln-es"]))
    assert principal.subject == "sd-1"
    assert principal.roles == {Role.PRINCIPAL}
    assert principal.schools == {"lincoln-es"}


@pytest.mark.parametrize(
    "bad",
    [
        token(ttl_s=-120),
        token(signing_key="someone-elses-key-of-enough-length"),
        token(audience="another-app"),
        token(issuer="evil-issuer"),
        "not.a.jwt",
        jwt.encode(
            {
                "sub": "x",
                "roles": ["admin"],
                "iss": "bureau-test",
                "aud": "bureau",
                "exp": 9_999_999_999,
            },
            key="",
            algorithm="none",
        ),
        # Security (low), issue 15: a token that never expires
        jwt.encode(
            {"sub": "x", "roles": ["admin"], "iss": "bureau-test", "aud": "bureau"},
            key=KEY,
            algorithm="HS256",
        ),
    ],
    ids=["expired", "forged", "wrong-audience", "wrong-issuer", "garbage", "unsigned", "no-exp"],
)
def test_bad_tokens_are_refused(bad: str) -> None:
    with pytest.raises(AuthError):
        VERIFIER.verify(bad)


def test_minting_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        token(roles=["superuser"])


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.verifier = VERIFIER

    @app.get("/admin-only")
    async def admin_only(
        who: Annotated[Access, Depends(Authorize(Permission.CONFIG_WRITE))],
    ) -> dict[str, str]:
        return {"subject": who.actor}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_missing_token_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    answer = await client.get("/admin-only")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_invalid_token_is_401(client: httpx.AsyncClient) -> None:
    expired = {"Authorization": f"Bearer {token(ttl_s=-99)}"}
    answer = await client.get("/admin-only", headers=expired)
    assert answer.status_code == 401
    assert answer.json()["title"] == "Invalid token"


async def test_wrong_role_is_403_and_right_role_passes(client: httpx.AsyncClient) -> None:
    specialist = {"Authorization": f"Bearer {token()}"}
    assert (await client.get("/admin-only", headers=specialist)).status_code == 403
    admin = {"Authorization": f"Bearer {token(roles=['admin'], subject='it-1')}"}
    answer = await client.get("/admin-only", headers=admin)
    assert answer.status_code == 200 and answer.json() == {"subject": "it-1"}


def test_a_weak_signing_key_is_refused_outside_development() -> None:
    """Security (low): a short JWT_SIGNING_KEY was accepted in production."""
    with pytest.raises(ValueError, match="weak"):
        ServiceSettings(environment="production", jwt_signing_key=SecretStr("short-but-secret"))
    assert ServiceSettings(environment="production", jwt_signing_key=SecretStr("k" * 32))


def test_an_examples_placeholder_where_a_secret_goes_is_refused_outside_development() -> None:
    """Issue 15: the shipped examples' `<...>` placeholders are known to everyone."""
    key = SecretStr("a-production-signing-key-of-32-bytes!")
    with pytest.raises(ValueError, match="JWT_SIGNING_KEY still hold"):
        ServiceSettings(
            environment="production", jwt_signing_key=SecretStr("<random 32 bytes, base64>" * 2)
        )
    with pytest.raises(ValueError, match="AMQP_URL still hold"):
        ServiceSettings(
            environment="production",
            jwt_signing_key=key,
            amqp_url="amqp://intake:<password>@rabbitmq:5672/",
        )
    assert ServiceSettings(
        environment="production", jwt_signing_key=key, amqp_url="amqp://intake:s3cr<t@rabbitmq/"
    )
    assert ServiceSettings(amqp_url="amqp://intake:<password>@rabbitmq:5672/")  # development


def test_a_token_living_longer_than_the_maximum_is_refused_outside_development() -> None:
    """Security (low): tokens that (practically) never expire were accepted in production."""
    key = "a-production-signing-key-of-32-bytes!"
    verifier = ServiceSettings(
        environment="production", jwt_signing_key=SecretStr(key), jwt_max_ttl_s=86400
    ).token_verifier()
    forever, day = (
        token(signing_key=key, issuer="bureau-dev", subject="x", ttl_s=ttl_s)
        for ttl_s in (100 * 365 * 86400, 3600)
    )
    with pytest.raises(AuthError, match="JWT_MAX_TTL_S"):
        verifier.verify(forever)
    assert verifier.verify(day).subject == "x"
