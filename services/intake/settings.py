from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings

DEVELOPMENT_CONTACT_KEY = "development-only-contact-hash-key"
DEVELOPMENT_ACCESS_KEY = "development-only-access-token-key"


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
    contact_hash_key: SecretStr = SecretStr(DEVELOPMENT_CONTACT_KEY)
    access_token_key: SecretStr = SecretStr(DEVELOPMENT_ACCESS_KEY)
    idempotency_ttl_s: int = Field(default=24 * 3600, gt=0,
                                   description="how long an Idempotency-Key is remembered")

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> IntakeSettings:
        if self.environment == "development":
            return self
        if self.contact_hash_key.get_secret_value() == DEVELOPMENT_CONTACT_KEY:
            raise ValueError("set CONTACT_HASH_KEY: the development key is refused outside "
                             "development")
        if self.access_token_key.get_secret_value() == DEVELOPMENT_ACCESS_KEY:
            raise ValueError("set ACCESS_TOKEN_KEY: the development key is refused outside "
                             "development")
        return self
