"""The web frontend's settings (environment variables), on top of every frontend's."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from frontends.common.settings import FrontendSettings
from shared.settings import DEFAULT_DISTRICT_CONFIG

DEVELOPMENT_FORM_SECRET = "development-only-web-form-secret"


class WebSettings(FrontendSettings):
    frontend_name: str = "web-frontend"
    port: int = 8000
    district_config: Path = DEFAULT_DISTRICT_CONFIG
    form_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_FORM_SECRET),
        description="signs CSRF tokens and the cookies that keep a family's tracking access",
    )
    submissions_per_hour: int = Field(
        default=10, ge=1, description="concerns one family address may submit"
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="proxies whose X-Forwarded-For gives the family's "
        "address (the district's load balancer)",
    )

    @model_validator(mode="after")
    def _no_development_secret(self) -> WebSettings:
        if (
            self.environment != "development"
            and self.form_secret.get_secret_value() == DEVELOPMENT_FORM_SECRET
        ):
            raise ValueError("set FORM_SECRET outside development")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.startswith("https://")


class LocalizedText(BaseModel):
    """A text in English and Spanish, and in each language a district adds (`hmn: ...`,
    beside its catalog under frontends/web/locales); English where a language lacks it."""

    model_config = ConfigDict(frozen=True, extra="allow")
    en: str
    es: str

    @model_validator(mode="after")
    def _texts(self) -> LocalizedText:
        for language, text in (self.model_extra or {}).items():
            if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", language) or not isinstance(
                text, str
            ):
                raise ValueError(f"{language}: a language code and its text")
        return self

    def get(self, language: str) -> str:
        if language in ("en", "es"):
            return str(getattr(self, language))
        return str((self.model_extra or {}).get(language) or self.en)


class WebConfig(BaseModel):
    """The `web:` section of deploy/district.yaml: what families see of the district."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_line: LocalizedText = LocalizedText(
        en="Customer Service Bureau: call 555-0100, Monday to Friday, 8 am to 5 pm.",
        es="Oficina de Atención al Público: llame al 555-0100, de lunes a viernes, "
        "de 8 a. m. a 5 p. m.",
    )
    phone: str = "555-0100"
    logo: str | None = Field(default=None, description="a file under frontends/web/static/")
