"""Intake's section of the district configuration (`intake:` in deploy/district.yaml)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Open311Client(_Config):
    """An Open311 client allowed to file requests. Only the key's SHA-256 is configured, so
    the district file can be committed without secrets."""

    client: str = Field(description="who holds the key, e.g. `city-311-app`")
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


# The key deploy/district.yaml ships for development ("development-open311-key"): public, so
# never accepted outside development (Security #6).
EXAMPLE_KEY_SHA256 = hashlib.sha256(b"development-open311-key").hexdigest()


class Open311Config(_Config):
    jurisdiction_id: str | None = None
    clients: list[Open311Client] = Field(default_factory=list)
    unlisted_categories: list[str] = Field(
        default_factory=list,
        description="categories whose requests the public Open311 views never show",
    )

    def without_example_keys(self) -> Open311Config:
        """The clients, less any holding the published example key (outside development)."""
        return self.model_copy(update={"clients": [
            c for c in self.clients if c.key_sha256 != EXAMPLE_KEY_SHA256]})

    def client_for(self, api_key: str) -> str | None:
        """The client that holds `api_key`, if any (constant-time per configured key)."""
        presented = hashlib.sha256(api_key.encode()).hexdigest()
        found = None
        for client in self.clients:
            if hmac.compare_digest(presented, client.key_sha256):
                found = client.client
        return found


class IntakeConfig(_Config):
    public_staff_names: bool = Field(
        default=False,
        description="whether requesters see the name of the staff member who replied",
    )
    open311: Open311Config = Field(default_factory=Open311Config)
