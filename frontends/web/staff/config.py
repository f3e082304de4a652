"""How staff sign in: the `staff_sign_in:` section of deploy/district.yaml (claim names, the
provider's groups mapped to bureau roles, the idle timeout) and the settings from the
environment (the provider's issuer, this client's id and secret, the session secret)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import Role


class Claims(BaseModel):
    """Which claims of the provider's ID token (or userinfo) say what."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    groups: str = "groups"
    schools: str = "schools"
    teams: str = "teams"
    name: str = "name"


class OidcConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: str = "openid profile email"
    claims: Claims = Claims()
    groups: dict[str, list[Role]] = Field(
        default_factory=dict, description="the provider's group -> the bureau roles it gives"
    )


class StaffSignInConfig(BaseModel):
    """The `staff_sign_in:` section of the district file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    idle_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    oidc: OidcConfig = OidcConfig()

    def roles_for(self, groups: Any) -> list[str]:
        """The bureau roles a member of these groups holds (unknown groups give none)."""
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            return []
        roles = {role.value for g in groups for role in self.oidc.groups.get(str(g), [])}
        return sorted(roles)


class StaffSettings(BaseSettings):
    """The identity provider and the staff session (environment: OIDC_*, STAFF_SESSION_SECRET);
    the rest (environment, secrets for forms and tokens) comes from the web's settings."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    oidc_issuer: str | None = Field(
        default=None,
        description="the district's OpenID Connect provider (its "
        "/.well-known/openid-configuration is read); unset: no provider sign-in",
    )
    oidc_client_id: str = "bureau-staff-console"
    oidc_client_secret: SecretStr | None = None
    staff_session_secret: SecretStr | None = Field(
        default=None, description="signs the staff session cookie; defaults to FORM_SECRET"
    )
    staff_token_ttl_s: int = Field(
        default=600, ge=60, le=3600, description="life of the token the console sends"
    )
