"""The phone front door's settings, from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from frontends.common.settings import FrontendSettings
from shared.settings import DEFAULT_DISTRICT_CONFIG


class PhoneSettings(FrontendSettings):
    frontend_name: str = "phone-frontend"
    port: int = 8006
    district_config: Path = DEFAULT_DISTRICT_CONFIG
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        description="the provider account's auth token: every webhook's "
        "X-Twilio-Signature is checked with it",
    )
    phone_public_url: str | None = Field(
        default=None,
        description="the address the provider calls, e.g. "
        "https://phone.district.example (behind a proxy, the "
        "signature covers this URL, not the one the app sees)",
    )

    @model_validator(mode="after")
    def _signed_outside_development(self) -> PhoneSettings:
        # empty (compose's `${TWILIO_AUTH_TOKEN:-}` with nothing set) is unset too
        if self.environment != "development" and not self.twilio_auth_token:
            raise ValueError(
                "set TWILIO_AUTH_TOKEN outside development: unsigned webhooks are refused"
            )
        return self
