"""Settings every service reads from the environment (12-factor)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import DEVELOPMENT_SIGNING_KEY, TokenVerifier

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DISTRICT_CONFIG = REPO_ROOT / "deploy" / "district.yaml"
WRITE_CONCERNS = ("majority+journal", "journal", "default")
MIN_SIGNING_KEY_BYTES = 32
# what the shipped examples hold where a secret goes (deploy/kubernetes/secrets.example.yaml:
# `<random 32 bytes, base64>`, `amqp://intake:<password>@…`): known to everyone
EXAMPLE_PLACEHOLDER = re.compile(r"<[^<>@\s][^<>@]{0,78}>")
# settings that hold a secret by their name, besides every SecretStr
SECRET_NAMES = re.compile(r"(_key|_keys|_token|_password|_secret|_url)$")


def refuse_example_placeholders(settings: BaseSettings) -> None:
    """Refuses (ValueError) settings that still hold an example's placeholder where a secret
    goes (a key, a token, a password, a URL's credentials), naming their variables."""
    found = []
    for name, value in settings:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif not (isinstance(value, str) and SECRET_NAMES.search(name)):
            continue
        if EXAMPLE_PLACEHOLDER.search(value):
            found.append(name.upper())
    if found:
        raise ValueError(
            f"{', '.join(found)} still hold the example's placeholder (<...>): set real "
            "values (`python -m devtools.secrets` makes random keys)"
        )


class ProcessSettings(BaseSettings):
    """What every process of the bureau (a service, a front door) reads first: its mode, where
    it listens, how much it logs. Outside development an example's placeholder left where a
    secret goes is refused."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: str = Field(default="development", description="development or production")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_example_placeholders_in_production(self) -> ProcessSettings:
        if self.environment != "development":
            refuse_example_placeholders(self)
        return self


class ServiceSettings(ProcessSettings):
    """Plumbing settings shared by the four services; each service extends it."""

    service_name: str = "bureau"

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_db: str = ""

    events_exchange: str = "bureau.events"
    private_exchange: str = "bureau.private"
    queue_prefix: str = Field(default="", description="prefix of this service's queue names")
    quorum_queues: bool = True
    # Events a consumer handles at once, a few: they all wait on the store, and a backlog
    # taken many at a time fills the store's queue ahead of the families' submissions
    # (bench.surge, one store: intake's p99 with the rest of the bureau saturated 8-10x its p99
    # alone with the others at 32, 5.5-7x at 8, the bureau's throughput the same; 4 halved it).
    prefetch: int = Field(default=8, ge=1)
    retry_delays_ms: list[int] = Field(default=[1_000, 10_000, 60_000])
    handler_timeout_s: float = Field(default=30.0, gt=0)
    message_delivery_limit: int = Field(
        default=5,
        ge=2,
        description="deliveries of one message without an outcome (the "
        "process crashed or hung on it) before it is parked",
    )

    outbox_poll_s: float = Field(default=0.5, gt=0)
    outbox_lease_s: float = Field(default=30.0, gt=0)
    io_timeout_s: float = Field(default=10.0, gt=0)
    store_write_concern: str = Field(
        default="majority+journal",
        description="acknowledged writes: `majority+journal` (a replica set; SecantusDB is one),"
        " `journal` (one server), or `default` (the driver's: may lose a 201 when "
        "the store crashes)",
    )
    reconnect_interval_s: float = Field(default=2.0, gt=0, description="broker reconnect pause")
    shutdown_grace_s: float = Field(default=10.0, gt=0)

    @property
    def shutdown_bound_s(self) -> float:
        """The longest a stop takes, whatever the store does: the web server's graceful end of
        open requests and then the runtime's drain (each `SHUTDOWN_GRACE_S`), a second for
        background work, and the broker's and the store's disconnects (each `IO_TIMEOUT_S`).
        A container platform must wait at least this long before it kills the process."""
        return int(self.shutdown_grace_s) + self.shutdown_grace_s + 1 + 2 * self.io_timeout_s

    district_config: Path = DEFAULT_DISTRICT_CONFIG

    cors_origins: list[str] = Field(default=[], description="browser frontends' origins")
    forwarded_allow_ips: str = Field(
        default="",
        description="proxies (addresses or CIDRs, comma-separated) whose "
        "X-Forwarded-For names the client; none by default",
    )

    jwt_issuer: str = "bureau-dev"
    jwt_audience: str = "bureau"
    jwt_signing_key: SecretStr | None = SecretStr(DEVELOPMENT_SIGNING_KEY)
    jwt_jwks_url: str | None = Field(
        default=None, description="the identity provider's JWKS (production)"
    )
    jwt_max_ttl_s: float = Field(
        default=366 * 24 * 3600,
        gt=0,
        description="outside development, tokens expiring later than this from now are refused",
    )

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> ServiceSettings:
        if self.environment == "development":
            return self
        key = self.jwt_signing_key.get_secret_value() if self.jwt_signing_key else None
        if self.jwt_jwks_url and key in (None, DEVELOPMENT_SIGNING_KEY):
            return self  # the provider's keys only
        if key == DEVELOPMENT_SIGNING_KEY:
            raise ValueError(
                "JWT_SIGNING_KEY is the development key: set JWT_JWKS_URL (and "
                "unset the key) or a real key outside development"
            )
        if not key and not self.jwt_jwks_url:
            raise ValueError("set JWT_JWKS_URL (or JWT_SIGNING_KEY) outside development")
        if key and len(key.encode()) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(
                f"JWT_SIGNING_KEY is weak: use at least {MIN_SIGNING_KEY_BYTES} "
                "random bytes (`python -m devtools.secrets` makes one)"
            )
        return self

    @field_validator("store_write_concern")
    @classmethod
    def _known_write_concern(cls, value: str) -> str:
        if value not in WRITE_CONCERNS:
            raise ValueError(f"STORE_WRITE_CONCERN is one of {', '.join(WRITE_CONCERNS)}")
        return value

    @field_validator("retry_delays_ms")
    @classmethod
    def _positive_delays(cls, delays: list[int]) -> list[int]:
        if not delays or any(d <= 0 for d in delays):
            raise ValueError("retry delays must be a non-empty list of positive milliseconds")
        return delays

    @property
    def database(self) -> str:
        """The MongoDB database this service owns."""
        return self.mongo_db or self.service_name

    @property
    def source(self) -> str:
        """The CloudEvents `source` of events this service publishes."""
        return f"/bureau/{self.service_name}"

    def _provider_keys_only(self, key: str | None) -> bool:
        return (
            bool(self.jwt_jwks_url)
            and key == DEVELOPMENT_SIGNING_KEY
            and self.environment != "development"
        )

    def token_verifier(self) -> TokenVerifier:
        """Verifies staff and frontend bearer tokens as these settings say."""
        key = self.jwt_signing_key.get_secret_value() if self.jwt_signing_key else None
        return TokenVerifier(
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            # beside a JWKS, a real shared key still verifies the tokens
            # the staff console mints for the person signed in
            signing_key=None if self._provider_keys_only(key) else key,
            jwks_url=self.jwt_jwks_url,
            max_ttl_s=None if self.environment == "development" else self.jwt_max_ttl_s,
        )

    def queue(self, suffix: str, service: str | None = None) -> str:
        """Name of one of this (or another) service's queues, e.g. `intake.events`."""
        return f"{self.queue_prefix}{service or self.service_name}.{suffix}"
