"""Settings every frontend reads from the environment (12-factor), and its client token."""

from __future__ import annotations

import time
from threading import Lock

from pydantic import Field, SecretStr, model_validator

from shared.auth import DEVELOPMENT_SIGNING_KEY, Role, mint_token
from shared.settings import ProcessSettings

MINTED_TTL_S = 3600
RENEW_BEFORE_S = 300


class FrontendSettings(ProcessSettings):
    """The services' URLs, the frontend's own client token, its public address.

    Each frontend extends it (its name, its port, its own settings).
    """

    frontend_name: str = Field(default="frontend", description="the token's subject in development")

    intake_url: str = "http://127.0.0.1:8001"
    triage_url: str = "http://127.0.0.1:8002"
    escalation_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="where families reach the web frontend; links "
        "in pages, mails and SMS start with it",
    )

    bureau_client_token: SecretStr | None = Field(
        default=None,
        description="this frontend's bearer token (role `frontend`) from the "
        "district's identity provider; minted in development",
    )
    jwt_issuer: str = "bureau-dev"
    jwt_audience: str = "bureau"
    jwt_signing_key: SecretStr = SecretStr(DEVELOPMENT_SIGNING_KEY)

    io_timeout_s: float = Field(default=10.0, gt=0, description="each call to a service")
    forwarded_allow_ips: str = Field(
        default="",
        description="proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; none by default",
    )

    @model_validator(mode="after")
    def _token_outside_development(self) -> FrontendSettings:
        if self.environment != "development" and self.bureau_client_token is None:
            raise ValueError(
                "set BUREAU_CLIENT_TOKEN (a token with the `frontend` role) outside development"
            )
        return self

    def token_source(self) -> TokenSource:
        """Where the client's bearer token comes from: the configured one, or one minted."""
        return TokenSource(self)


class TokenSource:
    """Answers the frontend's bearer token; in development mints one (role `frontend`) with
    the development key and renews it before it expires."""

    def __init__(self, settings: FrontendSettings) -> None:
        self._settings = settings
        self._token: str | None = None
        self._expires = 0.0
        self._lock = Lock()

    def __call__(self) -> str:
        if self._settings.bureau_client_token is not None:
            return self._settings.bureau_client_token.get_secret_value()
        with self._lock:
            if self._token is None or time.time() > self._expires - RENEW_BEFORE_S:
                s = self._settings
                self._token = mint_token(
                    subject=s.frontend_name,
                    roles=[Role.FRONTEND.value],
                    signing_key=s.jwt_signing_key.get_secret_value(),
                    issuer=s.jwt_issuer,
                    audience=s.jwt_audience,
                    ttl_s=MINTED_TTL_S,
                )
                self._expires = time.time() + MINTED_TTL_S
            return self._token
