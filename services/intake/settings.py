from __future__ import annotations

from pydantic import SecretStr, model_validator

from shared.settings import ServiceSettings

DEVELOPMENT_CONTACT_KEY = "development-only-contact-hash-key"


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
    contact_hash_key: SecretStr = SecretStr(DEVELOPMENT_CONTACT_KEY)

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> IntakeSettings:
        if (self.environment != "development"
                and self.contact_hash_key.get_secret_value() == DEVELOPMENT_CONTACT_KEY):
            raise ValueError("set CONTACT_HASH_KEY: the development key is refused outside "
                             "development")
        return self
