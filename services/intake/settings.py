from __future__ import annotations

import base64
import hashlib

from pydantic import Field, SecretStr, model_validator

from services.intake.students import StudentVault, parse_key_ring
from shared.settings import ServiceSettings

DEVELOPMENT_CONTACT_KEY = "development-only-contact-hash-key"
DEVELOPMENT_ACCESS_KEY = "development-only-access-token-key"
DEVELOPMENT_STUDENT_HASH_KEY = "development-only-student-hash-key"
# 32 bytes derived from a public phrase: fine on one machine, refused in production.
DEVELOPMENT_STUDENT_KEY = base64.b64encode(
    hashlib.sha256(b"development-only-student-data-key").digest()
).decode()
DEVELOPMENT_STUDENT_KEYS = f'{{"dev": "{DEVELOPMENT_STUDENT_KEY}"}}'


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
    contact_hash_key: SecretStr = SecretStr(DEVELOPMENT_CONTACT_KEY)
    access_token_key: SecretStr = SecretStr(DEVELOPMENT_ACCESS_KEY)
    tracking_lookups_per_minute: int = Field(
        default=30, ge=1, description="requester-side calls per client address and minute"
    )
    tracking_block: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="tracking numbers a replica reserves at once (one store write per block); "
        "numbers left unused at a restart are skipped",
    )
    sms_updates: bool = Field(
        default=False,
        description="notify has an SMS provider (SMS_API_URL): a requester who "
        "leaves only a phone number is promised written updates",
    )
    idempotency_ttl_s: int = Field(
        default=24 * 3600, gt=0, description="how long an Idempotency-Key is remembered"
    )
    student_data_keys: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_STUDENT_KEYS),
        description='AES-GCM keys of student information: JSON {"k1": "<base64 of 32 bytes>"}; '
        "keep old keys until startup has re-sealed everything with the new one",
    )
    student_data_key_id: str = Field(
        default="dev", description="the key that seals new student information"
    )
    student_hash_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_STUDENT_HASH_KEY),
        description="HMAC key of student ids, to find one student's record of disclosures",
    )

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> IntakeSettings:
        self.student_vault()  # a malformed ring, or a current id it lacks, fails at startup
        if self.environment == "development":
            return self
        if self.contact_hash_key.get_secret_value() == DEVELOPMENT_CONTACT_KEY:
            raise ValueError(
                "set CONTACT_HASH_KEY: the development key is refused outside development"
            )
        if self.access_token_key.get_secret_value() == DEVELOPMENT_ACCESS_KEY:
            raise ValueError(
                "set ACCESS_TOKEN_KEY: the development key is refused outside development"
            )
        if self.student_hash_key.get_secret_value() == DEVELOPMENT_STUDENT_HASH_KEY:
            raise ValueError(
                "set STUDENT_HASH_KEY: the development key is refused outside development"
            )
        ring = parse_key_ring(self.student_data_keys.get_secret_value())
        if base64.b64decode(DEVELOPMENT_STUDENT_KEY) in ring.values():
            raise ValueError(
                "set STUDENT_DATA_KEYS: the development key is refused outside development"
            )
        return self

    def student_vault(self) -> StudentVault:
        """Seals and opens student information with the configured key ring."""
        return StudentVault(
            keys=parse_key_ring(self.student_data_keys.get_secret_value()),
            current=self.student_data_key_id,
            hash_key=self.student_hash_key.get_secret_value().encode(),
        )
